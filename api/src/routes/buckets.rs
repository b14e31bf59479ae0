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
use protocol::http::{BucketFunctions, Deleted};
use protocol::{BucketName, ErrorCode};
use serde::Deserialize;
use serde_json::json;

use super::body::read_limited;
use super::triggers::{DEFINITION_LIMIT, parse_definition};
use crate::auth::Principal;
use crate::bus_client::admin;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// `GET /bucket`: the buckets the token may read, with their settings.
pub async fn list(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
) -> Result<impl IntoResponse, ApiError> {
    let BucketList { mut buckets } = admin(&state, &id, &principal, ListBuckets {}).await?;
    buckets.retain(|info| BucketName::new(&info.name).is_ok_and(|name| principal.may(Access::Read, &name)));
    Ok(Json(json!({ "buckets": buckets })))
}

/// `PUT /bucket/{bucket}`, with an optional body of settings
/// (`{"public_invoke": true}`): 201 with them; for a bucket that exists,
/// 409 without a body, or 200 once its settings are changed.
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
    let settings = BucketSettings::default().changed(change.unwrap_or_default());
    match admin(&state, &id, &principal, CreateBucket { bucket: bucket.clone(), settings }).await {
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

/// `PATCH /bucket/{bucket}` with `{"public_invoke": bool}`: changes the
/// settings named, answered once every api applied them.
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
    let settings = admin(&state, &id, &principal, ConfigureBucket { bucket: bucket.clone(), change }).await?;
    Ok(settings_answer(&bucket, settings))
}

/// A bucket and its settings, as answered.
fn settings_answer(bucket: &BucketName, settings: BucketSettings) -> Json<serde_json::Value> {
    Json(json!({ "bucket": bucket, "public_invoke": settings.public_invoke }))
}

/// `GET /bucket/{bucket}`: its functions with size, etag and
/// last-modified, and its settings.
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
    Ok(Json(BucketFunctions { bucket, functions, public_invoke: settings.public_invoke }))
}

/// Query of `DELETE /bucket/{bucket}`.
#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    force: Option<String>,
}

/// `DELETE /bucket/{bucket}`: 409 while it holds functions, unless `?force=true`.
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
