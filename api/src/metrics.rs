//! The api's Prometheus metrics (`prometheus-client`), served at `/metrics`:
//! requests by route, method and status, their durations, requests in
//! flight, and job submissions.
//!
//! Executors and dispatchers are scraped on their own (`--metrics-listen`):
//! the api does not gather their counters, so each series belongs to the
//! process that counted it and a restart is an ordinary counter reset.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use axum::extract::MatchedPath;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The methods counted under their own name.
const KNOWN_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];

type Labels<const N: usize> = [(&'static str, String); N];

/// The route label: a route template, `unmatched`, or (tests) any name.
///
/// Every request is counted, so its labels are built without allocating:
/// a matched route's template is the router's own `Arc<str>` (cloning a
/// [`MatchedPath`] is a reference count), the method and status are
/// static strings and a number.
#[derive(Debug, Clone)]
pub enum Route {
    /// The template the router matched.
    Matched(MatchedPath),
    /// No route matched.
    Unmatched,
    /// A template named by a unit test (the api only records matched
    /// templates and `unmatched`).
    #[cfg(test)]
    Named(std::sync::Arc<str>),
}

impl Route {
    /// The label value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Matched(path) => path.as_str(),
            Self::Unmatched => "unmatched",
            #[cfg(test)]
            Self::Named(name) => name,
        }
    }
}

#[cfg(test)]
impl From<&str> for Route {
    fn from(name: &str) -> Self {
        Self::Named(name.into())
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// Labels of `faas_http_requests`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Route,
    status: u16,
}

/// Labels of `faas_http_request_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    method: &'static str,
    route: Route,
}

/// The api's metric families and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram>,
    in_flight: Gauge,
    jobs_submitted: Family<Labels<1>, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        bus::metrics::register_build_info(&mut registry, "api");
        let requests = Family::default();
        registry.register(
            "faas_http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let durations: Family<DurationLabels, Histogram> =
            Family::new_with_constructor(|| Histogram::new(bus::metrics::CALL_BUCKETS));
        registry.register(
            "faas_http_request_duration_seconds",
            "Time from a request's arrival to its response headers, by method and route template",
            durations.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "faas_http_requests_in_flight",
            "HTTP requests being answered now",
            in_flight.clone(),
        );
        let jobs_submitted = Family::default();
        registry.register(
            "faas_jobs_submitted",
            "Asynchronous jobs submitted over HTTP: accepted, duplicate (an idempotent retry) or the error code",
            jobs_submitted.clone(),
        );
        Self { registry, requests, durations, in_flight, jobs_submitted }
    }
}

impl Metrics {
    /// A request started; the returned guard counts it in flight until dropped.
    pub fn start(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Records one finished request. `route` is a route template (or
    /// `unmatched`), never a raw path, and a method the api does not know is
    /// counted as `other`, so no client can grow the label sets.
    pub fn record(&self, method: &str, route: impl Into<Route>, status: u16, elapsed: Duration) {
        let method = KNOWN_METHODS.into_iter().find(|known| *known == method).unwrap_or("other");
        let route = route.into();
        let labels = RequestLabels { method, route, status };
        self.requests.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&DurationLabels { method, route: labels.route })
            .observe(elapsed.as_secs_f64());
    }

    /// One job submission ended: `accepted`, `duplicate` or an error code.
    pub fn job_submitted(&self, outcome: &str) {
        self.jobs_submitted.get_or_create(&[("outcome", outcome.to_owned())]).inc();
    }

    /// The Prometheus exposition text.
    pub fn render(&self) -> String {
        bus::metrics::encode(&self.registry)
    }
}

/// A request in flight; see [`Metrics::start`].
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_per_route_and_status_and_a_histogram() {
        let metrics = Metrics::default();
        metrics.record("POST", "/exec/{bucket}/{function}", 200, Duration::from_millis(2));
        metrics.record("POST", "/exec/{bucket}/{function}", 200, Duration::from_millis(3));
        metrics.record("POST", "/exec/{bucket}/{function}", 504, Duration::from_secs(1));
        let text = metrics.render();
        assert!(text.contains("# TYPE faas_http_requests_total counter"), "{text}");
        assert!(text.contains(
            "faas_http_requests_total{method=\"POST\",route=\"/exec/{bucket}/{function}\",status=\"200\"} 2"
        ));
        assert!(text.contains("status=\"504\"} 1"));
        assert!(text.contains("# TYPE faas_http_request_duration_seconds histogram"), "{text}");
        let series =
            "faas_http_request_duration_seconds_count{method=\"POST\",route=\"/exec/{bucket}/{function}\"} 3";
        assert!(text.contains(series), "{text}");
        let bucket = "faas_http_request_duration_seconds_bucket{method=\"POST\",route=\"/exec/{bucket}/{function}\",le=\"0.0025\"} 1";
        assert!(text.contains(bucket), "{text}");
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let metrics = Metrics::default();
        for method in ["BREW", "PROPFIND", "get"] {
            metrics.record(method, "unmatched", 404, Duration::from_millis(1));
        }
        let text = metrics.render();
        assert!(
            text.contains("faas_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 3")
        );
        assert!(!text.contains("BREW"));
    }

    #[test]
    fn requests_in_flight_go_up_and_down() {
        let metrics = Metrics::default();
        let first = metrics.start();
        let _second = metrics.start();
        assert!(metrics.render().contains("faas_http_requests_in_flight 2"));
        drop(first);
        assert!(metrics.render().contains("faas_http_requests_in_flight 1"));
    }
}
