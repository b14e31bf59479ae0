//! Call logs published in batches: one message per function per flush
//! rather than one per call.
//!
//! A message per call cost nats-server and the executor about 6.5 µs of CPU
//! each per warm call, a fifth of the warm throughput
//! (`bench/results/2026-12-07-c933245-malloc.md`). So a call only hands its
//! [`CallLog`] to a bounded queue ([`LogBatcher::submit`]: no JSON, no
//! publish, never a wait) and one task per executor does the rest: it wakes
//! when the first log of a quiet spell arrives, sleeps the flush interval
//! (`FAAS_CALL_LOG_FLUSH_MS`), then takes everything queued, groups it by
//! function and publishes each function's logs as one NDJSON message
//! ([`bus::logs::publish_batch`]), split where a message would pass
//! [`batch_bytes`]. So a log waits at most about the flush interval, and
//! the task wakes about once per interval however many calls end.
//!
//! Call logs are best effort, as they were with a publish per call: a full
//! queue drops the log and counts it (`faas_call_logs_dropped_total`). A
//! graceful stop ([`Flusher::finish`]) publishes everything queued and
//! flushes the connection before the executor lets its client go.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use protocol::logs::{CallLog, push_line};
use protocol::{FunctionRef, Subjects};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Logs the queue holds at most. The task empties it once per flush
/// interval, so this is the most calls per interval (about 200,000 calls a
/// second at the default 20 ms) before logs are dropped.
pub const QUEUE_LOGS: usize = 4096;

/// Bytes of output (stdout and stderr) the queued logs hold at most: what
/// bounds the queue's memory when logs are large or the publisher stalls.
pub const QUEUE_BYTES: usize = 32 << 20;

/// Largest batch in bytes for a server's `max_payload`: half of it, and at
/// most 256 KiB, so that a batch is never refused for its size and one
/// message is cheap for the server to store and for a reader to hold. One
/// log larger than this still goes (alone): each log is already cut to fit
/// a message ([`crate::call_log::Call::log`]).
pub fn batch_bytes(max_payload: usize) -> usize {
    (max_payload / 2).min(256 << 10)
}

/// Where batches go: NATS in the executor, a channel in tests.
pub trait Sink: Send + 'static {
    /// Publishes one batch on `subject`; false if it could not.
    fn publish(&mut self, subject: String, payload: Bytes) -> impl Future<Output = bool> + Send;
    /// Makes sure what was published left the process.
    fn flush(&mut self) -> impl Future<Output = ()> + Send;
}

/// The executor's sink: its NATS connection.
pub struct NatsSink(pub async_nats::Client);

impl Sink for NatsSink {
    async fn publish(&mut self, subject: String, payload: Bytes) -> bool {
        bus::logs::publish_batch(&self.0, subject, payload).await
    }

    async fn flush(&mut self) {
        if let Err(err) = self.0.flush().await {
            tracing::warn!(%err, "could not flush the last call logs");
        }
    }
}

/// How the batcher groups logs.
#[derive(Debug, Clone)]
pub struct BatchSettings {
    /// Longest a log waits for others before it is published.
    pub flush_interval: Duration,
    /// Largest message ([`batch_bytes`]).
    pub max_bytes: usize,
}

/// One queued log.
type Queued = (FunctionRef, CallLog);

/// The call's side of the batcher: cheap to clone, never waits.
#[derive(Clone)]
pub struct LogBatcher {
    queue: mpsc::Sender<Queued>,
    queued_bytes: Arc<AtomicUsize>,
    dropped: Counter,
}

/// The batcher's task: what a graceful stop waits for.
pub struct Flusher {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl LogBatcher {
    /// Starts the batcher's task, publishing into `sink` on `subjects`'
    /// log subjects; a dropped log counts on `dropped`.
    pub fn start(
        sink: impl Sink,
        subjects: Subjects,
        settings: BatchSettings,
        dropped: Counter,
    ) -> (Self, Flusher) {
        let (queue, receiver) = mpsc::channel(QUEUE_LOGS);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = oneshot::channel();
        let task = Task {
            dropped: dropped.clone(),
            receiver,
            queued_bytes: queued_bytes.clone(),
            batches: Batches::new(subjects, settings.max_bytes),
            flush_interval: settings.flush_interval,
            sink,
        };
        let task = tokio::spawn(task.run(stopped));
        (Self { queue, queued_bytes, dropped }, Flusher { stop, task })
    }

