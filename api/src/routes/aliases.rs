//! `/file/{bucket}/{function}/aliases` and `/rollback`: name versions,
//! split calls between them by weight (canaries), and move `current`
//! back in one step. The dispatcher keeps the aliases in the function's
//! registry entry ([`protocol::aliases`]) and answers a change only once
//! every executor applied it.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::response::IntoResponse;
use protocol::admin::{DeleteAlias, ListAliases, PutAlias, Rollback};
use protocol::aliases::{self, AliasSpec};
use protocol::http::Deleted;
use protocol::{ErrorCode, FunctionRef, FunctionVersion};

use super::body::read_limited;
use super::function_path::{FunctionAt, ToDeploy, ToRead};
use crate::bus_client::admin;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// An alias body is a version and at most eight weights: a few KiB at most.
const BODY_LIMIT: usize = 16 * 1024;

/// `PUT /file/{bucket}/{function}/aliases/{alias}`: create or move an alias.
#[utoipa::path(
    put,
    path = "/file/{bucket}/{function}/aliases/{alias}",
    operation_id = "put_alias",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function."), ("alias" = String, Path, description = "The alias: `current` (what the function's name runs) or a name of your own (a lowercase letter first, `[a-z0-9_-]`, at most 32 characters, not all hex digits).")),
    request_body(content = protocol::aliases::AliasSpec, content_type = "application/json", description = "The target version (digest, unique prefix, or another alias) and optional weights by version summing to 1, which must include the target."),
    responses((status = 200, description = "The alias now; every call that starts after this answer, on every executor, runs through it.", body = protocol::aliases::AliasRecord))
)]
pub async fn put(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToDeploy>,
    Path((_, _, alias)): Path<(String, String, String)>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    aliases::check_name(&alias)?;
    let bytes = read_limited(body, BODY_LIMIT, "the alias").await?;
    let spec: AliasSpec = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid alias: {e}")))?;
    let weights = spec.shares()?;
    let command = PutAlias { function, alias, version: spec.version, weights };
    Ok(Json(admin(&state, &id, &principal, command).await?))
}

/// `GET /file/{bucket}/{function}/aliases`: `current` first, then by name.
#[utoipa::path(
    get,
    path = "/file/{bucket}/{function}/aliases",
    operation_id = "list_aliases",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    responses((status = 200, description = "Every alias of the function, `current` first.", body = protocol::aliases::AliasList))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToRead>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(admin(&state, &id, &principal, ListAliases { function }).await?))
}

/// `DELETE /file/{bucket}/{function}/aliases/{alias}`: never `current`.
#[utoipa::path(
    delete,
    path = "/file/{bucket}/{function}/aliases/{alias}",
    operation_id = "delete_alias",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function."), ("alias" = String, Path, description = "The alias (not `current`).")),
    responses((status = 200, description = "Deleted; calls through it now answer 404 `alias_not_found`.", body = protocol::http::Deleted))
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToDeploy>,
    Path((_, _, alias)): Path<(String, String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&state, &id, &principal, DeleteAlias { function: function.clone(), alias: alias.clone() }).await?;
    Ok(Json(Deleted { deleted: format!("{function}@{alias}") }))
}

/// `POST /file/{bucket}/{function}/rollback`: `current` back one step.
#[utoipa::path(
    post,
    path = "/file/{bucket}/{function}/rollback",
    operation_id = "rollback_function",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    responses((status = 200, description = "`current` now points at its previous target still kept (weights cleared); a second rollback goes one further back.", body = protocol::aliases::AliasRecord))
)]
pub async fn rollback(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToDeploy>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(admin(&state, &id, &principal, Rollback { function }).await?))
}

/// The digest a job submitted through `alias` runs: picked now (by the
/// route key if given), so the job runs what was named when accepted.
pub fn pick(
    function: &FunctionRef,
    entry: &FunctionVersion,
    alias: &str,
    route_key: Option<&str>,
) -> Result<String, ApiError> {
    let point = match route_key {
        Some(key) => aliases::route_point(key),
        None => getrandom::u32().map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?,
    };
    match entry.run_through(alias, point) {
        Some(digest) => Ok(digest.to_owned()),
        None => Err(aliases::not_found(function, alias).into()),
    }
}
