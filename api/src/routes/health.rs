//! `/health`, `/ready` and `/metrics`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

/// How long readiness waits for each role's pong.
const PING_WAIT: Duration = Duration::from_secs(2);

/// `GET /health`: the process is alive.
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: NATS is connected and an executor and a dispatcher answer.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let connected = state.client.connection_state() == async_nats::connection::State::Connected;
    let (executor, dispatcher) = if connected {
        tokio::join!(
            ping(&state, state.subjects.ping_executor()),
            ping(&state, state.subjects.ping_dispatcher())
        )
    } else {
        ("unknown", "unknown")
    };
    let ready = connected && executor == "ok" && dispatcher == "ok";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "ready": ready,
        "nats": if connected { "connected" } else { "disconnected" },
        "executor": executor,
        "dispatcher": dispatcher,
    });
    (status, Json(body))
}

async fn ping(state: &AppState, subject: String) -> &'static str {
    let request = async_nats::Request::new().payload("ping".into()).timeout(Some(PING_WAIT));
    match state.client.send_request(subject, request).await {
        Ok(_) => "ok",
        Err(err) if err.kind() == async_nats::RequestErrorKind::NoResponders => "none running",
        Err(_) => "not answering",
    }
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
