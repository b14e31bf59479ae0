//! `/file/{bucket}/{function}/shadow`: shadow traffic. A sample of the
//! function's live calls to its current version also runs, after the live
//! answer and with read-only capabilities, on a candidate version; the
//! report compares the pairs.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::response::IntoResponse;
use protocol::ErrorCode;
use protocol::admin::{DeleteShadow, GetShadow, GetShadowReport, PutShadow};
use protocol::http::Deleted;
use protocol::shadow::ShadowSpec;

use super::body::read_limited;
use super::function_path::{FunctionAt, ToDeploy, ToRead};
use crate::bus_client::admin;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// A spec is a few short fields.
const BODY_LIMIT: usize = 4096;

/// `PUT /file/{bucket}/{function}/shadow`: starts shadowing (replacing any
/// shadowing, with a fresh report); answered once every executor applied it.
#[utoipa::path(
    put,
    path = "/file/{bucket}/{function}/shadow",
    operation_id = "put_shadow",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    request_body(content = protocol::shadow::ShadowSpec, content_type = "application/json", description = "The candidate version, the share of live calls to shadow and the most shadow runs per second per executor."),
    responses((status = 200, description = "Shadowing now, with the candidate's full digest; the report starts afresh.", body = protocol::shadow::ShadowConfig))
)]
pub async fn put(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToDeploy>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let bytes = read_limited(body, BODY_LIMIT, "the shadow spec").await?;
    let spec: ShadowSpec = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid shadow spec: {e}")))?;
    spec.validate()?;
    Ok(Json(admin(&state, &id, &principal, PutShadow { function, spec }).await?))
}

/// `GET /file/{bucket}/{function}/shadow`: the shadowing running now.
#[utoipa::path(
    get,
    path = "/file/{bucket}/{function}/shadow",
    operation_id = "get_shadow",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    responses((status = 200, description = "The shadowing running now.", body = protocol::shadow::ShadowConfig))
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToRead>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(admin(&state, &id, &principal, GetShadow { function }).await?))
}

/// `DELETE /file/{bucket}/{function}/shadow`: stops shadowing; answered
/// once no executor starts a shadow run. The report stays readable until
/// the next `PUT`.
#[utoipa::path(
    delete,
    path = "/file/{bucket}/{function}/shadow",
    operation_id = "delete_shadow",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    responses((status = 200, description = "Stopped; the report stays until the next shadowing starts.", body = protocol::http::Deleted))
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToDeploy>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&state, &id, &principal, DeleteShadow { function: function.clone() }).await?;
    Ok(Json(Deleted { deleted: format!("{function}/shadow") }))
}

/// `GET /file/{bucket}/{function}/shadow/report`: the outcomes summarised.
#[utoipa::path(
    get,
    path = "/file/{bucket}/{function}/shadow/report",
    operation_id = "shadow_report",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    responses((status = 200, description = "Counts per verdict, the candidate's error codes, both sides' p50/p99 and the first differing pairs, over the newest 10,000 outcomes of the current (or last) shadowing.", body = protocol::shadow::ShadowReport))
)]
pub async fn report(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToRead>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(admin(&state, &id, &principal, GetShadowReport { function }).await?))
}
