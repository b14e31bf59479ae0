//! `GET /audit`: the newest audit events the platform kept (the `admin`
//! scope only). Events are published on `<prefix>.audit.<action>` by
//! whoever did the action, and kept by the stream a dispatcher sets up
//! (`FAAS_AUDIT`, capped by age and bytes).

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::response::IntoResponse;
use protocol::http::AuditList;
use serde::Deserialize;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// Events listed when the query names no `limit`.
const DEFAULT_LIMIT: u64 = 100;

/// Most events one listing returns.
const MAX_LIMIT: u64 = 1000;

/// Query of `GET /audit`.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// How many of the newest events, 1 to 1000 (default 100).
    pub limit: Option<u64>,
}

/// `GET /audit?limit=N`: `{"events": [...]}`, oldest first.
#[utoipa::path(
    get,
    path = "/audit",
    operation_id = "list_audit",
    tag = "audit",
    params(("limit" = Option<u64>, Query, description = "At most this many (1 to 1000, default 100).")),
    responses((status = 200, description = "The most recent audit events, oldest first.", body = protocol::http::AuditList))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<AuditQuery>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require_admin()?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let store_error = |err: bus::StoreError| ApiError::new(err.code(), err.to_string());
    let events = state.audit().await.map_err(store_error)?.recent(limit).await.map_err(store_error)?;
    Ok(Json(AuditList { events }))
}
