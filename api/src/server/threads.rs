//! The serving threads: where HTTP connections are read and their calls
//! sent.
//!
//! Each serving thread has a single-threaded Tokio runtime and a NATS
//! connection of its own, so one call's whole path in the api (the HTTP
//! connection reading the request, the exec request published, the reply
//! read from NATS, the response written) stays on one thread and wakes no
//! other (issue 15: on one work-stealing runtime, the HTTP connection's
//! task and the NATS connection's task ran on different workers, and every
//! call crossed between them twice; see ARCHITECTURE.md, "Serving
//! threads"). It is the executor's call threads' design, on the other side
//! of the same request.
//!
//! The accept loop (`mod.rs`) hands each new connection to the thread with
//! the fewest open ones; the connection stays there until it closes. The
//! shared state (stores, watches, tokens, metrics) lives on the runtime
//! `run` was called on, with its client; a thread reaches it through
//! [`AppState`], and only its calls and its jobs go over its own
//! connection ([`AppState::with_calls`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot, watch};
use tokio_util::task::TaskTracker;

use super::ServerLimits;
use super::connection::serve_connection;
use crate::ServeError;
use crate::state::AppState;

/// Longest a starting thread waits for its NATS connection while the
/// shared one is up.
const FIRST_CONNECT_WAIT: Duration = Duration::from_secs(5);

/// A connection on its way to a serving thread, with the permit it holds
/// until it closes.
struct Handoff {
    tcp: std::net::TcpStream,
    permit: OwnedSemaphorePermit,
}

/// The accept loop's way to one thread.
struct Lane {
    connections: mpsc::UnboundedSender<Handoff>,
    /// Connections handed to the thread and not yet closed.
    open: Arc<AtomicUsize>,
}

/// The running serving threads. Dropped (as when `serve`'s future is),
/// they stop taking connections and close the ones they have once their
/// request in progress is answered, as at a stop, without being waited for.
pub struct ServeThreads {
    lanes: Vec<Lane>,
    stopping: watch::Sender<bool>,
    ended: bus::ThreadEnds<ServeError>,
}

impl ServeThreads {
    /// Starts `count` threads (at least one), each with its own NATS
    /// connection, and returns once each has its router; or with the
    /// first failure.
    pub async fn start(
        state: &AppState,
        nats: &bus::NatsOptions,
        count: usize,
        limits: ServerLimits,
    ) -> Result<Self, ServeError> {
        let stopping = watch::Sender::new(false);
        let mut threads = Self { lanes: Vec::new(), stopping, ended: bus::ThreadEnds::default() };
        let mut ready = Vec::new();
        for index in 0..count.max(1) {
            let (connections, handoffs) = mpsc::unbounded_channel();
            let (ready_tx, ready_rx) = oneshot::channel();
            let ended = threads.ended.add();
            let open = Arc::new(AtomicUsize::new(0));
            let thread = ServeThread {
                state: state.clone(),
                nats: nats.clone(),
                limits,
                open: open.clone(),
                stopping: threads.stopping.subscribe(),
            };
            std::thread::Builder::new()
                .name(format!("http-{index}"))
                .spawn(move || thread.run(handoffs, ready_tx, ended))
                .map_err(ServeError::ServeThread)?;
            threads.lanes.push(Lane { connections, open });
            ready.push(ready_rx);
        }
        for ready in ready {
            // A thread that failed sends its error on `ended` instead.
            if ready.await.is_err() {
                let failed = threads.failed().await;
                return Err(failed);
            }
        }
        Ok(threads)
    }

    /// Hands `tcp` to the thread with the fewest open connections.
    pub fn hand(&self, tcp: tokio::net::TcpStream, permit: OwnedSemaphorePermit) {
        let lane =
            self.lanes.iter().min_by_key(|lane| lane.open.load(Ordering::Relaxed)).expect("at least one");
        // Off this runtime's reactor, onto the thread's.
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(err) => {
                tracing::warn!(%err, "could not hand a connection over; closing it");
                return;
            }
        };
        lane.open.fetch_add(1, Ordering::Relaxed);
        if lane.connections.send(Handoff { tcp, permit }).is_err() {
            // The thread ended; `failed` reports it to the accept loop.
            lane.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Resolves when a thread ended before it was told to stop, with why.
    pub async fn failed(&mut self) -> ServeError {
        self.ended.first_ended(|| ServeError::ServeThreadEnded).await
    }

    /// Closes every connection once its request in progress is answered,
    /// and waits until every thread has ended; the first error, if any.
    pub async fn stop(self) -> Result<(), ServeError> {
        let Self { lanes, stopping, ended } = self;
        stopping.send_replace(true);
        // No more connections: a thread ends once its own have closed.
        drop(lanes);
        ended.all_ended(|| ServeError::ServeThreadEnded).await
    }
}

/// One serving thread's part.
struct ServeThread {
    state: AppState,
    nats: bus::NatsOptions,
    limits: ServerLimits,
    open: Arc<AtomicUsize>,
    stopping: watch::Receiver<bool>,
}

impl ServeThread {
    fn run(
        self,
        handoffs: mpsc::UnboundedReceiver<Handoff>,
        ready: oneshot::Sender<()>,
        ended: bus::ThreadEnd<ServeError>,
    ) {
        let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(self.serve(handoffs, ready)),
            Err(source) => Err(ServeError::ServeThread(source)),
        };
        let _ = ended.send(result);
    }

    /// Connects, says so on `ready`, and serves the connections handed
    /// over until the accept loop stops; then waits for them to close.
    async fn serve(
        self,
        mut handoffs: mpsc::UnboundedReceiver<Handoff>,
        ready: oneshot::Sender<()>,
    ) -> Result<(), ServeError> {
        // The first connection is retried in the background, so with NATS
        // down the thread is ready at once and its calls answer 503 until
        // NATS is reachable. With NATS up (the shared connection is), the
        // thread waits for its own: a call right after the start must not
        // find it still connecting. The flush completes once connected.
        let client = bus::connect(&self.nats, "faas-api").await?;
        if crate::nats_guard::connected(&self.state.client) {
            let _ = tokio::time::timeout(FIRST_CONNECT_WAIT, client.flush()).await;
        }
        let router = crate::routes::router(self.state.with_calls(client.clone()));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(self.limits.header_timeout);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        let _ = ready.send(());
        let connections = TaskTracker::new();
        while let Some(Handoff { tcp, permit }) = handoffs.recv().await {
            let open = self.open.clone();
            let tcp = match tokio::net::TcpStream::from_std(tcp) {
                Ok(tcp) => tcp,
                Err(err) => {
                    tracing::warn!(%err, "could not take a connection over; closing it");
                    open.fetch_sub(1, Ordering::Relaxed);
                    continue;
                }
            };
            let connection =
                serve_connection(builder.clone(), tcp, router.clone(), self.limits, self.stopping.clone());
            connections.spawn(async move {
                connection.await;
                open.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
            });
        }
        connections.close();
        connections.wait().await;
        // Nothing to flush: every request sent on this connection (a call,
        // a job's stores) waited for its reply or ack; what outlives a
        // request (audit) goes over the shared client.
        Ok(())
    }
}
