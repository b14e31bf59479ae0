//! `/bucket`: list, create, inspect and delete buckets.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use protocol::admin::{BucketList, CreateBucket, DeleteBucket, FunctionList, ListBuckets, ListFunctions};
use protocol::auth::Access;
use protocol::http::{BucketFunctions, Deleted};
use protocol::{BucketName, ErrorCode};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Principal;
use crate::bus_client::admin;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// `GET /bucket`: the buckets the token may read.
pub async fn list(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
) -> Result<impl IntoResponse, ApiError> {
    let BucketList { mut buckets } = admin(&state, &id, &principal, ListBuckets {}).await?;
    buckets.retain(|info| BucketName::new(&info.name).is_ok_and(|name| principal.may(Access::Read, &name)));
    Ok(Json(json!({ "buckets": buckets })))
}

/// `PUT /bucket/{bucket}`: 201, or 409 when it exists.
pub async fn create(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(bucket): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let bucket = BucketName::new(bucket)?;
    principal.require(Access::Deploy, &bucket)?;
    admin(&state, &id, &principal, CreateBucket { bucket: bucket.clone() }).await?;
    Ok((StatusCode::CREATED, Json(json!({ "bucket": bucket }))))
}

/// `GET /bucket/{bucket}`: its functions with size, etag and last-modified.
pub async fn list_functions(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(bucket): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let bucket = BucketName::new(bucket)?;
    principal.require(Access::Read, &bucket)?;
    let FunctionList { functions } =
        admin(&state, &id, &principal, ListFunctions { bucket: bucket.clone() }).await?;
    Ok(Json(BucketFunctions { bucket, functions }))
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
