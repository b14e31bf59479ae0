//! `/health`, `/ready` and `/metrics`.

use std::time::Duration;

use async_nats::service::Stats;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use protocol::http::{Health, Readiness};
use protocol::metrics::DispatcherStatus;
use protocol::subjects::{PONG, ROLE_DISPATCHER, ROLE_EXECUTOR};

use crate::state::AppState;

/// How long readiness waits for a role's first answer.
const FIRST_ANSWER_WAIT: Duration = Duration::from_secs(2);

/// `GET /health`: the process is alive.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "meta",
    responses((status = 200, description = "The api process answers.", body = protocol::http::Health))
)]
pub async fn health() -> impl IntoResponse {
    Json(Health { status: "ok".to_owned() })
}

/// `GET /ready`: NATS is connected (every connection of the api) and an
/// executor and a dispatcher answer, with how many of each did.
#[utoipa::path(
    get,
    path = "/ready",
    operation_id = "ready",
    tag = "meta",
    responses((status = 200, description = "Ready.", body = protocol::http::Readiness), (status = 503, description = "Not ready: what is missing.", body = protocol::http::Readiness))
)]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    // Every connection: calls go over the serving threads' own.
    let connected = state.all_connected();
    let (executors, dispatchers) = if connected {
        tokio::join!(instances(&state, ROLE_EXECUTOR), instances(&state, ROLE_DISPATCHER))
    } else {
        (Vec::new(), Vec::new())
    };
    let executor = match executors.len() {
        _ if !connected => "unknown".to_owned(),
        0 => "none running".to_owned(),
        _ => "ok".to_owned(),
    };
    let dispatcher = if !connected {
        "unknown".to_owned()
    } else if dispatchers.is_empty() {
        "none running".to_owned()
    } else {
        // A dispatcher whose job worker or trigger router stopped says
        // `degraded: ...`; that is reported as it is.
        dispatchers
            .iter()
            .filter_map(bus::ping_data::<DispatcherStatus>)
            .map(|status| status.health)
            .find(|health| health != PONG)
            .unwrap_or_else(|| "ok".to_owned())
    };
    let ready = connected && executor == "ok" && dispatcher == "ok";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = Readiness {
        ready,
        nats: if connected { "connected" } else { "disconnected" }.to_owned(),
        executor,
        executors: executors.len(),
        dispatcher,
        dispatchers: dispatchers.len(),
        auth: if state.auth.enabled() { "on" } else { "off" }.to_owned(),
    };
    (status, Json(body))
}

/// Every running instance of `role`, from its service stats.
async fn instances(state: &AppState, role: &str) -> Vec<Stats> {
    bus::gather_stats(&state.client, &state.subjects.service_name(role), FIRST_ANSWER_WAIT).await
}

/// `GET /metrics`: this api's metrics in the Prometheus text format.
/// Executors and dispatchers serve their own (`--metrics-listen`).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "meta",
    responses((status = 200, description = "Prometheus text format: this api's requests by route, method and status, their durations, requests in flight and jobs submitted. Executors and dispatchers serve their own metrics on `--metrics-listen`.", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, bus::metrics::CONTENT_TYPE)], state.metrics.render())
}
