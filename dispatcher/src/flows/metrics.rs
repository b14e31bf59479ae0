//! Counters of the work a dispatcher moves (trigger events, pipeline runs,
//! finished jobs, callbacks), reported in the dispatcher's service stats
//! for the api's `/metrics`.
//!
//! Names come from the bus (a job may name any function, a pipeline request
//! any pipeline), so each family keeps at most [`MAX_SERIES`] series; later
//! names are counted together under [`OTHER`], and the label sets stay
//! bounded whatever callers send.

use std::collections::BTreeMap;
use std::sync::Mutex;

use protocol::metrics::{Count, DispatcherCounters};

/// This dispatcher's counters since it started.
#[derive(Debug, Default)]
pub struct FlowMetrics {
    trigger_events: Mutex<BTreeMap<(String, String), u64>>,
    pipeline_runs: Mutex<BTreeMap<(String, String), u64>>,
    jobs_finished: Mutex<BTreeMap<(String, String), u64>>,
    callbacks: Mutex<BTreeMap<(String, String), u64>>,
}

impl FlowMetrics {
    /// One trigger event handled, `ok` or with an error code.
    pub fn trigger_event(&self, trigger: &str, outcome: &str) {
        bump(&self.trigger_events, trigger, outcome);
    }

    /// One pipeline run finished, `ok` or with an error code.
    pub fn pipeline_run(&self, pipeline: &str, outcome: &str) {
        bump(&self.pipeline_runs, pipeline, outcome);
    }

    /// One job finished for good, `succeeded` or `failed`.
    pub fn job_finished(&self, target: &str, status: &str) {
        bump(&self.jobs_finished, target, status);
    }

    /// One callback delivery ended, `delivered` or `failed` (for good).
    pub fn callback(&self, target: &str, outcome: &str) {
        bump(&self.callbacks, target, outcome);
    }

    /// The counters as reported on the bus.
    pub fn snapshot(&self, dispatcher: &str) -> DispatcherCounters {
        DispatcherCounters {
            dispatcher: dispatcher.to_owned(),
            trigger_events: counts(&self.trigger_events),
            pipeline_runs: counts(&self.pipeline_runs),
            jobs_finished: counts(&self.jobs_finished),
            callbacks: counts(&self.callbacks),
        }
    }
}

/// Series per family at most.
pub const MAX_SERIES: usize = 1000;

/// The name counted for everything beyond [`MAX_SERIES`].
pub const OTHER: &str = "(other)";

fn bump(map: &Mutex<BTreeMap<(String, String), u64>>, name: &str, outcome: &str) {
    let mut map = map.lock().expect("metrics lock");
    let mut key = (name.to_owned(), outcome.to_owned());
    if map.len() >= MAX_SERIES && !map.contains_key(&key) {
        key.0 = OTHER.to_owned();
    }
    *map.entry(key).or_default() += 1;
}

fn counts(map: &Mutex<BTreeMap<(String, String), u64>>) -> Vec<Count> {
    let map = map.lock().expect("metrics lock");
    map.iter()
        .map(|((name, outcome), count)| Count { name: name.clone(), outcome: outcome.clone(), count: *count })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_name_and_outcome() {
        let metrics = FlowMetrics::default();
        metrics.trigger_event("greet", "ok");
        metrics.trigger_event("greet", "ok");
        metrics.trigger_event("greet", "function_trapped");
        metrics.job_finished("functions/hello", "succeeded");
        let snapshot = metrics.snapshot("d1");
        assert_eq!(snapshot.dispatcher, "d1");
        assert_eq!(
            snapshot.trigger_events,
            vec![
                Count { name: "greet".into(), outcome: "function_trapped".into(), count: 1 },
                Count { name: "greet".into(), outcome: "ok".into(), count: 2 },
            ]
        );
        assert!(snapshot.pipeline_runs.is_empty());
        assert_eq!(snapshot.jobs_finished.len(), 1);
    }

    #[test]
    fn series_are_bounded_whatever_names_come() {
        let metrics = FlowMetrics::default();
        for i in 0..MAX_SERIES + 50 {
            metrics.job_finished(&format!("b/f{i}"), "failed");
        }
        metrics.job_finished("b/f0", "failed");
        let jobs = metrics.snapshot("d").jobs_finished;
        assert_eq!(jobs.len(), MAX_SERIES + 1);
        let other = jobs.iter().find(|c| c.name == OTHER).expect("an overflow series");
        assert_eq!(other.count, 50);
        assert_eq!(jobs.iter().find(|c| c.name == "b/f0").unwrap().count, 2);
    }
}
