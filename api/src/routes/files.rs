//! `/file/{bucket}/{function}`: upload, download and delete components.
//!
//! Bytes go through the transfer object store, never inside a message, so
//! uploads up to the configured limit (64 MiB by default) work against a
//! stock nats-server with its 1 MB max_payload.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use protocol::admin::{DeleteFunction, GetFunction, PutFunction, Stored};
use protocol::auth::Access;
use protocol::http::{Deleted, Uploaded};
use protocol::{ErrorCode, FunctionRef};

use super::body::read_limited;
use super::multipart;
use crate::auth::Principal;
use crate::bus_client::admin;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// `POST /file/{bucket}/{function}`: multipart field `file`, or a raw body.
#[utoipa::path(
    post,
    path = "/file/{bucket}/{function}",
    operation_id = "upload_function",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    request_body(content((inline(crate::openapi::UploadForm) = "multipart/form-data"), (inline(crate::openapi::RawBytes) = "application/wasm")), description = "The component: a multipart field `file`, or the raw bytes (at most `FAAS_MAX_UPLOAD_BYTES`, 64 MiB by default)."), responses((status = 201, description = "Stored and checked runnable.", body = protocol::http::Uploaded))
)]
pub async fn upload(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path((bucket, function)): Path<(String, String)>,
    request: Request,
) -> Result<impl IntoResponse, ApiError> {
    let function = FunctionRef::new(&bucket, &function)?;
    principal.require(Access::Deploy, &function.bucket)?;
    let limit = state.config.max_upload_bytes;
    let bytes = read_component(&state, request, limit).await?;
    if bytes.is_empty() {
        return Err(ApiError::new(ErrorCode::BadRequest, "the upload is empty"));
    }
    let transfer = state.transfer().await?;
    let staged = transfer.stage(bytes).await?;
    let result =
        admin(&state, &id, &principal, PutFunction { function: function.clone(), staged: staged.clone() })
            .await;
    match result {
        Ok(Stored { function: info, digest }) => Ok((
            StatusCode::CREATED,
            Json(Uploaded {
                bucket: function.bucket,
                function: function.function,
                size: info.size,
                etag: info.etag,
                last_modified: info.last_modified,
                digest,
                world: info.world,
            }),
        )),
        Err(err) => {
            // No dispatcher took the object: do not leave it to expire.
            transfer.discard(&staged).await;
            Err(err)
        }
    }
}

async fn read_component(state: &AppState, request: Request, limit: usize) -> Result<Bytes, ApiError> {
    if multipart::is_multipart(&request) {
        multipart::read_file_part(state, request, limit).await
    } else {
        read_limited(request.into_body(), limit, "the upload").await
    }
}

/// `GET /file/{bucket}/{function}`: the stored bytes.
#[utoipa::path(
    get,
    path = "/file/{bucket}/{function}",
    operation_id = "download_function",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    responses((status = 200, description = "The component's bytes.", content_type = "application/wasm", body = inline(crate::openapi::RawBytes)))
)]
pub async fn download(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path((bucket, function)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let function = FunctionRef::new(&bucket, &function)?;
    principal.require(Access::Read, &function.bucket)?;
    let staged = admin(&state, &id, &principal, GetFunction { function }).await?;
    let bytes = state.transfer().await?.take(&staged, u64::MAX).await?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes))
}

/// `DELETE /file/{bucket}/{function}`.
#[utoipa::path(
    delete,
    path = "/file/{bucket}/{function}",
    operation_id = "delete_function",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    responses((status = 200, description = "Deleted.", body = protocol::http::Deleted))
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path((bucket, function)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let function = FunctionRef::new(&bucket, &function)?;
    principal.require(Access::Deploy, &function.bucket)?;
    admin(&state, &id, &principal, DeleteFunction { function: function.clone() }).await?;
    Ok(Json(Deleted { deleted: function.to_string() }))
}
