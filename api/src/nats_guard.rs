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

use std::time::Duration;

use async_nats::connection::State;
use axum::extract::{Request, State as AxumState};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use protocol::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

/// How often a request in progress looks at the connection.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(20);

/// Middleware: 503 while NATS is unreachable, before and during the handler.
pub async fn require_nats(AxumState(state): AxumState<AppState>, request: Request, next: Next) -> Response {
    if !connected(&state.client) {
        return unreachable().into_response();
    }
    tokio::select! {
        response = next.run(request) => response,
        () = disconnected(&state.client) => unreachable().into_response(),
    }
}

/// Whether the client is connected to NATS right now.
pub fn connected(client: &async_nats::Client) -> bool {
    client.connection_state() == State::Connected
}

/// Resolves once the client has lost its connection.
async fn disconnected(client: &async_nats::Client) {
    // async-nats keeps its state in a watch channel but hands out no
    // receiver: polling the state is the one way to see it change.
    while connected(client) {
        tokio::time::sleep(WATCH_INTERVAL).await;
    }
}

fn unreachable() -> ApiError {
    ApiError::new(ErrorCode::Unavailable, "the platform's NATS server is unreachable: retry shortly")
}
