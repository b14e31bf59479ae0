//! `/trigger`: event triggers, defined over HTTP, run by the dispatchers.
//!
//! A `PUT` answers once every dispatcher subscribed to the trigger's
//! subject, and a `DELETE` once every one unsubscribed, so the next event
//! published after the answer is handled (or not) accordingly.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::response::IntoResponse;
use protocol::admin::{DeleteTrigger, GetTrigger, ListTriggers, PutTrigger, TriggerList};
use protocol::auth::Access;
use protocol::http::Deleted;
use protocol::{ErrorCode, TriggerName, TriggerSpec};

use super::body::read_limited;
use super::targets::{self, SEE_DEFINITIONS};
use crate::auth::Principal;
use crate::bus_client::admin;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// Largest trigger or pipeline definition, in bytes.
pub const DEFINITION_LIMIT: usize = 64 << 10;

/// `PUT /trigger/{name}` with `{"subject", "function", "output_subject"?, "mode"?}`.
#[utoipa::path(
    put,
    path = "/trigger/{name}",
    operation_id = "put_trigger",
    tag = "triggers",
    params(("name" = String, Path, description = "The trigger's name.")),
    request_body(content = protocol::TriggerSpec, content_type = "application/json", description = "Its definition (at most 64 KiB)."), responses((status = 200, description = "Stored, and applied by every dispatcher.", body = protocol::Trigger))
)]
pub async fn put(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let name = TriggerName::new(name)?;
    let spec: TriggerSpec = parse_definition(body, "trigger").await?;
    spec.check(&state.subjects).map_err(|e| ApiError::new(ErrorCode::InvalidSubject, e))?;
    principal.require(Access::Deploy, &spec.function.bucket)?;
    // Replacing a trigger takes deploy on what it ran before, too.
    if !principal.is_admin() {
        match admin(&state, &id, &principal, GetTrigger { name: name.clone() }).await {
            Ok(existing) => principal.require(Access::Deploy, &existing.spec.function.bucket)?,
            Err(err) if err.body().code == ErrorCode::TriggerNotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(Json(admin(&state, &id, &principal, PutTrigger { name, spec }).await?))
}

/// `GET /trigger`.
#[utoipa::path(
    get,
    path = "/trigger",
    operation_id = "list_triggers",
    tag = "triggers",
    responses((status = 200, description = "The triggers the token may see.", body = protocol::admin::TriggerList))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
) -> Result<impl IntoResponse, ApiError> {
    let TriggerList { mut triggers } = admin(&state, &id, &principal, ListTriggers {}).await?;
    triggers.retain(|trigger| targets::may_all(&principal, SEE_DEFINITIONS, [&trigger.spec.function]));
    Ok(Json(TriggerList { triggers }))
}

/// `GET /trigger/{name}`.
#[utoipa::path(
    get,
    path = "/trigger/{name}",
    operation_id = "get_trigger",
    tag = "triggers",
    params(("name" = String, Path, description = "The trigger's name.")),
    responses((status = 200, description = "The trigger.", body = protocol::Trigger))
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let name = TriggerName::new(name)?;
    let trigger = admin(&state, &id, &principal, GetTrigger { name }).await?;
    targets::require_all(&principal, SEE_DEFINITIONS, [&trigger.spec.function])?;
    Ok(Json(trigger))
}

/// `DELETE /trigger/{name}`.
#[utoipa::path(
    delete,
    path = "/trigger/{name}",
    operation_id = "delete_trigger",
    tag = "triggers",
    params(("name" = String, Path, description = "The trigger's name.")),
    responses((status = 200, description = "Deleted.", body = protocol::http::Deleted))
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let name = TriggerName::new(name)?;
    if !principal.is_admin() {
        let existing = admin(&state, &id, &principal, GetTrigger { name: name.clone() }).await?;
        principal.require(Access::Deploy, &existing.spec.function.bucket)?;
    }
    admin(&state, &id, &principal, DeleteTrigger { name: name.clone() }).await?;
    Ok(Json(Deleted { deleted: name.to_string() }))
}

/// Reads a JSON definition; anything malformed is a 400 that says what.
pub async fn parse_definition<T: serde::de::DeserializeOwned>(body: Body, kind: &str) -> Result<T, ApiError> {
    let bytes = read_limited(body, DEFINITION_LIMIT, &format!("the {kind} definition")).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid {kind} definition: {e}")))
}
