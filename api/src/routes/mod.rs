//! The HTTP routes. The paths of the original platform are kept as they were.

pub mod aliases;
pub mod audit;
mod body;
pub mod buckets;
pub mod config;
pub mod exec;
pub mod files;
mod function_path;
pub mod health;
pub mod jobs;
pub mod logs;
pub mod multipart;
pub mod pipelines;
pub mod replay;
pub mod run;
pub mod shadow;
mod targets;
pub mod tokens;
pub mod triggers;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::middleware;
use protocol::ErrorCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{auth, nats_guard, openapi, request_id};

/// What a group of routes passes before its handlers: the one thing the
/// router (its layers) and the OpenAPI document (its security and the
/// guard's errors) both read off the declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Nothing: anyone may call.
    Open,
    /// [`auth::probe_guard`]: public unless `FAAS_PUBLIC_PROBES=false`.
    Probe,
    /// A valid bearer token ([`auth::middleware`]), then NATS up.
    Token,
    /// A valid token, or none for a `public_invoke` bucket
    /// ([`auth::public::middleware`]), then NATS up.
    TokenOrPublic,
}

/// Every route, once, grouped by guard: the router and the OpenAPI
/// document are both built from this.
pub fn declared() -> Vec<(Guard, OpenApiRouter<AppState>)> {
    let open = OpenApiRouter::new().routes(routes!(health::health)).routes(routes!(openapi::serve));
    let probes = OpenApiRouter::new().routes(routes!(health::ready)).routes(routes!(health::metrics));
    // Everything but the probes and the metrics goes through NATS.
    let over_nats = OpenApiRouter::new()
        .routes(routes!(buckets::list))
        .routes(routes!(buckets::create, buckets::list_functions, buckets::configure, buckets::delete))
        .routes(routes!(files::upload, files::download, files::delete))
        .routes(routes!(files::versions))
        .routes(routes!(shadow::put, shadow::get, shadow::delete))
        .routes(routes!(shadow::report))
        .routes(routes!(aliases::list))
        .routes(routes!(aliases::put, aliases::delete))
        .routes(routes!(aliases::rollback))
        .routes(routes!(config::put, config::get, config::delete))
        // `pipeline` is a reserved bucket name, so these never hide a function.
        .routes(routes!(pipelines::exec))
        .routes(routes!(pipelines::submit))
        .routes(routes!(pipelines::list))
        .routes(routes!(pipelines::put, pipelines::get, pipelines::delete))
        .routes(routes!(triggers::list))
        .routes(routes!(triggers::put, triggers::get, triggers::delete))
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::get))
        .routes(routes!(jobs::redrive))
        .routes(routes!(replay::replay_job))
        .routes(routes!(replay::replay_call))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(logs::get));
    // The function calls, which a public bucket answers without a token too.
    let calls = OpenApiRouter::new()
        .routes(routes!(exec::exec))
        .routes(routes!(run::run))
        .routes(routes!(run::run_slash))
        .routes(routes!(run::run_path))
        .routes(routes!(jobs::submit));
    vec![
        (Guard::Open, open),
        (Guard::Probe, probes),
        (Guard::Token, over_nats),
        (Guard::TokenOrPublic, calls),
    ]
}

/// The api's router.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new();
    for (guard, group) in declared() {
        let (group, _) = group.split_for_parts();
        let group = match guard {
            Guard::Open => group,
            Guard::Probe => {
                group.route_layer(middleware::from_fn_with_state(state.clone(), auth::probe_guard))
            }
            Guard::Token => group
                .route_layer(middleware::from_fn_with_state(state.clone(), nats_guard::require_nats))
                // Outermost: a caller without a valid token learns nothing
                // else, not even whether NATS is up.
                .route_layer(middleware::from_fn_with_state(state.clone(), auth::middleware)),
            Guard::TokenOrPublic => group
                .route_layer(middleware::from_fn_with_state(state.clone(), nats_guard::require_nats))
                .route_layer(middleware::from_fn_with_state(state.clone(), auth::public::middleware)),
        };
        app = app.merge(group);
    }
    let request_ids = middleware::from_fn_with_state(state.clone(), request_id::middleware);
    app.route_layer(request_ids.clone())
        .method_not_allowed_fallback(not_allowed.layer(request_ids.clone()))
        .fallback(not_found.layer(request_ids))
        // Handlers enforce their own limits, each with a message that says it.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no route for {}", uri.path()))
}

async fn not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, format!("{method} is not served at {}", uri.path()))
}
