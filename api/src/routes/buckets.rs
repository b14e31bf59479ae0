//! `/bucket`: list, create, configure, inspect and delete buckets.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use protocol::admin::{
    BucketList, ConfigureBucket, CreateBucket, DeleteBucket, FunctionList, ListBuckets, ListFunctions,
};
use protocol::auth::Access;
use protocol::buckets::{BucketSettings, BucketSettingsChange};
use protocol::http::{BucketFunctions, CreatedBucket, Deleted};
use protocol::{BucketName, ErrorCode};
use serde::Deserialize;

use super::body::read_limited;
use super::triggers::{DEFINITION_LIMIT, parse_definition};
use crate::auth::Principal;
use crate::bus_client::admin;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// `GET /bucket`: the buckets the token may read, with their settings.
#[utoipa::path(
    get,
    path = "/bucket",
    operation_id = "list_buckets",
    tag = "buckets",
    responses((status = 200, description = "The buckets the token may read.", body = protocol::admin::BucketList))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
) -> Result<impl IntoResponse, ApiError> {
    let BucketList { mut buckets } = admin(&state, &id, &principal, ListBuckets {}).await?;
    buckets.retain(|info| BucketName::new(&info.name).is_ok_and(|name| principal.may(Access::Read, &name)));
    Ok(Json(BucketList { buckets }))
}

/// `PUT /bucket/{bucket}`, with an optional body of settings
/// (`{"public_invoke": true}`): 201 with them; for a bucket that exists,
/// 409 without a body, or 200 once its settings are changed.
#[utoipa::path(
    put,
    path = "/bucket/{bucket}",
    operation_id = "create_bucket",
    tag = "buckets",
    params(("bucket" = String, Path, description = "The bucket.")),
    request_body(content = Option<protocol::buckets::BucketSettingsChange>, content_type = "application/json", description = "Settings (optional; at most 64 KiB)."), responses((status = 201, description = "Created, with its settings.", body = protocol::http::CreatedBucket), (status = 200, description = "It existed, and the settings sent are applied.", body = protocol::http::CreatedBucket))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(bucket): Path<String>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let bucket = BucketName::new(bucket)?;
    principal.require(Access::Deploy, &bucket)?;
    let bytes = read_limited(body, DEFINITION_LIMIT, "the bucket settings").await?;
    let change: Option<BucketSettingsChange> = if bytes.trim_ascii().is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid bucket settings: {e}")))?,
        )
    };
    if let Some(change) = &change {
        change.validate().map_err(|e| ApiError::new(ErrorCode::BadRequest, e))?;
    }
    let settings = BucketSettings::default().changed(change.clone().unwrap_or_default());
    let create = CreateBucket { bucket: bucket.clone(), settings: settings.clone() };
    match admin(&state, &id, &principal, create).await {
        Ok(_) => Ok((StatusCode::CREATED, settings_answer(&bucket, settings))),
        Err(err) if err.body().code == ErrorCode::BucketExists && change.is_some() => {
            let change = change.unwrap_or_default();
            let settings =
                admin(&state, &id, &principal, ConfigureBucket { bucket: bucket.clone(), change }).await?;
            Ok((StatusCode::OK, settings_answer(&bucket, settings)))
        }
        Err(err) => Err(err),
    }
}

/// `PATCH /bucket/{bucket}` with `{"public_invoke": bool}` and/or
/// `{"capabilities": {...}}` (the default grants of its functions that set
/// none): changes the settings named, answered once every api and executor
/// applied them.
#[utoipa::path(
    patch,
    path = "/bucket/{bucket}",
    operation_id = "configure_bucket",
    tag = "buckets",
    params(("bucket" = String, Path, description = "The bucket.")),
    request_body(content = protocol::buckets::BucketSettingsChange, content_type = "application/json", description = "The settings to change (at most 64 KiB)."), responses((status = 200, description = "The bucket's settings now.", body = protocol::http::CreatedBucket))
)]
pub async fn configure(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(bucket): Path<String>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let bucket = BucketName::new(bucket)?;
    principal.require(Access::Deploy, &bucket)?;
    let change: BucketSettingsChange = parse_definition(body, "bucket settings").await?;
    change.validate().map_err(|e| ApiError::new(ErrorCode::BadRequest, e))?;
    let settings = admin(&state, &id, &principal, ConfigureBucket { bucket: bucket.clone(), change }).await?;
    Ok(settings_answer(&bucket, settings))
}

/// A bucket and its settings, as answered.
fn settings_answer(bucket: &BucketName, settings: BucketSettings) -> Json<CreatedBucket> {
    Json(CreatedBucket {
        bucket: bucket.clone(),
        public_invoke: settings.public_invoke,
        capabilities: settings.capabilities,
    })
}

/// `GET /bucket/{bucket}`: its functions with size, etag and
/// last-modified, and its settings.
#[utoipa::path(
    get,
    path = "/bucket/{bucket}",
    operation_id = "list_functions",
    tag = "buckets",
    params(("bucket" = String, Path, description = "The bucket.")),
    responses((status = 200, description = "Its functions and settings.", body = protocol::http::BucketFunctions))
)]
pub async fn list_functions(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(bucket): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let bucket = BucketName::new(bucket)?;
    principal.require(Access::Read, &bucket)?;
    let FunctionList { functions, settings } =
        admin(&state, &id, &principal, ListFunctions { bucket: bucket.clone() }).await?;
    Ok(Json(BucketFunctions {
        bucket,
        functions,
        public_invoke: settings.public_invoke,
        capabilities: settings.capabilities,
    }))
}

/// Query of `DELETE /bucket/{bucket}`.
#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    force: Option<String>,
}

/// `DELETE /bucket/{bucket}`: 409 while it holds functions, unless `?force=true`.
#[utoipa::path(
    delete,
    path = "/bucket/{bucket}",
    operation_id = "delete_bucket",
    tag = "buckets",
    params(("bucket" = String, Path, description = "The bucket."), ("force" = Option<bool>, Query, description = "`true`: delete its functions too.")),
    responses((status = 200, description = "Deleted.", body = protocol::http::Deleted))
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(bucket): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let bucket = BucketName::new(bucket)?;
    principal.require(Access::Deploy, &bucket)?;
    let force = flag("force", query.force.as_deref())?;
    admin(&state, &id, &principal, DeleteBucket { bucket: bucket.clone(), force }).await?;
    Ok(Json(Deleted { deleted: bucket.to_string() }))
}

/// Parses a boolean query flag: absent, `true`/`1` or `false`/`0`.
pub fn flag(name: &str, value: Option<&str>) -> Result<bool, ApiError> {
    match value {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1" | "") => Ok(true),
        Some(other) => Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("query flag {name} must be true or false, got {other:?}"),
        )),
    }
}
