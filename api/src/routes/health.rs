//! `/health`, `/ready` and `/metrics`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use futures::StreamExt as _;
use protocol::metrics::DispatcherCounters;
use serde_json::json;

use crate::nats_guard;
use crate::state::AppState;

/// How long readiness waits for each role's pong.
const PING_WAIT: Duration = Duration::from_secs(2);

/// `GET /health`: the process is alive.
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: NATS is connected and an executor and a dispatcher answer.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let connected = nats_guard::connected(&state.client);
    let (executor, dispatcher) = if connected {
        tokio::join!(
            ping(&state, state.subjects.ping_executor()),
            ping(&state, state.subjects.ping_dispatcher())
        )
    } else {
        ("unknown".into(), "unknown".into())
    };
    let ready = connected && executor == "ok" && dispatcher == "ok";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "ready": ready,
        "nats": if connected { "connected" } else { "disconnected" },
        "executor": executor,
        "dispatcher": dispatcher,
        "auth": if state.auth.enabled() { "on" } else { "off" },
    });
    (status, Json(body))
}

/// `ok`, or what is wrong: nobody answers, or the answer is not a pong (a
/// dispatcher whose job worker or trigger router stopped answers
/// `degraded: ...`, which is reported as it is).
async fn ping(state: &AppState, subject: String) -> String {
    let request = async_nats::Request::new().payload("ping".into()).timeout(Some(PING_WAIT));
    match state.client.send_request(subject, request).await {
        Ok(reply) if reply.payload == protocol::subjects::PONG.as_bytes() => "ok".into(),
        Ok(reply) if reply.payload.starts_with(protocol::subjects::DEGRADED.as_bytes()) => {
            String::from_utf8_lossy(&reply.payload).into_owned()
        }
        // An older peer's pong, or any other answer: it answers.
        Ok(_) => "ok".into(),
        Err(err) if err.kind() == async_nats::RequestErrorKind::NoResponders => "none running".into(),
        Err(_) => "not answering".into(),
    }
}

/// How long `/metrics` gathers the dispatchers' counters: they answer in
/// about a millisecond, and there is no knowing how many will.
const GATHER_WAIT: Duration = Duration::from_millis(250);

/// `GET /metrics`: Prometheus text: this api's HTTP counters, then every
/// dispatcher's counters (trigger events, pipeline runs, jobs).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let reports = dispatcher_counters(&state).await;
    let text = state.metrics.render() + &crate::metrics::render_dispatchers(&reports);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// Asks every dispatcher for its counters and keeps the answers that come
/// within [`GATHER_WAIT`].
async fn dispatcher_counters(state: &AppState) -> Vec<DispatcherCounters> {
    // Without NATS no dispatcher can answer: the api's own counters at once.
    if !nats_guard::connected(&state.client) {
        return Vec::new();
    }
    let inbox = state.client.new_inbox();
    let Ok(mut replies) = state.client.subscribe(inbox.clone()).await else { return Vec::new() };
    let asked = state.client.publish_with_reply(state.subjects.metrics_dispatcher(), inbox, "".into()).await;
    if asked.is_err() {
        return Vec::new();
    }
    let deadline = tokio::time::Instant::now() + GATHER_WAIT;
    let mut reports = Vec::new();
    while let Ok(Some(reply)) = tokio::time::timeout_at(deadline, replies.next()).await {
        if let Ok(report) = serde_json::from_slice(&reply.payload) {
            reports.push(report);
        }
    }
    reports
}