    /// Queues `log` of a call of `function` for the next batch, or drops
    /// it (counted) if the queue is full or stopped.
    pub fn submit(&self, function: &FunctionRef, log: CallLog) {
        let size = output_bytes(&log);
        if self.queued_bytes.fetch_add(size, Ordering::Relaxed) + size > QUEUE_BYTES {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.dropped.inc();
            return;
        }
        if self.queue.try_send((function.clone(), log)).is_err() {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.dropped.inc();
        }
    }
}

impl Flusher {
    /// Publishes every log queued until now and flushes the connection: a
    /// graceful stop's last step before the client goes. Later submits are
    /// dropped.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        if let Err(err) = self.task.await {
            tracing::warn!(%err, "the call log batcher failed");
        }
    }
}

/// What a queued log weighs against [`QUEUE_BYTES`]: its output, the bulk
/// of it.
fn output_bytes(log: &CallLog) -> usize {
    log.stdout.len() + log.stderr.len()
}

struct Task<S> {
    /// Counts the logs of a batch whose publish failed, as a full queue's.
    dropped: Counter,
    receiver: mpsc::Receiver<Queued>,
    queued_bytes: Arc<AtomicUsize>,
    batches: Batches,
    flush_interval: Duration,
    sink: S,
}

impl<S: Sink> Task<S> {
    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let mut taken = Vec::with_capacity(QUEUE_LOGS.min(1024));
        let mut ready = Vec::new();
        loop {
            // Quiet: wait for the first log (or the stop).
            tokio::select! {
                received = self.receiver.recv_many(&mut taken, QUEUE_LOGS) => if received == 0 { break },
                _ = &mut stopped => break,
            }
            // Then let the others of this interval come, without waking per log.
            let stop = tokio::select! {
                () = tokio::time::sleep(self.flush_interval) => false,
                _ = &mut stopped => true,
            };
            self.publish_queued(&mut taken, &mut ready).await;
            if stop {
                break;
            }
        }
        // Stopping: nothing more comes in; what was queued still goes out.
        self.receiver.close();
        self.publish_queued(&mut taken, &mut ready).await;
        self.sink.flush().await;
    }

    /// Publishes every queued log (and those in `taken`) in batches.
    async fn publish_queued(&mut self, taken: &mut Vec<Queued>, ready: &mut Vec<Ready>) {
        let bytes = self.take(taken, ready);
        self.batches.drain(ready);
        self.publish(ready).await;
        // Given back only once published: while a publish waits, what it
        // holds still counts against the bound.
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Moves every queued log (and those already in `taken`) into batches;
    /// returns their weight against [`QUEUE_BYTES`].
    fn take(&mut self, taken: &mut Vec<Queued>, ready: &mut Vec<Ready>) -> usize {
        while let Ok(queued) = self.receiver.try_recv() {
            taken.push(queued);
        }
        let mut bytes = 0;
        for (function, log) in taken.drain(..) {
            bytes += output_bytes(&log);
            self.batches.push(function, &log, ready);
        }
        bytes
    }

    async fn publish(&mut self, ready: &mut Vec<Ready>) {
        for Ready { subject, payload } in ready.drain(..) {
            // One log per line: JSON escapes every newline inside a log.
            let logs = payload.iter().filter(|byte| **byte == b'\n').count() as u64;
            if !self.sink.publish(subject, payload).await {
                self.dropped.inc_by(logs);
            }
        }
    }
}

/// One message to publish.
#[derive(Debug)]
struct Ready {
    subject: String,
    payload: Bytes,
}

/// The open batches, by function: no IO and no clock, so its bounds are
/// tested as they are.
struct Batches {
    subjects: Subjects,
    max_bytes: usize,
    open: HashMap<FunctionRef, Batch>,
}

struct Batch {
    subject: String,
    payload: Vec<u8>,
}

impl Batch {
    fn close(&mut self) -> Ready {
        Ready { subject: self.subject.clone(), payload: std::mem::take(&mut self.payload).into() }
    }
}

impl Batches {
    fn new(subjects: Subjects, max_bytes: usize) -> Self {
        Self { subjects, max_bytes, open: HashMap::new() }
    }

    /// Adds `log` to its function's batch; a batch it would take past the
    /// size bound is closed into `ready` first, and one it fills is closed
    /// after.
    fn push(&mut self, function: FunctionRef, log: &CallLog, ready: &mut Vec<Ready>) {
        let subjects = &self.subjects;
        let batch = self.open.entry(function).or_insert_with_key(|function| Batch {
            subject: subjects.call_log(function),
            payload: Vec::new(),
        });
        let before = batch.payload.len();
        push_line(&mut batch.payload, log);
        if before > 0 && batch.payload.len() > self.max_bytes {
            // This log goes to the next message: the earlier ones go now.
            let line = batch.payload.split_off(before);
            ready.push(batch.close());
            batch.payload = line;
        }
        if batch.payload.len() >= self.max_bytes {
            ready.push(batch.close());
        }
    }

