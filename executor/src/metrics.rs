//! The executor's Prometheus metrics (`prometheus-client`), served on
//! `--metrics-listen`: calls by function, outcome and cache source and
//! their durations, cold starts and compile times, calls in flight against
//! the slots, how often the executor left its queue group because it
//! was full, the pipeline runs it took, and the call logs it dropped.
//!
//! Function and pipeline names come from the bus, so they are capped
//! (`--metrics-max-functions`): later ones are counted as `(other)`.
//!
//! A call is counted on the warm path, so its labels cost no allocation:
//! each function's label value is made once and shared ([`Arc<str>`]), and
//! the outcome and cache labels are static strings.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bus::metrics::{CALL_BUCKETS, COMPILE_BUCKETS, LabelCap, OTHER};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use protocol::FunctionRef;

/// Labels of the pipeline families: made per run, off the per-call path.
type Labels<const N: usize> = [(&'static str, String); N];

/// Labels of `faas_exec_calls`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    function: Arc<str>,
    outcome: &'static str,
    cache: &'static str,
}

/// Labels of `faas_exec_call_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    function: Arc<str>,
    cache: &'static str,
}

/// Labels of `faas_exec_cold_starts`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ColdStartLabels {
    function: Arc<str>,
    source: &'static str,
}

/// Each function's label value, made once: the first `max` functions keep
/// their `<bucket>/<function>`, later ones share `(other)`.
#[derive(Debug)]
struct FunctionLabels {
    max: usize,
    known: RwLock<HashMap<FunctionRef, Arc<str>>>,
    other: Arc<str>,
}

impl FunctionLabels {
    fn new(max: usize) -> Self {
        Self { max, known: RwLock::default(), other: Arc::from(OTHER) }
    }

    fn label(&self, function: &FunctionRef) -> Arc<str> {
        {
            let known = self.known.read().expect("labels lock");
            if let Some(label) = known.get(function) {
                return label.clone();
            }
            // Past the cap, every later function is `(other)`: no write lock.
            if known.len() >= self.max {
                return self.other.clone();
            }
        }
        let mut known = self.known.write().expect("labels lock");
        if let Some(label) = known.get(function) {
            return label.clone();
        }
        if known.len() >= self.max {
            return self.other.clone();
        }
        let label: Arc<str> = Arc::from(function.to_string());
        known.insert(function.clone(), label.clone());
        label
    }
}

/// The `cache` label of a call that failed before a component was loaded
/// (no such function, bad input, S3 unreachable).
pub const NOT_LOADED: &str = "none";

/// The executor's metric families.
#[derive(Debug)]
pub struct ExecutorMetrics {
    functions: FunctionLabels,
    calls: Family<CallLabels, Counter>,
    durations: Family<DurationLabels, Histogram>,
    cold_starts: Family<ColdStartLabels, Counter>,
    compiles: Histogram,
    /// Calls running now.
    pub in_flight: Gauge,
    /// Calls accepted and waiting for a slot.
    pub waiting: Gauge,
    queue_group_leaves: Counter,
    queue_group_joins: Counter,
    pipelines: LabelCap,
    pipeline_runs: Family<Labels<2>, Counter>,
    pipeline_durations: Family<Labels<1>, Histogram>,
    /// Call logs dropped because the batcher's queue was full.
    pub call_logs_dropped: Counter,
}

