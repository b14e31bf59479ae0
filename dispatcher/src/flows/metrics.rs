//! The dispatcher's Prometheus metrics (`prometheus-client`), served on
//! `--metrics-listen`: the work it moves (trigger events and the ones it
//! refused, schedule ticks, jobs submitted by triggers,
//! finished, retried, dead-lettered and rejected, callbacks) and the depth
//! of the job stores, read from JetStream on each scrape.
//!
//! Names come from the bus (a job may name any function or pipeline), so each kind of name passes a [`LabelCap`]
//! (`--metrics-max-functions`): later names are counted as `(other)`, and
//! the label sets stay bounded whatever callers send.

use bus::metrics::LabelCap;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels<const N: usize> = [(&'static str, String); N];
type Counters<const N: usize> = Family<Labels<N>, Counter>;

/// This dispatcher's counters since it started.
#[derive(Debug)]
pub struct FlowMetrics {
    triggers: LabelCap,
    targets: LabelCap,
    trigger_events: Counters<2>,
    trigger_drops: Counters<2>,
    schedule_ticks: Counters<2>,
    jobs_submitted: Counters<1>,
    jobs_finished: Counters<2>,
    jobs_retried: Counters<2>,
    jobs_dead_lettered: Counters<1>,
    jobs_rejected: Counter,
    callbacks: Counters<2>,
    /// Messages in the job queue stream (waiting or running).
    pub jobs_queued: Gauge,
    /// Messages in the dead-letter stream.
    pub dead_letters: Gauge,
    /// Callback deliveries waiting to be sent.
    pub callbacks_queued: Gauge,
    /// 1 while a part of the dispatcher has stopped.
    pub degraded: Gauge,
}

impl FlowMetrics {
    /// The families, registered in `registry`; each kind of name keeps at
    /// most `max_names` label values of its own.
    pub fn new(registry: &mut Registry, max_names: usize) -> Self {
        bus::metrics::register_build_info(registry, "dispatcher");
        let mut counters = |name: &str, help: &str| {
            let family: Counters<2> = Family::default();
            registry.register(name, help, family.clone());
            family
        };
        let trigger_events = counters(
            "faas_trigger_events",
            "Trigger events handled, by trigger and outcome (ok or the error code)",
        );
        let trigger_drops = counters(
            "faas_trigger_events_dropped",
            "Trigger events refused without running, by trigger and reason: unavailable (the \
             dispatcher was full), hop_limit_exceeded, fan_out_exceeded",
        );
        let schedule_ticks = counters(
            "faas_schedule_ticks",
            "Ticks of scheduled triggers this dispatcher claimed, by trigger and outcome: published, \
             or skipped (reached too late, or the claim failed)",
        );
        let jobs_finished = counters(
            "faas_jobs_finished",
            "Jobs finished for good, by target and status (succeeded or failed)",
        );
        let jobs_retried = counters(
            "faas_jobs_retried",
            "Job attempts that failed with a retryable error and were put back, by target and error code",
        );
        let callbacks = counters(
            "faas_callbacks",
            "Job callback deliveries ended, by job target and outcome (delivered, or failed for good)",
        );
        let jobs_submitted = Family::default();
        registry.register(
            "faas_jobs_submitted",
            "Jobs submitted by async triggers: accepted, duplicate (a publisher's retry) or the error code",
            jobs_submitted.clone(),
        );
        let jobs_dead_lettered = Family::default();
        registry.register(
            "faas_jobs_dead_lettered",
            "Failed jobs whose input was kept for re-driving, by target",
            jobs_dead_lettered.clone(),
        );
        let jobs_rejected = Counter::default();
        registry.register(
            "faas_jobs_rejected",
            "Messages on the jobs stream terminated instead of run (and reported on the jobs errors subject)",
            jobs_rejected.clone(),
        );
        let mut gauge = |name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let jobs_queued = gauge(
            "faas_jobs_queued",
            "Jobs in the job queue stream, waiting or running (the same for every dispatcher: read \
             from JetStream at each scrape)",
        );
        let dead_letters = gauge("faas_jobs_dead_letters", "Inputs of failed jobs kept for re-driving");
        let callbacks_queued = gauge("faas_callbacks_queued", "Callback deliveries waiting to be sent");
        let degraded = gauge(
            "faas_dispatcher_degraded",
            "1 when this dispatcher's job worker, trigger router or callback sender stopped",
        );
        Self {
            triggers: LabelCap::new(max_names),
            targets: LabelCap::new(max_names),
            trigger_events,
            trigger_drops,
            schedule_ticks,
            jobs_submitted,
            jobs_finished,
            jobs_retried,
            jobs_dead_lettered,
            jobs_rejected,
            callbacks,
            jobs_queued,
            dead_letters,
            callbacks_queued,
            degraded,
        }
    }

    /// One trigger event handled, `ok` or with an error code.
    pub fn trigger_event(&self, trigger: &str, outcome: &str) {
        let trigger = self.triggers.label(trigger);
        self.trigger_events.get_or_create(&[("trigger", trigger), ("outcome", outcome.to_owned())]).inc();
    }

    /// One trigger event refused before it ran.
    pub fn trigger_dropped(&self, trigger: &str, reason: &str) {
        let trigger = self.triggers.label(trigger);
        self.trigger_drops.get_or_create(&[("trigger", trigger), ("reason", reason.to_owned())]).inc();
    }

    /// One tick this dispatcher claimed: `published` or `skipped`.
    pub fn schedule_tick(&self, trigger: &str, outcome: &str) {
        let trigger = self.triggers.label(trigger);
        self.schedule_ticks.get_or_create(&[("trigger", trigger), ("outcome", outcome.to_owned())]).inc();
    }

    /// An async trigger submitted a job: `accepted`, `duplicate` or an error code.
    pub fn job_submitted(&self, outcome: &str) {
        self.jobs_submitted.get_or_create(&[("outcome", outcome.to_owned())]).inc();
    }

    /// One job finished for good, `succeeded` or `failed`.
    pub fn job_finished(&self, target: &str, status: &str) {
        let target = self.targets.label(target);
        self.jobs_finished.get_or_create(&[("target", target), ("status", status.to_owned())]).inc();
    }

    /// One job attempt failed with a retryable error and was put back.
    pub fn job_retried(&self, target: &str, code: &str) {
        let target = self.targets.label(target);
        self.jobs_retried.get_or_create(&[("target", target), ("code", code.to_owned())]).inc();
    }

    /// A failed job's input was kept on the dead-letter stream.
    pub fn job_dead_lettered(&self, target: &str) {
        self.jobs_dead_lettered.get_or_create(&[("target", self.targets.label(target))]).inc();
    }

    /// A message on the jobs stream was terminated instead of run.
    pub fn job_rejected(&self) {
        self.jobs_rejected.inc();
    }

    /// One callback delivery ended, `delivered` or `failed` (for good).
    pub fn callback(&self, target: &str, outcome: &str) {
        let target = self.targets.label(target);
        self.callbacks.get_or_create(&[("target", target), ("outcome", outcome.to_owned())]).inc();
    }

    /// The job stores' depths, as read from JetStream.
    pub fn set_depths(&self, depths: &bus::QueueDepths) {
        let gauge = |gauge: &Gauge, value: u64| {
            gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        gauge(&self.jobs_queued, depths.jobs);
        gauge(&self.dead_letters, depths.dead_letters);
        gauge(&self.callbacks_queued, depths.callbacks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<u64> {
        text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn counts_by_name_and_outcome() {
        let mut registry = Registry::default();
        let metrics = FlowMetrics::new(&mut registry, 10);
        metrics.trigger_event("greet", "ok");
        metrics.trigger_event("greet", "ok");
        metrics.trigger_event("greet", "function_trapped");
        metrics.trigger_dropped("greet", "unavailable");
        metrics.job_finished("functions/hello", "succeeded");
        metrics.job_retried("functions/hello", "unavailable");
        let text = bus::metrics::encode(&registry);
        assert_eq!(value(&text, "faas_trigger_events_total{trigger=\"greet\",outcome=\"ok\"}"), Some(2));
        let trapped = "faas_trigger_events_total{trigger=\"greet\",outcome=\"function_trapped\"}";
        assert_eq!(value(&text, trapped), Some(1));
        let dropped = "faas_trigger_events_dropped_total{trigger=\"greet\",reason=\"unavailable\"}";
        assert_eq!(value(&text, dropped), Some(1));
        let finished = "faas_jobs_finished_total{target=\"functions/hello\",status=\"succeeded\"}";
        assert_eq!(value(&text, finished), Some(1));
        let retried = "faas_jobs_retried_total{target=\"functions/hello\",code=\"unavailable\"}";
        assert_eq!(value(&text, retried), Some(1));
    }

    #[test]
    fn series_are_bounded_whatever_names_come() {
        let mut registry = Registry::default();
        let max = 20;
        let metrics = FlowMetrics::new(&mut registry, max);
        for i in 0..max + 50 {
            metrics.job_finished(&format!("b/f{i}"), "failed");
        }
        metrics.job_finished("b/f0", "failed");
        let text = bus::metrics::encode(&registry);
        let series: Vec<&str> = text.lines().filter(|l| l.starts_with("faas_jobs_finished_total{")).collect();
        assert_eq!(series.len(), max + 1, "{text}");
        let other = "faas_jobs_finished_total{target=\"(other)\",status=\"failed\"}";
        assert_eq!(value(&text, other), Some(50));
        assert_eq!(value(&text, "faas_jobs_finished_total{target=\"b/f0\",status=\"failed\"}"), Some(2));
    }
}
