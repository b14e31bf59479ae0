//! `/file/{bucket}/{function}`: upload, download and delete components,
//! and their versions (`/versions`, `?version=`).
//!
//! Bytes go through the transfer object store, never inside a message, so
//! uploads up to the configured limit (64 MiB by default) work against a
//! stock nats-server with its 1 MB max_payload.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use protocol::ErrorCode;
use protocol::admin::{DeleteFunction, DeleteVersion, GetFunction, ListVersions, PutFunction, Stored};
use protocol::http::{self as wire, Deleted, Uploaded};
use serde::Deserialize;

use super::body::read_limited;
use super::function_path::{FunctionAt, ToDeploy, ToRead};
use super::multipart;
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
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function."), ("x-faas-description" = Option<String>, Header, description = "The new version's description (at most 1 KiB), unless the multipart field `description` gives it.")),
    request_body(content((inline(crate::openapi::UploadForm) = "multipart/form-data"), (inline(crate::openapi::RawBytes) = "application/wasm")), description = "The component: a multipart field `file` (and optionally `description`), or the raw bytes (at most `FAAS_MAX_UPLOAD_BYTES`, 64 MiB by default)."), responses((status = 201, description = "Stored and checked runnable; a new version (or, for bytes already kept, the same one) and the current one.", body = protocol::http::Uploaded))
)]
pub async fn upload(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToDeploy>,
    request: Request,
) -> Result<impl IntoResponse, ApiError> {
    let limit = state.config.max_upload_bytes;
    let header_description = match request.headers().get(wire::DESCRIPTION_HEADER) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| {
                    ApiError::new(ErrorCode::BadRequest, "x-faas-description must be visible ASCII")
                })?
                .to_owned(),
        ),
    };
    let (bytes, form_description) = read_component(&state, request, limit).await?;
    let description = form_description.or(header_description);
    if let Some(description) = &description {
        protocol::versions::check_description(description)?;
    }
    if bytes.is_empty() {
        return Err(ApiError::new(ErrorCode::BadRequest, "the upload is empty"));
    }
    let transfer = state.transfer().await?;
    let staged = transfer.stage(bytes).await?;
    let result = admin(
        &state,
        &id,
        &principal,
        PutFunction { function: function.clone(), staged: staged.clone(), description },
    )
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

async fn read_component(
    state: &AppState,
    request: Request,
    limit: usize,
) -> Result<(Bytes, Option<String>), ApiError> {
    if multipart::is_multipart(&request) {
        multipart::read_file_part(state, request, limit).await
    } else {
        Ok((read_limited(request.into_body(), limit, "the upload").await?, None))
    }
}

/// Query of a download or deletion: one version instead of the function.
#[derive(Debug, Deserialize)]
pub struct VersionQuery {
    version: Option<String>,
}

impl VersionQuery {
    /// The version asked for, checked (a digest or a prefix of 8+ hex characters).
    fn version(&self) -> Result<Option<String>, ApiError> {
        Ok(self.version.as_deref().map(protocol::versions::check_selector).transpose()?)
    }
}

/// `GET /file/{bucket}/{function}`: the stored bytes.
#[utoipa::path(
    get,
    path = "/file/{bucket}/{function}",
    operation_id = "download_function",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function."), ("version" = Option<String>, Query, description = "A version instead of the current one: its digest or a unique prefix of it (at least 8 hex characters).")),
    responses((status = 200, description = "The component's bytes.", content_type = "application/wasm", body = inline(crate::openapi::RawBytes)))
)]
pub async fn download(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToRead>,
    Query(query): Query<VersionQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let version = query.version()?;
    let staged = admin(&state, &id, &principal, GetFunction { function, version }).await?;
    let bytes = state.transfer().await?.take(&staged, u64::MAX).await?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes))
}

/// `DELETE /file/{bucket}/{function}`.
#[utoipa::path(
    delete,
    path = "/file/{bucket}/{function}",
    operation_id = "delete_function",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function."), ("version" = Option<String>, Query, description = "Delete only this version (digest or unique prefix); never the current one.")),
    responses((status = 200, description = "Deleted: the function with every version, or the one version.", body = protocol::http::Deleted))
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToDeploy>,
    Query(query): Query<VersionQuery>,
) -> Result<impl IntoResponse, ApiError> {
    match query.version()? {
        Some(version) => {
            admin(
                &state,
                &id,
                &principal,
                DeleteVersion { function: function.clone(), version: version.clone() },
            )
            .await?;
            Ok(Json(Deleted { deleted: format!("{function}@{version}") }))
        }
        None => {
            admin(&state, &id, &principal, DeleteFunction { function: function.clone() }).await?;
            Ok(Json(Deleted { deleted: function.to_string() }))
        }
    }
}

/// `GET /file/{bucket}/{function}/versions`: the kept versions, newest first.
#[utoipa::path(
    get,
    path = "/file/{bucket}/{function}/versions",
    operation_id = "list_versions",
    tag = "functions",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function.")),
    responses((status = 200, description = "Every kept version, newest upload first; `current` marks the one its name runs.", body = protocol::versions::VersionList))
)]
pub async fn versions(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    FunctionAt { function, principal, .. }: FunctionAt<ToRead>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(admin(&state, &id, &principal, ListVersions { function }).await?))
}