impl ExecutorMetrics {
    /// The families, registered in `registry`; `slots` and `backlog` are
    /// the configured limits, exported as gauges beside what uses them.
    pub fn new(registry: &mut Registry, max_functions: usize, slots: usize, backlog: usize) -> Self {
        bus::metrics::register_build_info(registry, "executor");
        let calls = Family::default();
        registry.register(
            "faas_exec_calls",
            "Calls run, by function, outcome (ok or the error code) and cache source \
             (memory, artifact, compiled; none when it failed before loading)",
            calls.clone(),
        );
        let durations: Family<DurationLabels, Histogram> =
            Family::new_with_constructor(|| Histogram::new(CALL_BUCKETS));
        registry.register(
            "faas_exec_call_duration_seconds",
            "Time from a call's start (a slot taken) to its reply, loading included, by function and cache source",
            durations.clone(),
        );
        let cold_starts = Family::default();
        registry.register(
            "faas_exec_cold_starts",
            "Calls whose component was not in memory, by function and where it came from (artifact or compiled)",
            cold_starts.clone(),
        );
        let compiles = Histogram::new(COMPILE_BUCKETS);
        registry.register(
            "faas_exec_compile_duration_seconds",
            "Time compiling a component after a cache miss without a usable artifact",
            compiles.clone(),
        );
        let in_flight = Gauge::default();
        registry.register("faas_exec_calls_in_flight", "Calls running now", in_flight.clone());
        let waiting = Gauge::default();
        registry.register(
            "faas_exec_calls_waiting",
            "Calls accepted and waiting for a slot",
            waiting.clone(),
        );
        let slot_gauge = Gauge::<i64>::default();
        slot_gauge.set(i64::try_from(slots).unwrap_or(i64::MAX));
        registry.register("faas_exec_slots", "Calls this executor runs at once at most", slot_gauge);
        let backlog_gauge = Gauge::<i64>::default();
        backlog_gauge.set(i64::try_from(backlog).unwrap_or(i64::MAX));
        registry.register(
            "faas_exec_backlog_slots",
            "Calls accepted beyond the slots before the executor leaves its queue group",
            backlog_gauge,
        );
        let queue_group_leaves = Counter::default();
        registry.register(
            "faas_exec_queue_group_leaves",
            "Times the executor left the executors' queue group because it was full",
            queue_group_leaves.clone(),
        );
        let queue_group_joins = Counter::default();
        registry.register(
            "faas_exec_queue_group_rejoins",
            "Times the executor joined the queue group again once a place freed",
            queue_group_joins.clone(),
        );
        let pipeline_runs = Family::default();
        registry.register(
            "faas_pipeline_runs",
            "Pipeline runs, by pipeline and outcome (ok or the error code)",
            pipeline_runs.clone(),
        );
        let pipeline_durations: Family<Labels<1>, Histogram> =
            Family::new_with_constructor(|| Histogram::new(CALL_BUCKETS));
        registry.register(
            "faas_pipeline_run_duration_seconds",
            "Time to run a pipeline's steps, by pipeline",
            pipeline_durations.clone(),
        );
        let call_logs_dropped = Counter::default();
        registry.register(
            "faas_call_logs_dropped",
            "Call logs not published: the queue to the log batcher was full or stopped, or their batch could not be published (logs are best effort)",
            call_logs_dropped.clone(),
        );
        Self {
            functions: FunctionLabels::new(max_functions),
            calls,
            durations,
            cold_starts,
            compiles,
            in_flight,
            waiting,
            queue_group_leaves,
            queue_group_joins,
            pipelines: LabelCap::new(max_functions),
            pipeline_runs,
            pipeline_durations,
            call_logs_dropped,
        }
    }

    /// One pipeline run finished, `ok` or with an error code, in `elapsed`.
    pub fn pipeline_run(&self, pipeline: &str, outcome: &str, elapsed: Duration) {
        let pipeline = self.pipelines.label(pipeline);
        self.pipeline_durations
            .get_or_create(&[("pipeline", pipeline.clone())])
            .observe(elapsed.as_secs_f64());
        self.pipeline_runs.get_or_create(&[("pipeline", pipeline), ("outcome", outcome.to_owned())]).inc();
    }

    /// One call of `function` ended. `outcome` is `ok` or an error code,
    /// `cache` the cache source or [`NOT_LOADED`].
    pub fn call(
        &self,
        function: &FunctionRef,
        outcome: &'static str,
        cache: &'static str,
        elapsed: Duration,
    ) {
        let function = self.functions.label(function);
        self.calls.get_or_create(&CallLabels { function: function.clone(), outcome, cache }).inc();
        self.durations.get_or_create(&DurationLabels { function, cache }).observe(elapsed.as_secs_f64());
    }

    /// A component was loaded from `source` (artifact or compiled), compiled
    /// in `compile` if it was.
    pub fn cold_start(&self, function: &FunctionRef, source: &'static str, compile: Option<Duration>) {
        let function = self.functions.label(function);
        self.cold_starts.get_or_create(&ColdStartLabels { function, source }).inc();
        if let Some(compile) = compile {
            self.compiles.observe(compile.as_secs_f64());
        }
    }

    /// The executor left its queue group.
    pub fn left_queue_group(&self) {
        self.queue_group_leaves.inc();
    }

    /// The executor joined its queue group again.
    pub fn rejoined_queue_group(&self) {
        self.queue_group_joins.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_beyond_the_cap_are_counted_as_other() {
        let mut registry = Registry::default();
        let metrics = ExecutorMetrics::new(&mut registry, 2, 4, 8);
        for function in ["bk1/one", "bk1/two", "bk1/three", "bk1/four", "bk1/one"] {
            let function: FunctionRef = function.parse().unwrap();
            metrics.call(&function, "ok", "memory", Duration::from_millis(1));
        }
        let text = bus::metrics::encode(&registry);
        let series =
            |f: &str| format!("faas_exec_calls_total{{function=\"{f}\",outcome=\"ok\",cache=\"memory\"}}");
        assert!(text.contains(&format!("{} 2", series("bk1/one"))), "{text}");
        assert!(text.contains(&format!("{} 1", series("bk1/two"))), "{text}");
        assert!(text.contains(&format!("{} 2", series("(other)"))), "{text}");
        assert!(!text.contains("bk1/three") && !text.contains("bk1/four"), "{text}");
        assert!(text.contains("faas_exec_slots 4"), "{text}");
        assert!(text.contains("faas_exec_backlog_slots 8"), "{text}");
        metrics.pipeline_run("p", "function_trapped", Duration::from_millis(3));
        let run = "faas_pipeline_runs_total{pipeline=\"p\",outcome=\"function_trapped\"} 1";
        let text = bus::metrics::encode(&registry);
        assert!(text.contains(run), "{text}");
    }
}
