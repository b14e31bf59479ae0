//! The HTTP routes. The paths of the original platform are kept as they were.

pub mod audit;
mod body;
pub mod buckets;
pub mod exec;
pub mod files;
pub mod health;
pub mod jobs;
pub mod logs;
pub mod multipart;
pub mod pipelines;
mod targets;
pub mod tokens;
pub mod triggers;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::middleware;
use axum::routing::{delete, get, post, put};
use protocol::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{auth, nats_guard, request_id};

/// The api's router.
pub fn router(state: AppState) -> Router {
    // Everything but the probes and the metrics goes through NATS.
    let over_nats = Router::new()
        .route("/bucket", get(buckets::list))
        .route(
            "/bucket/{bucket}",
            put(buckets::create)
                .get(buckets::list_functions)
                .patch(buckets::configure)
                .delete(buckets::delete),
        )
        .route("/file/{bucket}/{function}", post(files::upload).get(files::download).delete(files::delete))
        // `pipeline` is a reserved bucket name, so these never hide a function.
        .route("/exec/pipeline/{name}", post(pipelines::exec))
        .route("/async/pipeline/{name}", post(pipelines::submit))
        .route("/pipeline", get(pipelines::list))
        .route("/pipeline/{name}", put(pipelines::put).get(pipelines::get).delete(pipelines::delete))
        .route("/trigger", get(triggers::list))
        .route("/trigger/{name}", put(triggers::put).get(triggers::get).delete(triggers::delete))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::get))
        .route("/jobs/{id}/redrive", post(jobs::redrive))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route("/audit", get(audit::list))
        .route("/logs/{bucket}/{function}", get(logs::get))
        .route_layer(middleware::from_fn_with_state(state.clone(), nats_guard::require_nats))
        // Outermost: a caller without a valid token learns nothing else,
        // not even whether NATS is up.
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::middleware));
    // The function calls, which a public bucket answers without a token too.
    let calls = Router::new()
        .route("/exec/{bucket}/{function}", post(exec::exec))
        .route("/async/{bucket}/{function}", post(jobs::submit))
        .route_layer(middleware::from_fn_with_state(state.clone(), nats_guard::require_nats))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::public::middleware));
    let probes = Router::new()
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::probe_guard));
    let request_ids = middleware::from_fn_with_state(state.clone(), request_id::middleware);
    Router::new()
        .route("/health", get(health::health))
        .merge(probes)
        .merge(over_nats)
        .merge(calls)
        .route_layer(request_ids.clone())
        .fallback(not_found.layer(request_ids))
        // Handlers enforce their own limits, each with a message that says it.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no route for {}", uri.path()))
}
