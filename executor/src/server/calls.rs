//! The call threads: where requests are taken and calls run.
//!
//! Each call thread has a single-threaded Tokio runtime and a NATS
//! connection of its own, subscribed in the executors' queue group, so one
//! call's whole path (the connection reading the request, the task running
//! it, the reply written back) stays on one thread: no call wakes a second
//! thread, and none waits for a worker that another process's work holds
//! (issue 15: one work-stealing runtime shared by the calls and the
//! connection cost more CPU per call than the call's Wasm work, in wake-ups
//! and in workers searching for tasks; see ARCHITECTURE.md, "Call threads").
//! The server hands each request to one of the connections, as it would to
//! one of several executors.
//!
//! The rest of the executor (the followed stores, the call-log batcher, the
//! micro service) stays on the runtime `run` was called on, with the client
//! it was given: a call reaches it through shared state, never by waking it.
//!
//! Concurrency is shared: the calls of all threads take the same `slots`
//! and `room`. When `room` is full, the thread that took the request that
//! filled it leaves the queue group and tells the others (`full`), which
//! leave too: a full executor takes no more requests on any connection.
//! Each joins again once it finds room.
//!
//! What a call spawns (the share of an artifact it compiled, a shadow run)
//! runs on its thread's runtime and ends with it, at the stop: as before,
//! when it ended with the process.
//!
//! A guest that spins holds its thread only until the next epoch tick,
//! where it yields (`runtime.rs`), so the thread's other calls and its
//! connection go on.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Message, Subscriber};
use futures::StreamExt as _;
use tokio::sync::{Semaphore, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::{Executor, ExecutorError, handle};

/// Longest a stopping thread waits for the server to confirm that it left
/// the queue group, and then for its replies to be written: with NATS
/// gone neither comes, and the thread must still end.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The concurrency bounds every call thread shares.
#[derive(Clone)]
pub(super) struct Bounds {
    /// Calls running.
    pub slots: Arc<Semaphore>,
    /// Calls running or waiting for a slot.
    pub room: Arc<Semaphore>,
    /// Sent by the thread that took the last place in `room`, so that the
    /// others leave the queue group too.
    pub full: Arc<watch::Sender<()>>,
}

impl Bounds {
    /// `concurrency` calls at once and `backlog` more waiting.
    pub fn new(concurrency: usize, backlog: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(concurrency)),
            room: Arc::new(Semaphore::new(concurrency + backlog)),
            full: Arc::new(watch::channel(()).0),
        }
    }
}

/// The running call threads; dropped, they stop (as after [`Self::stop`],
/// without waiting): an executor whose `run` is dropped takes no calls.
pub(super) struct CallThreads {
    stop: CancellationToken,
    _stop_when_dropped: tokio_util::sync::DropGuard,
    ended: bus::ThreadEnds<ExecutorError>,
}

impl CallThreads {
    /// Starts `count` threads (at least one) and returns once each is
    /// connected and subscribed, or with the first failure (having stopped
    /// the others).
    pub async fn start(
        executor: &Arc<Executor>,
        nats: &bus::NatsOptions,
        count: usize,
        bounds: Bounds,
    ) -> Result<Self, ExecutorError> {
        let stop = CancellationToken::new();
        // From here on, dropped means stopped (`run` stopped while a thread
        // still connects, or `run` dropped).
        let stop_when_dropped = stop.clone().drop_guard();
        let mut ended = bus::ThreadEnds::default();
        let mut ready = Vec::new();
        for index in 0..count.max(1) {
            let (ready_tx, ready_rx) = oneshot::channel();
            let ended_tx = ended.add();
            let thread = CallThread {
                executor: executor.clone(),
                nats: nats.clone(),
                bounds: bounds.clone(),
                stop: stop.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("calls-{index}"))
                .spawn(move || thread.run(ready_tx, ended_tx));
            if let Err(source) = spawned {
                return Err(ExecutorError::CallThread(source));
            }
            ready.push(ready_rx);
        }
        let threads = Self { stop, _stop_when_dropped: stop_when_dropped, ended };
        for ready in ready {
            // A thread that failed sends its error on `ended` instead.
            if ready.await.is_err() {
                return Err(threads.stop().await.err().unwrap_or(ExecutorError::CallThreadPanicked));
            }
        }
        Ok(threads)
    }

    /// Resolves when a thread ended before it was told to stop: with its
    /// error (a failed rejoin of the queue group, a panic).
    pub async fn failed(&mut self) -> ExecutorError {
        self.ended.first_ended(|| ExecutorError::CallThreadPanicked).await
    }

    /// Tells every thread to leave the queue group and waits until each
    /// has answered all the requests it took; the first error, if any.
    pub async fn stop(self) -> Result<(), ExecutorError> {
        self.stop.cancel();
        self.ended.all_ended(|| ExecutorError::CallThreadPanicked).await
    }
}

/// One call thread's part.
struct CallThread {
    executor: Arc<Executor>,
    nats: bus::NatsOptions,
    bounds: Bounds,
    stop: CancellationToken,
}

