//! Routes that need NATS answer 503 `unavailable` at once while it is
//! unreachable, instead of waiting out their reply timeout.
//!
//! A request published while the client is disconnected sits in the
//! client's buffer and its reply never comes, so the caller would wait the
//! full exec or admin wait. The connection state is checked before the
//! handler runs and watched while it runs: a connection lost mid-request
//! ends it with a 503 within [`WATCH_INTERVAL`], whatever the outcome of
//! work already handed on (a retry with the same `Idempotency-Key` finds an
//! accepted job).

use std::sync::OnceLock;
use std::time::Duration;

use async_nats::connection::State;
use axum::extract::{Request, State as AxumState};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use protocol::ErrorCode;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::error::ApiError;
use crate::state::AppState;

/// How often the process looks at the connection.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(20);

/// Middleware: 503 while NATS is unreachable, before and during the handler.
pub async fn require_nats(AxumState(state): AxumState<AppState>, request: Request, next: Next) -> Response {
    if !connected(&state.calls().client) {
        return unreachable().into_response();
    }
    tokio::select! {
        response = next.run(request) => response,
        () = state.calls().watch.lost() => unreachable().into_response(),
    }
}

/// Whether the client is connected to NATS right now.
pub fn connected(client: &async_nats::Client) -> bool {
    client.connection_state() == State::Connected
}

/// The connection state of one api process, watched by one task that every
/// request in flight shares.
///
/// async-nats keeps its state in a watch channel but hands out no receiver,
/// so polling the state is the one way to see it change; one poll per
/// process keeps a request's cost to a channel receiver, not a timer.
pub struct ConnectionWatch {
    client: async_nats::Client,
    state: OnceLock<watch::Receiver<bool>>,
}

impl ConnectionWatch {
    /// A watch over `client`; its task starts with the first request, on
    /// that request's runtime.
    pub fn new(client: async_nats::Client) -> Self {
        Self { client, state: OnceLock::new() }
    }

    /// Resolves once the connection is lost.
    pub async fn lost(&self) {
        let mut state = self.state.get_or_init(|| watch_state(self.client.clone())).clone();
        if state.wait_for(|connected| !connected).await.is_err() {
            // The watching task is gone with its runtime: nothing can change.
            std::future::pending::<()>().await;
        }
    }
}

/// Starts the task that publishes the connection state; it ends when the
/// last receiver (the [`ConnectionWatch`]) is dropped.
fn watch_state(client: async_nats::Client) -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(connected(&client));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = sender.closed() => return,
            }
            let now = connected(&client);
            sender.send_if_modified(|was| std::mem::replace(was, now) != now);
        }
    });
    receiver
}

fn unreachable() -> ApiError {
    ApiError::new(ErrorCode::Unavailable, "the platform's NATS server is unreachable: retry shortly")
}
