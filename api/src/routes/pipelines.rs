//! `/pipeline`: named lists of functions, and running them.
//!
//! Definitions go to the dispatchers, which check every step exists. A run
//! is a NATS request on `<prefix>.pipeline.<name>`, served by an executor
//! that calls each step in process: the api only waits for the last
//! output, or for the failure, which names the step and its function.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use protocol::admin::{DeletePipeline, GetPipeline, ListPipelines, PipelineList, PutPipeline};
use protocol::auth::Access;
use protocol::http::{Deleted, ExecResult};
use protocol::{ErrorCode, PipelineName, PipelineSpec, Target};

use super::body::read_message_input;
use super::targets::{self, SEE_DEFINITIONS};
use super::triggers::parse_definition;
use crate::auth::Principal;
use crate::bus_client::admin;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// `PUT /pipeline/{name}` with `{"steps": ["<bucket>/<function>", ...]}`.
#[utoipa::path(
    put,
    path = "/pipeline/{name}",
    operation_id = "put_pipeline",
    tag = "pipelines",
    params(("name" = String, Path, description = "The pipeline's name.")),
    request_body(content = protocol::PipelineSpec, content_type = "application/json", description = "Its steps (at most 64 KiB)."), responses((status = 200, description = "Stored.", body = protocol::Pipeline))
)]
pub async fn put(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let name = PipelineName::new(name)?;
    let spec: PipelineSpec = parse_definition(body, "pipeline").await?;
    spec.check().map_err(|e| ApiError::new(ErrorCode::BadRequest, e))?;
    principal.require_all(Access::Deploy, &spec.steps)?;
    // Replacing a pipeline takes deploy on what it ran before, too.
    if !principal.is_admin() {
        match admin(&state, &id, &principal, GetPipeline { name: name.clone() }).await {
            Ok(existing) => principal.require_all(Access::Deploy, &existing.spec.steps)?,
            Err(err) if err.body().code == ErrorCode::PipelineNotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(Json(admin(&state, &id, &principal, PutPipeline { name, spec }).await?))
}

/// `GET /pipeline`.
#[utoipa::path(
    get,
    path = "/pipeline",
    operation_id = "list_pipelines",
    tag = "pipelines",
    responses((status = 200, description = "The pipelines the token may see.", body = protocol::admin::PipelineList))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
) -> Result<impl IntoResponse, ApiError> {
    let PipelineList { mut pipelines } = admin(&state, &id, &principal, ListPipelines {}).await?;
    pipelines.retain(|pipeline| targets::may_all(&principal, SEE_DEFINITIONS, &pipeline.spec.steps));
    Ok(Json(PipelineList { pipelines }))
}

/// `GET /pipeline/{name}`.
#[utoipa::path(
    get,
    path = "/pipeline/{name}",
    operation_id = "get_pipeline",
    tag = "pipelines",
    params(("name" = String, Path, description = "The pipeline's name.")),
    responses((status = 200, description = "The pipeline.", body = protocol::Pipeline))
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let name = PipelineName::new(name)?;
    let pipeline = admin(&state, &id, &principal, GetPipeline { name }).await?;
    targets::require_all(&principal, SEE_DEFINITIONS, &pipeline.spec.steps)?;
    Ok(Json(pipeline))
}

/// `DELETE /pipeline/{name}`.
#[utoipa::path(
    delete,
    path = "/pipeline/{name}",
    operation_id = "delete_pipeline",
    tag = "pipelines",
    params(("name" = String, Path, description = "The pipeline's name.")),
    responses((status = 200, description = "Deleted.", body = protocol::http::Deleted))
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let name = PipelineName::new(name)?;
    if !principal.is_admin() {
        let existing = admin(&state, &id, &principal, GetPipeline { name: name.clone() }).await?;
        principal.require_all(Access::Deploy, &existing.spec.steps)?;
    }
    admin(&state, &id, &principal, DeletePipeline { name: name.clone() }).await?;
    Ok(Json(Deleted { deleted: name.to_string() }))
}

/// `POST /exec/pipeline/{name}`: runs it, answers `{"result": "..."}` with
/// the last step's output.
#[utoipa::path(
    post,
    path = "/exec/pipeline/{name}",
    operation_id = "exec_pipeline",
    tag = "calls",
    params(("name" = String, Path, description = "The pipeline's name.")),
    request_body(content = inline(crate::openapi::RawBytes), content_type = "application/octet-stream", description = "The input: any bytes, handed to the function as a string (lossily UTF-8). At most the NATS server's max_payload less 4 KiB."), responses((status = 200, description = "The last step's output. A failed step's error names it (`step`, `function`).", body = protocol::http::ExecResult))
)]
pub async fn exec(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let name = PipelineName::new(name)?;
    let target = Target::Pipeline(name);
    if !principal.is_admin() {
        principal
            .require_all(Access::Invoke, &targets::functions(&state, &id, &principal, &target).await?)?;
    }
    let input = read_message_input(&state, body, "the pipeline input").await?;
    let wait = state.config.pipeline_wait();
    let output =
        state.calls().exec.run(&target, input, async_nats::HeaderMap::new(), id.as_str(), wait).await?;
    Ok(Json(ExecResult { result: String::from_utf8_lossy(&output).into_owned() }).into_response())
}

/// `POST /async/pipeline/{name}`: runs it as a job (see `POST /async/...`).
#[utoipa::path(
    post,
    path = "/async/pipeline/{name}",
    operation_id = "submit_pipeline",
    tag = "calls",
    params(("name" = String, Path, description = "The pipeline's name.")),
    request_body(content = inline(crate::openapi::RawBytes), content_type = "application/octet-stream", description = "The input: any bytes, handed to the function as a string (lossily UTF-8). At most the NATS server's max_payload less 4 KiB."), responses((status = 202, description = "Stored as a job.", body = protocol::http::JobAccepted))
)]
pub async fn submit(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    http_headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let name = PipelineName::new(name)?;
    // A job for a pipeline that does not exist would only fail later: 404 now.
    let pipeline = admin(&state, &id, &principal, GetPipeline { name: name.clone() }).await?;
    principal.require_all(Access::Invoke, &pipeline.spec.steps)?;
    super::jobs::submit_target(&state, &id, &principal, &Target::Pipeline(name), &http_headers, body).await
}