impl CallThread {
    fn run(self, ready: oneshot::Sender<()>, ended: bus::ThreadEnd<ExecutorError>) {
        let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(self.serve(ready)),
            Err(source) => Err(ExecutorError::CallThread(source)),
        };
        let _ = ended.send(result);
    }

    /// Connects, subscribes, says so on `ready`, and takes requests until
    /// told to stop; then answers what it took and flushes the replies.
    async fn serve(self, ready: oneshot::Sender<()>) -> Result<(), ExecutorError> {
        let stop = self.stop.clone();
        let client = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            client = bus::connect(&self.nats, "faas-executor") => Arc::new(client?),
        };
        let subscriptions = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            subscribed = subscribe(&self.executor, &client) => subscribed?,
        };
        let _ = ready.send(());
        let calls = TaskTracker::new();
        let result = self.take_calls(&client, subscriptions, &calls).await;
        calls.close();
        calls.wait().await;
        // The replies are queued on this thread's connection, whose task
        // ends with this runtime: written out first.
        let _ = tokio::time::timeout(STOP_WAIT, client.flush()).await;
        result
    }

    async fn take_calls(
        &self,
        client: &Arc<Client>,
        subscriptions: Subscriptions,
        calls: &TaskTracker,
    ) -> Result<(), ExecutorError> {
        let Bounds { slots, room, full } = &self.bounds;
        let mut full_seen = full.subscribe();
        let executor = &self.executor;
        let mut execs = Some(subscriptions);
        // Set while out of the queue group because room ran out: whether
        // this thread took the last place (the executor's leave, counted).
        let mut left: Option<bool> = None;
        let mut draining = false;
        let mut stopping = false;
        let given_up = tokio::time::sleep(Duration::MAX);
        tokio::pin!(given_up);
        loop {
            tokio::select! {
                () = &mut given_up, if stopping => {
                    warn!(wait = ?STOP_WAIT, "the server did not confirm the drain; stopping without it");
                    return Ok(());
                }
                () = self.stop.cancelled(), if !stopping => {
                    // Leave the queue group first: draining sends UNSUB and
                    // ends the stream only after the server confirmed it, so
                    // requests routed here before then are still run, and
                    // none after.
                    info!(running = calls.len(), "call thread stopping: leaving the queue group");
                    stopping = true;
                    given_up.as_mut().reset(tokio::time::Instant::now() + STOP_WAIT);
                    match execs.as_mut() {
                        Some(subs) if !draining => {
                            subs.drain().await;
                            draining = true;
                        }
                        Some(_) => {}
                        None => return Ok(()),
                    }
                }
                Ok(()) = full_seen.changed(), if !draining => {
                    // Another thread took the last place: leave too, unless
                    // a place freed since.
                    if room.available_permits() == 0 && let Some(subs) = execs.as_mut() {
                        subs.drain().await;
                        draining = true;
                        left = Some(false);
                    }
                }
                next = next_message(&mut execs) => match next {
                    Some(message) => {
                        // Only messages delivered before this thread left
                        // the queue group can wait here.
                        let accepted = room.clone().acquire_owned().await.expect("semaphore never closes");
                        // Tracked, not joined: a finished call wakes nothing
                        // here (joining cost a wake-up per call).
                        calls.spawn(handle(executor.clone(), client.clone(), message, slots.clone(), accepted));
                        if room.available_permits() == 0
                            && !draining
                            && let Some(subs) = execs.as_mut()
                        {
                            // Full: leave the queue group until there is room again.
                            full.send_replace(());
                            subs.drain().await;
                            draining = true;
                            left = Some(true);
                            executor.metrics.left_queue_group();
                        }
                    }
                    None if stopping => return Ok(()),
                    None => execs = None,
                },
                permit = room.clone().acquire_owned(), if execs.is_none() && !stopping => {
                    drop(permit);
                    execs = Some(subscribe(executor, client).await?);
                    draining = false;
                    if left.take() == Some(true) {
                        executor.metrics.rejoined_queue_group();
                    }
                }
            }
        }
    }
}

/// A call thread's queue subscriptions, exec, http and pipeline, taken and
/// left together.
struct Subscriptions {
    exec: Option<Subscriber>,
    http: Option<Subscriber>,
    pipeline: Option<Subscriber>,
}

impl Subscriptions {
    /// The next request on any; `None` once all ended (drained).
    async fn next(&mut self) -> Option<Message> {
        loop {
            tokio::select! {
                message = next_of(&mut self.exec), if self.exec.is_some() => match message {
                    Some(message) => return Some(message),
                    None => self.exec = None,
                },
                message = next_of(&mut self.http), if self.http.is_some() => match message {
                    Some(message) => return Some(message),
                    None => self.http = None,
                },
                message = next_of(&mut self.pipeline), if self.pipeline.is_some() => match message {
                    Some(message) => return Some(message),
                    None => self.pipeline = None,
                },
                else => return None,
            }
        }
    }

    /// Leaves the queue group on every subject (see `Subscriber::drain`).
    async fn drain(&mut self) {
        for sub in [&mut self.exec, &mut self.http, &mut self.pipeline].into_iter().flatten() {
            let _ = sub.drain().await;
        }
    }
}

async fn next_of(sub: &mut Option<Subscriber>) -> Option<Message> {
    match sub {
        Some(sub) => sub.next().await,
        None => std::future::pending().await,
    }
}

async fn subscribe(executor: &Executor, client: &Client) -> Result<Subscriptions, ExecutorError> {
    let subjects = &executor.subjects;
    let group = subjects.executor_group();
    let exec = client.queue_subscribe(subjects.exec_all(), group.clone()).await?;
    let http = client.queue_subscribe(subjects.http_all(), group.clone()).await?;
    let pipeline = client.queue_subscribe(subjects.pipeline_all(), group).await?;
    Ok(Subscriptions { exec: Some(exec), http: Some(http), pipeline: Some(pipeline) })
}

async fn next_message(subs: &mut Option<Subscriptions>) -> Option<Message> {
    match subs {
        Some(subs) => subs.next().await,
        None => std::future::pending().await,
    }
}
