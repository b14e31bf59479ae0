//! What executors and dispatchers report about themselves, so the api's
//! `/ready` and `/metrics` can show every instance and the work that never
//! passes through HTTP: trigger events, pipeline runs and finished jobs.
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
    /// [`crate::subjects::PONG`] while every part runs, else
    /// [`crate::subjects::DEGRADED`] and what stopped.
    pub health: String,
    /// Its counters since it started.
    pub counters: DispatcherCounters,
}

/// One dispatcher's counters since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatcherCounters {
    /// The dispatcher's instance id.
    pub dispatcher: String,
    /// Trigger events handled, by trigger and outcome.
    pub trigger_events: Vec<Count>,
    /// Pipeline runs, by pipeline and outcome.
    pub pipeline_runs: Vec<Count>,
    /// Jobs finished for good, by target and final status.
    pub jobs_finished: Vec<Count>,
    /// Callback deliveries ended, by job target and `delivered` or `failed`.
    #[serde(default)]
    pub callbacks: Vec<Count>,
}

/// A counter value for one name and outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// The trigger, pipeline or job target.
    pub name: String,
    /// `ok` or an error code (triggers, pipelines), `succeeded` or `failed` (jobs).
    pub outcome: String,
    /// How many.
    pub count: u64,
}
