//! One client connection: hyper serves its requests through the router,
//! under the header, body and idle deadlines, until the client leaves, it
//! sits idle too long, or the api stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::ServerLimits;
use crate::timeouts::TimedBody;

/// Serves `tcp` until it closes; after `stopping` turns true, lets the
/// request in progress finish and closes.
pub(super) async fn serve_connection(
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
            // An error too: the sender is gone when the api's future was
            // dropped without its shutdown, and the connection closes as at a stop.
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
    async fn idle_for(&self, timeout: std::time::Duration) {
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
