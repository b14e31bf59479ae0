//! Request counters and latencies, exposed at `/metrics` in the Prometheus
//! text format so any scraper can watch the platform's front door.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use protocol::metrics::{Count, DispatcherCounters};

/// The methods counted under their own name.
const KNOWN_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];

/// Per route and status: how many requests and how long they took.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Series {
    count: u64,
    seconds: f64,
}

impl Metrics {
    /// Records one finished request. `route` is a route template (or
    /// `unmatched`), never a raw path, and a method the api does not know is
    /// counted as `other`, so no client can grow the label sets.
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = KNOWN_METHODS.into_iter().find(|known| *known == method).unwrap_or("other");
        let mut series = self.series.lock().expect("metrics lock is never poisoned");
        let entry = series.entry((method.to_owned(), route.to_owned(), status)).or_default();
        entry.count += 1;
        entry.seconds += elapsed.as_secs_f64();
    }

    /// The Prometheus exposition text.
    pub fn render(&self) -> String {
        let series = self.series.lock().expect("metrics lock is never poisoned");
        let mut out = String::new();
        out.push_str("# HELP faas_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE faas_http_requests_total counter\n");
        for ((method, route, status), s) in series.iter() {
            let _ = writeln!(
                out,
                "faas_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP faas_http_request_seconds_sum Time spent answering, by route and status.\n");
        out.push_str("# TYPE faas_http_request_seconds_sum counter\n");
        for ((method, route, status), s) in series.iter() {
            let _ = writeln!(
                out,
                "faas_http_request_seconds_sum{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {:.6}",
                s.seconds
            );
        }
        out
    }
}

/// One counter family of the dispatchers' reports.
struct Family {
    name: &'static str,
    help: &'static str,
    name_label: &'static str,
    outcome_label: &'static str,
    counts: fn(&DispatcherCounters) -> &[Count],
}

const DISPATCHER_FAMILIES: [Family; 4] = [
    Family {
        name: "faas_trigger_events_total",
        help: "Trigger events handled.",
        name_label: "trigger",
        outcome_label: "outcome",
        counts: |r| &r.trigger_events,
    },
    Family {
        name: "faas_pipeline_runs_total",
        help: "Pipeline runs.",
        name_label: "pipeline",
        outcome_label: "outcome",
        counts: |r| &r.pipeline_runs,
    },
    Family {
        name: "faas_jobs_finished_total",
        help: "Jobs finished for good.",
        name_label: "target",
        outcome_label: "status",
        counts: |r| &r.jobs_finished,
    },
    Family {
        name: "faas_callbacks_total",
        help: "Job callback deliveries ended: delivered, or failed for good.",
        name_label: "target",
        outcome_label: "outcome",
        counts: |r| &r.callbacks,
    },
];

/// The dispatchers' counters in the Prometheus text format, one series per
/// dispatcher (label `dispatcher`), so work that never passed through HTTP
/// (trigger events, pipeline runs over NATS, jobs) shows up too.
pub fn render_dispatchers(reports: &[DispatcherCounters]) -> String {
    let mut out = String::new();
    out.push_str("# HELP faas_dispatchers_reporting Dispatchers that answered this scrape.\n");
    out.push_str("# TYPE faas_dispatchers_reporting gauge\n");
    let _ = writeln!(out, "faas_dispatchers_reporting {}", reports.len());
    for family in DISPATCHER_FAMILIES {
        let Family { name, help, name_label, outcome_label, counts } = family;
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for report in reports {
            for count in counts(report) {
                let _ = writeln!(
                    out,
                    "{name}{{dispatcher=\"{}\",{name_label}=\"{}\",{outcome_label}=\"{}\"}} {}",
                    report.dispatcher, count.name, count.outcome, count.count
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_per_route_and_status() {
        let metrics = Metrics::default();
        metrics.record("POST", "/exec/{bucket}/{function}", 200, Duration::from_millis(2));
        metrics.record("POST", "/exec/{bucket}/{function}", 200, Duration::from_millis(3));
        metrics.record("POST", "/exec/{bucket}/{function}", 504, Duration::from_secs(1));
        let text = metrics.render();
        assert!(text.contains(
            "faas_http_requests_total{method=\"POST\",route=\"/exec/{bucket}/{function}\",status=\"200\"} 2"
        ));
        assert!(text.contains("status=\"504\"} 1"));
        assert!(text.contains("faas_http_request_seconds_sum{method=\"POST\",route=\"/exec/{bucket}/{function}\",status=\"200\"} 0.005000"));
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
    fn renders_each_dispatchers_counters_with_its_id() {
        let count =
            |name: &str, outcome: &str, count| Count { name: name.into(), outcome: outcome.into(), count };
        let reports = [
            DispatcherCounters {
                dispatcher: "d1".into(),
                trigger_events: vec![count("greet", "ok", 3)],
                jobs_finished: vec![count("pipeline/p", "failed", 1)],
                callbacks: vec![count("functions/hello", "delivered", 2)],
                ..Default::default()
            },
            DispatcherCounters {
                dispatcher: "d2".into(),
                trigger_events: vec![count("greet", "ok", 4)],
                ..Default::default()
            },
        ];
        let text = render_dispatchers(&reports);
        assert!(text.contains("faas_dispatchers_reporting 2"));
        assert!(
            text.contains("faas_trigger_events_total{dispatcher=\"d1\",trigger=\"greet\",outcome=\"ok\"} 3")
        );
        assert!(
            text.contains("faas_trigger_events_total{dispatcher=\"d2\",trigger=\"greet\",outcome=\"ok\"} 4")
        );
        assert!(text.contains(
            "faas_jobs_finished_total{dispatcher=\"d1\",target=\"pipeline/p\",status=\"failed\"} 1"
        ));
        assert!(text.contains(
            "faas_callbacks_total{dispatcher=\"d1\",target=\"functions/hello\",outcome=\"delivered\"} 2"
        ));
        assert_eq!(text.matches("# TYPE faas_trigger_events_total counter").count(), 1);
    }
}
