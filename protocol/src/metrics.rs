//! What dispatchers count and report, so the api's `/metrics` can show the
//! work that never passes through HTTP: trigger events, pipeline runs and
//! finished jobs.
//!
//! Every dispatcher answers a request on `<prefix>.metrics.dispatcher` (a
//! plain subscription, not a queue group, so all of them answer) with its
//! own [`DispatcherCounters`]; the api gathers the answers that arrive
//! within a short wait and renders them with a `dispatcher` label.

use serde::{Deserialize, Serialize};

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
