//! Load generation: closed loop (fixed concurrency) and open loop (fixed rate).
//!
//! A closed loop answers "how much can it do", but when the system stalls its
//! workers stall with it and the stall never shows in the latencies
//! (coordinated omission). The open loop sends on a schedule whatever happens
//! and measures each request from the moment it was due, so queueing shows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;

/// One request of a phase: sends it, checks the answer, and fails on anything
/// unexpected. Boxed so every kind of request goes through one generator.
pub type Op = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// No single request may hold up a phase longer than this; the api's own
/// exec wait is 30 s, so anything slower is lost anyway.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An empty latency histogram in microseconds, up to two minutes, at three
/// significant digits (so 0.1% resolution at any magnitude).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("constant histogram bounds are valid")
}

/// What one phase measured.
#[derive(Debug)]
pub struct Outcome {
    /// Latency of the successful requests, in µs. For the open loop this is
    /// counted from when the request was due, not from when it was sent.
    pub latency: Histogram<u64>,
    /// Open loop only: from the actual send to the answer, in µs, which
    /// separates the generator's own timer slack from the system's queueing.
    pub service: Option<Histogram<u64>>,
    /// Requests answered as expected.
    pub ok: u64,
    /// Requests that failed, answered wrongly, timed out, or were still
    /// running when the phase had to end.
    pub errors: u64,
    /// The first failure, to say what went wrong.
    pub first_error: Option<String>,
    /// From the first send to the last answer.
    pub elapsed: Duration,
}

/// Per-worker counts, merged at the end so workers never contend on a lock.
struct Tally {
    latency: Histogram<u64>,
    service: Histogram<u64>,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Self {
        Self { latency: histogram(), service: histogram(), ok: 0, errors: 0, first_error: None }
    }

    fn record(&mut self, result: anyhow::Result<()>, latency: Duration) {
        match result {
            Ok(()) => {
                self.ok += 1;
                self.latency.saturating_record(micros(latency));
            }
            Err(e) => self.fail(format!("{e:#}")),
        }
    }

    fn fail(&mut self, message: String) {
        self.errors += 1;
        self.first_error.get_or_insert(message);
    }

    fn merge(&mut self, other: Self) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn into_outcome(self, elapsed: Duration, with_service: bool) -> Outcome {
        Outcome {
            latency: self.latency,
            service: with_service.then_some(self.service),
            ok: self.ok,
            errors: self.errors,
            first_error: self.first_error,
            elapsed,
        }
    }
}

/// `d` in whole µs, at least 1, for a latency histogram.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

async fn bounded(op: &Op) -> anyhow::Result<()> {
    match tokio::time::timeout(REQUEST_TIMEOUT, op()).await {
        Ok(result) => result,
        Err(_) => anyhow::bail!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
    }
}

/// `concurrency` workers each send a request, wait for the answer, and send
/// the next, until `duration` has passed or `max_requests` were started.
///
/// Requests running when time is up are waited for and counted.
pub async fn closed_loop(
    op: &Op,
    concurrency: usize,
    duration: Duration,
    max_requests: Option<u64>,
) -> Outcome {
    let issued = Arc::new(AtomicU64::new(0));
    let limit = max_requests.unwrap_or(u64::MAX);
    let start = Instant::now();
    let end = start + duration;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (op, issued) = (op.clone(), issued.clone());
        workers.spawn(async move {
            let mut tally = Tally::new();
            while Instant::now() < end && issued.fetch_add(1, Ordering::Relaxed) < limit {
                let sent = Instant::now();
                let result = bounded(&op).await;
                tally.record(result, sent.elapsed());
            }
            tally
        });
    }
    let mut total = Tally::new();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(tally) => total.merge(tally),
            Err(e) => total.fail(format!("load worker died: {e}")),
        }
    }
    total.into_outcome(start.elapsed(), false)
}

/// Sends `rate` requests per second for `duration`, each on its own task,
/// whether or not earlier ones have been answered.
///
/// After the last send, stragglers get `drain` to finish; those still
/// running then are cancelled and counted as errors, which bounds the phase
/// when the system cannot keep up.
pub async fn open_loop(op: &Op, rate: u32, duration: Duration, drain: Duration) -> Outcome {
    let rate = f64::from(rate.max(1));
    let count = (duration.as_secs_f64() * rate).round() as u64;
    let start = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due).await;
        let op = op.clone();
        let due = due.into_std();
        tasks.spawn(async move {
            let sent = Instant::now();
            let result = bounded(&op).await;
            let done = Instant::now();
            (result, done - due, done - sent)
        });
    }

    let mut total = Tally::new();
    let deadline = tokio::time::Instant::now() + drain;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok((result, from_due, from_send)))) => {
                if result.is_ok() {
                    total.service.saturating_record(micros(from_send));
                }
                total.record(result, from_due);
            }
            Ok(Some(Err(e))) => total.fail(format!("request task died: {e}")),
            Ok(None) => break,
            Err(_) => {
                let left = tasks.len();
                tasks.abort_all();
                for _ in 0..left {
                    total.fail(format!("still unanswered {} s after the last send", drain.as_secs()));
                }
                break;
            }
        }
    }
    total.into_outcome(start.elapsed(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counting_op() -> (Op, Arc<AtomicU64>) {
        let calls = Arc::new(AtomicU64::new(0));
        let counter = calls.clone();
        let op: Op = Arc::new(move || {
            let counter = counter.clone();
            Box::pin(async move {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                anyhow::ensure!(n % 10 != 9, "every tenth call fails");
                Ok(())
            })
        });
        (op, calls)
    }

    #[tokio::test]
    async fn closed_loop_stops_at_the_request_bound_and_counts_errors() {
        let (op, calls) = counting_op();
        let out = closed_loop(&op, 4, Duration::from_secs(10), Some(100)).await;
        assert_eq!(calls.load(Ordering::Relaxed), 100);
        assert_eq!((out.ok, out.errors), (90, 10));
        assert_eq!(out.latency.len(), 90);
        assert!(out.first_error.is_some_and(|e| e.contains("tenth")));
    }

    #[tokio::test]
    async fn open_loop_sends_rate_times_duration_requests() {
        let (op, calls) = counting_op();
        let out = open_loop(&op, 200, Duration::from_millis(100), Duration::from_secs(1)).await;
        assert_eq!(calls.load(Ordering::Relaxed), 20);
        assert_eq!(out.ok + out.errors, 20);
        assert!(out.service.is_some());
    }
}
