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
//!
//! Connections are accepted on the runtime `run` was called on and served
//! on the serving threads (`threads.rs`), each connection on one thread.

mod connection;
mod threads;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use threads::ServeThreads;

use crate::ServeError;
use crate::timeouts::BodyDeadlines;

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

/// Accepts connections on `listener` and hands each to one of `threads`
/// until `shutdown` resolves, then lets requests in progress finish.
///
/// # Errors
///
/// A serving thread ended before the stop ([`ServeError::ServeThreadEnded`]).
pub async fn serve(
    listener: TcpListener,
    mut threads: ServeThreads,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
            failed = threads.failed() => return Err(failed),
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
            failed = threads.failed() => return Err(failed),
        };
        threads.hand(tcp, permit);
    }
    threads.stop().await
}