    /// Closes every open batch into `ready`. The batches themselves are
    /// dropped: a function called once in a while holds no memory.
    fn drain(&mut self, ready: &mut Vec<Ready>) {
        for (_, Batch { subject, payload }) in self.open.drain() {
            if !payload.is_empty() {
                ready.push(Ready { subject, payload: payload.into() });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::audit::Outcome;
    use protocol::logs::batch_logs;

    fn log(function: &FunctionRef, id: usize, stdout: &str) -> CallLog {
        CallLog {
            at_ms: 1,
            request_id: format!("r{id}"),
            bucket: function.bucket.to_string(),
            function: function.function.to_string(),
            digest: None,
            executor: "e".into(),
            outcome: Outcome::Ok,
            duration_ms: 1,
            stdout: stdout.into(),
            stderr: String::new(),
            truncated: false,
        }
    }

    fn ids(payload: &[u8]) -> Vec<String> {
        batch_logs(payload).map(|log| log.request_id).collect()
    }

    fn functions() -> (FunctionRef, FunctionRef) {
        (FunctionRef::new("bk1", "one").unwrap(), FunctionRef::new("bk1", "two").unwrap())
    }

    #[test]
    fn logs_are_grouped_by_function_in_order() {
        let (one, two) = functions();
        let mut batches = Batches::new(Subjects::new("faas"), 1 << 20);
        let mut ready = Vec::new();
        for id in 0..5 {
            let function = if id % 2 == 0 { &one } else { &two };
            batches.push(function.clone(), &log(function, id, "x"), &mut ready);
        }
        assert!(ready.is_empty(), "nothing is full");
        batches.drain(&mut ready);
        ready.sort_by(|a, b| a.subject.cmp(&b.subject));
        let got: Vec<(String, Vec<String>)> =
            ready.iter().map(|r| (r.subject.clone(), ids(&r.payload))).collect();
        let subjects = Subjects::new("faas");
        assert_eq!(
            got,
            [(subjects.call_log(&one), vec!["r0", "r2", "r4"]), (subjects.call_log(&two), vec!["r1", "r3"])]
                .map(|(subject, ids)| (subject, ids.into_iter().map(str::to_owned).collect()))
        );
        // Drained: nothing left open, nothing published twice.
        let mut again = Vec::new();
        batches.drain(&mut again);
        assert!(again.is_empty());
    }

    #[test]
    fn a_batch_never_passes_the_size_bound_unless_one_log_does() {
        let (one, _) = functions();
        let line_len = {
            let mut line = Vec::new();
            push_line(&mut line, &log(&one, 0, &"o".repeat(100)));
            line.len()
        };
        // Room for three lines, not four.
        let max = line_len * 3 + line_len / 2;
        let mut batches = Batches::new(Subjects::new("faas"), max);
        let mut ready = Vec::new();
        for id in 0..10 {
            batches.push(one.clone(), &log(&one, id, &"o".repeat(100)), &mut ready);
        }
        batches.drain(&mut ready);
        let counts: Vec<usize> = ready.iter().map(|r| ids(&r.payload).len()).collect();
        assert_eq!(counts, [3, 3, 3, 1]);
        assert!(ready.iter().all(|r| r.payload.len() <= max));
        let all: Vec<String> = ready.iter().flat_map(|r| ids(&r.payload)).collect();
        assert_eq!(all, (0..10).map(|id| format!("r{id}")).collect::<Vec<_>>());

        // A log larger than the bound goes alone, between the others.
        let mut batches = Batches::new(Subjects::new("faas"), max);
        let mut ready = Vec::new();
        batches.push(one.clone(), &log(&one, 0, "small"), &mut ready);
        batches.push(one.clone(), &log(&one, 1, &"o".repeat(max)), &mut ready);
        batches.push(one.clone(), &log(&one, 2, "small"), &mut ready);
        batches.drain(&mut ready);
        let split: Vec<Vec<String>> = ready.iter().map(|r| ids(&r.payload)).collect();
        assert_eq!(split, [vec!["r0"], vec!["r1"], vec!["r2"]]);
    }

    #[test]
    fn the_bound_is_half_the_payload_and_at_most_256_kib() {
        assert_eq!(batch_bytes(1 << 20), 256 << 10);
        assert_eq!(batch_bytes(8 << 20), 256 << 10);
        assert_eq!(batch_bytes(64 << 10), 32 << 10);
    }

    /// A sink that hands each batch to the test.
    struct Channel(mpsc::UnboundedSender<(String, Bytes)>, Arc<AtomicUsize>);

    impl Sink for Channel {
        async fn publish(&mut self, subject: String, payload: Bytes) -> bool {
            self.0.send((subject, payload)).is_ok()
        }

        async fn flush(&mut self) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn settings(flush_interval: Duration) -> BatchSettings {
        BatchSettings { flush_interval, max_bytes: 256 << 10 }
    }

    #[tokio::test]
    async fn a_graceful_stop_publishes_what_waits_and_flushes() {
        let (one, two) = functions();
        let (sent, mut published) = mpsc::unbounded_channel();
        let flushes = Arc::new(AtomicUsize::new(0));
        let dropped = Counter::default();
        // An interval no test waits out: only the stop can publish.
        let (batcher, flusher) = LogBatcher::start(
            Channel(sent, flushes.clone()),
            Subjects::new("faas"),
            settings(Duration::from_secs(3600)),
            dropped.clone(),
        );
        for id in 0..100 {
            let function = if id < 60 { &one } else { &two };
            batcher.submit(function, log(function, id, "hi"));
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(published.try_recv().is_err(), "nothing before the interval or the stop");
        flusher.finish().await;
        let mut messages = Vec::new();
        while let Ok(message) = published.try_recv() {
            messages.push(message);
        }
        messages.sort_by(|a, b| a.0.cmp(&b.0));
        let counts: Vec<(String, usize)> = messages.iter().map(|(s, p)| (s.clone(), ids(p).len())).collect();
        let subjects = Subjects::new("faas");
        assert_eq!(counts, [(subjects.call_log(&one), 60), (subjects.call_log(&two), 40)]);
        assert_eq!(flushes.load(Ordering::Relaxed), 1, "the connection is flushed after the last batch");
        assert_eq!(dropped.get(), 0);
        // After the stop a log is dropped and counted, never waited for.
        batcher.submit(&one, log(&one, 100, "late"));
        assert_eq!(dropped.get(), 1);
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts() {
        let (one, _) = functions();
        let (sent, mut published) = mpsc::unbounded_channel();
        let dropped = Counter::default();
        let (batcher, flusher) = LogBatcher::start(
            Channel(sent, Arc::new(AtomicUsize::new(0))),
            Subjects::new("faas"),
            settings(Duration::from_secs(3600)),
            dropped.clone(),
        );
        // Submitted without a yield: the task cannot take any in between.
        for id in 0..QUEUE_LOGS + 7 {
            batcher.submit(&one, log(&one, id, ""));
        }
        assert_eq!(dropped.get(), 7);
        // By bytes too: one log of output larger than the whole queue's room.
        batcher.submit(&one, log(&one, 0, &"o".repeat(QUEUE_BYTES + 1)));
        assert_eq!(dropped.get(), 8);
        flusher.finish().await;
        let mut kept = 0;
        while let Ok((_, payload)) = published.try_recv() {
            kept += ids(&payload).len();
        }
        assert_eq!(kept, QUEUE_LOGS);
    }

    #[tokio::test]
    async fn logs_go_out_after_the_interval_without_a_stop() {
        let (one, _) = functions();
        let (sent, mut published) = mpsc::unbounded_channel();
        let (batcher, _flusher) = LogBatcher::start(
            Channel(sent, Arc::new(AtomicUsize::new(0))),
            Subjects::new("faas"),
            settings(Duration::ZERO),
            Counter::default(),
        );
        batcher.submit(&one, log(&one, 1, "hi"));
        let (subject, payload) = published.recv().await.expect("published while running");
        assert_eq!((subject, ids(&payload)), (Subjects::new("faas").call_log(&one), vec!["r1".to_owned()]));
    }

    #[tokio::test]
    async fn published_logs_give_their_room_back() {
        let (one, _) = functions();
        let (sent, mut published) = mpsc::unbounded_channel();
        let dropped = Counter::default();
        let (batcher, _flusher) = LogBatcher::start(
            Channel(sent, Arc::new(AtomicUsize::new(0))),
            Subjects::new("faas"),
            settings(Duration::ZERO),
            dropped.clone(),
        );
        // Four rounds of 12 MiB: 48 MiB in all, past the 32 MiB bound,
        // which only logs not yet published may hold.
        let big = "o".repeat(4 << 20);
        for round in 0..4 {
            for n in 0..3 {
                batcher.submit(&one, log(&one, round * 3 + n, &big));
            }
            let mut got = 0;
            while got < 3 {
                let (_, payload) = published.recv().await.expect("published while running");
                got += ids(&payload).len();
            }
            // The room comes back once the publish returned.
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(dropped.get(), 0);
        assert_eq!(batcher.queued_bytes.load(Ordering::Relaxed), 0);
    }
}
