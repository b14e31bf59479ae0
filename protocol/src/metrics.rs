//! What executors and dispatchers report about themselves in their service
//! stats, so the api's `/ready` (and `nats micro stats`) can show every
//! instance and its health. Their counters are Prometheus metrics, served
//! by each process on its own `--metrics-listen`.
//!
//! Both roles are NATS micro services; the `data` of their `ping`
//! endpoint's stats (`$SRV.STATS.<service name>`, which every instance
//! answers) is an [`ExecutorStatus`] or a [`DispatcherStatus`]. The api
//! gathers the answers that arrive within a short wait.

use serde::{Deserialize, Serialize};

/// What an executor adds to its service stats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorStatus {
    /// The executor's instance id.
    pub executor: String,
    /// Calls it runs at once at most.
    pub concurrency: usize,
    /// Calls running now.
    pub in_flight: usize,
}

/// What a dispatcher adds to its service stats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatcherStatus {
    /// The dispatcher's instance id.
    #[serde(default)]
    pub dispatcher: String,
    /// [`crate::subjects::PONG`] while every part runs, else
    /// [`crate::subjects::DEGRADED`] and what stopped.
    pub health: String,
}
