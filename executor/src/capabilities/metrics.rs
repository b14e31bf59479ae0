//! Capability metrics: calls, errors and bytes per capability and
//! operation, so an operator sees what functions do with their grants.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use protocol::Capability;

type Labels = [(&'static str, &'static str); 2];

/// The capability metric families.
#[derive(Debug, Default)]
pub struct CapabilityMetrics {
    calls: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    bytes: Family<Labels, Counter>,
}

impl CapabilityMetrics {
    /// The families, registered in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "faas_capability_calls",
            "Host capability calls by guests, by capability (keyvalue, blobstore, messaging) and operation",
            metrics.calls.clone(),
        );
        registry.register(
            "faas_capability_errors",
            "Host capability calls that answered the guest an error, by capability and operation",
            metrics.errors.clone(),
        );
        registry.register(
            "faas_capability_bytes",
            "Bytes moved by host capability calls, by capability and direction (read, written)",
            metrics.bytes.clone(),
        );
        metrics
    }

    /// One call of `operation` (e.g. `get`, `increment`, `publish`).
    pub fn call(&self, capability: Capability, operation: &'static str) {
        self.calls.get_or_create(&[("capability", capability.as_str()), ("operation", operation)]).inc();
    }

    /// One call of `operation` answered the guest an error.
    pub fn error(&self, capability: Capability, operation: &'static str) {
        self.errors.get_or_create(&[("capability", capability.as_str()), ("operation", operation)]).inc();
    }

    /// `bytes` moved in `direction` (`read` or `written`).
    pub fn bytes(&self, capability: Capability, direction: &'static str, bytes: u64) {
        self.bytes
            .get_or_create(&[("capability", capability.as_str()), ("direction", direction)])
            .inc_by(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_errors_and_bytes_are_exported_by_capability() {
        let mut registry = Registry::default();
        let metrics = CapabilityMetrics::new(&mut registry);
        metrics.call(Capability::KeyValue, "increment");
        metrics.call(Capability::KeyValue, "increment");
        metrics.error(Capability::Messaging, "publish");
        metrics.bytes(Capability::Blobstore, "written", 42);
        let text = bus::metrics::encode(&registry);
        for line in [
            r#"faas_capability_calls_total{capability="keyvalue",operation="increment"} 2"#,
            r#"faas_capability_errors_total{capability="messaging",operation="publish"} 1"#,
            r#"faas_capability_bytes_total{capability="blobstore",direction="written"} 42"#,
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
    }
}
