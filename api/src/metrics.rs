//! Request counters and latencies, exposed at `/metrics` in the Prometheus
//! text format so any scraper can watch the platform's front door.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

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
    /// Records one finished request.
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
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
}
