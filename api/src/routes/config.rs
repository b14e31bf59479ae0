//! `/config/{bucket}/{function}`: a function's environment, secrets and
//! limits.
//!
//! This is the one place a secret is in clear outside an executor's
//! memory: the handler seals each secret with the platform key
//! (`FAAS_SECRETS_KEY`) before the configuration leaves for the
//! dispatcher, and answers with the secrets' names only.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::response::IntoResponse;
use protocol::ErrorCode;
use protocol::admin::{DeleteFunctionConfig, GetFunctionConfig, PutFunctionConfig};
use protocol::function_config::{FunctionConfig, FunctionConfigUpdate, MAX_CONFIG_BYTES};

use super::body::read_limited;
use super::function_path::{FunctionAt, ToDeploy, ToRead};
use crate::bus_client::admin;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// The largest body: the configuration's cap, with room for JSON's quotes
/// and escapes.
const BODY_LIMIT: usize = 2 * MAX_CONFIG_BYTES;

/// `PUT /config/{bucket}/{function}`: replaces the configuration (a secret
/// sent as `null` keeps its value); answered once every executor applied it.
#[utoipa::path(
    put,
    path = "/config/{bucket}/{function}",
    operation_id = "put_function_config",
    tag = "config",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    request_body(content = protocol::function_config::FunctionConfig, content_type = "application/json", description = "The whole configuration (at most 64 KiB of names and values)."),
    responses((status = 200, description = "The configuration now; secrets by name only.", body = protocol::function_config::FunctionConfigView))
)]
pub async fn put(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToDeploy>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let bytes = read_limited(body, BODY_LIMIT, "the function configuration").await?;
    let config: FunctionConfig = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid function configuration: {e}")))?;
    config.validate().map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    let limits = config.limits();
    let FunctionConfig { env, secrets, .. } = config;
    let mut sealed = BTreeMap::new();
    for (name, value) in secrets {
        let value = match value {
            None => None,
            Some(value) => {
                let key = state.config.secrets_key.as_ref().ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::Unavailable,
                        "this api has no FAAS_SECRETS_KEY, so it cannot store secrets; set one (the same on \
                         every api and executor)",
                    )
                })?;
                Some(
                    key.seal(&function, &name, &value)
                        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?,
                )
            }
        };
        sealed.insert(name, value);
    }
    let update = FunctionConfigUpdate { env, secrets: sealed, limits };
    let view = admin(&state, &id, &principal, PutFunctionConfig { function, config: update }).await?;
    Ok(Json(view))
}

/// `GET /config/{bucket}/{function}`: the configuration, secrets by name.
#[utoipa::path(
    get,
    path = "/config/{bucket}/{function}",
    operation_id = "get_function_config",
    tag = "config",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    responses((status = 200, description = "The configuration; secrets by name only.", body = protocol::function_config::FunctionConfigView))
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToRead>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(admin(&state, &id, &principal, GetFunctionConfig { function }).await?))
}

/// `DELETE /config/{bucket}/{function}`: back to the defaults; answered
/// once every executor applied it.
#[utoipa::path(
    delete,
    path = "/config/{bucket}/{function}",
    operation_id = "delete_function_config",
    tag = "config",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    responses((status = 200, description = "The defaults, now in force.", body = protocol::function_config::FunctionConfigView))
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToDeploy>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(admin(&state, &id, &principal, DeleteFunctionConfig { function }).await?))
}
