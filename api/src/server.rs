//! The accept loop: how many connections the api serves at once and how
//! long a client may take, so slow or idle clients cannot hold it.
//!
//! `axum::serve` sets no timer, so hyper's header read timeout never fires,
//! and it accepts every connection. Here each connection takes a permit of
//! a semaphore before it is accepted (beyond the cap, clients wait in the
//! kernel's accept queue), hyper's HTTP/1 header read timeout runs on a
//! tokio timer, every request body is read under an idle and a total
//! deadline ([`crate::timeouts::TimedBody`]), and a connection with no
//! request in progress for the idle timeout is closed.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::timeouts::{BodyDeadlines, TimedBody};

/// What the accept loop enforces.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a connection may sit with no request in progress.
    pub idle_timeout: Duration,
    /// How long request bodies may take.
    pub body: BodyDeadlines,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets
/// requests in progress finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(err) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = serve_connection(builder.clone(), tcp, router.clone(), limits, stopping.clone());
        tokio::spawn(async move {
            connection.await;
            drop(permit);
        });
    }
    let _ = stop.send(true);
    // Every connection holds a permit until it is closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
}

async fn serve_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    tcp: TcpStream,
    router: Router,
    limits: ServerLimits,
    mut stopping: watch::Receiver<bool>,
) {
    // Replies are small and latency is the product: never let Nagle hold a
    // response's last segment back waiting for an ACK.
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(%err, "could not set TCP_NODELAY");
    }
    let activity = Arc::new(Activity::new());
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let router = router.clone();
            let busy = activity.start();
            let request = request.map(|body| Body::new(TimedBody::new(body, limits.body)));
            async move {
                let response = tower::ServiceExt::oneshot(router, request).await;
                drop(busy);
                response
            }
        })
    };
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%err, "connection ended with an error");
                }
                return;
            }
            () = activity.idle_for(limits.idle_timeout), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = stopping.wait_for(|stop| *stop), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// Requests in progress on one connection, and when the last one ended.
struct Activity {
    in_progress: AtomicUsize,
    last_end: std::sync::Mutex<Instant>,
}

/// Marks a request in progress until dropped.
struct Busy(Arc<Activity>);

impl Activity {
    fn new() -> Self {
        Self { in_progress: AtomicUsize::new(0), last_end: std::sync::Mutex::new(Instant::now()) }
    }

    fn start(self: &Arc<Self>) -> Busy {
        self.in_progress.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// Resolves once no request has been in progress for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let last_end = *self.last_end.lock().expect("never poisoned");
            let idle_until = last_end + timeout;
            if self.in_progress.load(Ordering::SeqCst) == 0 && Instant::now() >= idle_until {
                return;
            }
            // Busy: look again a timeout later; a request that ends moves
            // `last_end`, so the connection gets its full idle time after it.
            tokio::time::sleep_until(idle_until.max(Instant::now() + timeout / 4)).await;
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.last_end.lock().expect("never poisoned") = Instant::now();
        self.0.in_progress.fetch_sub(1, Ordering::SeqCst);
    }
}
