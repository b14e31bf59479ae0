//! Replay: `POST /jobs/{id}/replay` and `POST /calls/{id}/replay` re-run
//! a finished job's input, or a failed sync call's kept input, against a
//! version of the function (default: its current one) as a new job whose
//! record (`replay_of`) shows how the original ended beside its own outcome.
//!
//! A replay may not act unless asked (`"side_effects": true`): its job
//! message carries `Faas-Side-Effects: none` (read-only grants, no
//! messaging publish, no outgoing HTTP) and neither the original's callback
//! nor its trigger output headers. The api does this itself, like a
//! re-drive: the input comes from the kept inputs ([`bus::KeptInputs`]).

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bus::{JobError, NewJob};
use bytes::Bytes;
use protocol::auth::Access;
use protocol::http::JobAccepted;
use protocol::replay::{ReplayOf, ReplayRequest};
use protocol::{ErrorCode, JobStatus, Target, headers};

use super::body::read_limited;
use super::jobs::{parse_id, pin_version};
use super::targets;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// A replay request is a version and a flag.
const BODY_LIMIT: usize = 4096;

/// `POST /jobs/{id}/replay`.
#[utoipa::path(
    post,
    path = "/jobs/{id}/replay",
    operation_id = "replay_job",
    tag = "jobs",
    params(("id" = String, Path, description = "The finished job's id (a uuid).")),
    request_body(content = Option<protocol::replay::ReplayRequest>, description = "The version to run (default: current) and whether the replay may act (default: no). An empty body is `{}`."),
    responses((status = 202, description = "The replay, a new job; its record's `replay_of` shows the original's outcome.", body = protocol::http::JobAccepted))
)]
pub async fn replay_job(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(job_id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let job_id = parse_id(&job_id)?;
    let request = parse_request(&read_limited(body, BODY_LIMIT, "the replay request").await?)?;
    let jobs = state.jobs().await?;
    let (record, _) = jobs.record(&job_id).await?;
    targets::require(&state, &id, &principal, &record.function, &[Access::Invoke]).await?;
    if !record.status.is_final() {
        return Err(JobError::NotFinished { id: job_id, status: record.status }.into());
    }
    let kept = jobs.kept_inputs().job(&job_id).await?;
    let version = match (&request.version, &record.function) {
        (None, _) => None,
        (Some(selector), Target::Function(function)) => {
            Some(pin_version(&state, &id, &principal, function, selector).await?)
        }
        (Some(_), Target::Pipeline(_)) => {
            return Err(ApiError::new(ErrorCode::BadRequest, "a pipeline job is replayed without a version"));
        }
    };
    let mut map = principal.headers();
    let mut callback_url = None;
    if request.side_effects {
        // The original's callback, trigger output and hops, as submitted.
        callback_url = kept.acting_headers.get(headers::CALLBACK_URL).map(|url| url.as_str().to_owned());
        for name in [headers::TRIGGER, headers::OUTPUT_SUBJECT, headers::HOPS] {
            if let Some(value) = kept.acting_headers.get(name) {
                map.insert(name, value.as_str());
            }
        }
    }
    let replay_of = ReplayOf {
        job_id: Some(job_id.clone()),
        status: Some(record.status),
        result: record.result.clone(),
        error: record.error.clone(),
        digest: record.digest.clone(),
        side_effects: request.side_effects,
        ..Default::default()
    };
    let accepted =
        submit(&state, &id, map, &record.function, version, kept.input, callback_url, &request, replay_of)
            .await?;
    if let Err(err) = jobs.add_replay(&job_id, &accepted.job_id).await {
        tracing::warn!(%err, job_id, replay = accepted.job_id, "the original job's record does not list its replay");
    }
    Ok(accepted_response(accepted))
}

/// `POST /calls/{id}/replay`.
#[utoipa::path(
    post,
    path = "/calls/{id}/replay",
    operation_id = "replay_call",
    tag = "jobs",
    params(("id" = String, Path, description = "The failed call's id, from its `x-faas-call-id` answer header.")),
    request_body(content = Option<protocol::replay::ReplayRequest>, description = "The version to run (default: current) and whether the replay may act (default: no). An empty body is `{}`."),
    responses((status = 202, description = "The replay, a new job; its record's `replay_of` shows how the call failed.", body = protocol::http::JobAccepted))
)]
pub async fn replay_call(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(call_id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let call_id = uuid::Uuid::parse_str(&call_id)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, format!("call ids are uuids, got {call_id:?}")))?;
    let request = parse_request(&read_limited(body, BODY_LIMIT, "the replay request").await?)?;
    let jobs = state.jobs().await?;
    let kept = jobs.kept_inputs().call(&call_id).await?;
    principal.require(Access::Invoke, &kept.function.bucket)?;
    let version = match &request.version {
        None => None,
        Some(selector) => Some(pin_version(&state, &id, &principal, &kept.function, selector).await?),
    };
    let replay_of = ReplayOf {
        call_id: Some(call_id),
        status: Some(JobStatus::Failed),
        error: Some(kept.error),
        digest: kept.digest,
        side_effects: request.side_effects,
        ..Default::default()
    };
    let target = Target::Function(kept.function);
    let accepted =
        submit(&state, &id, principal.headers(), &target, version, kept.input, None, &request, replay_of)
            .await?;
    Ok(accepted_response(accepted))
}

/// The body, `{}` when empty.
fn parse_request(body: &[u8]) -> Result<ReplayRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ReplayRequest::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid replay request: {e}")))
}

/// Stores the replay job: pinned to `version` if given, read-only unless
/// the request allows side effects.
#[allow(clippy::too_many_arguments)]
async fn submit(
    state: &AppState,
    id: &RequestId,
    mut map: async_nats::HeaderMap,
    target: &Target,
    version: Option<String>,
    input: Bytes,
    callback_url: Option<String>,
    request: &ReplayRequest,
    replay_of: ReplayOf,
) -> Result<JobAccepted, ApiError> {
    if let Some(version) = &version {
        map.insert(headers::VERSION, version.as_str());
    }
    if !request.side_effects {
        map.insert(headers::SIDE_EFFECTS, headers::SIDE_EFFECTS_NONE);
    }
    let job_id = uuid::Uuid::new_v4().to_string();
    let job = NewJob {
        target,
        job_id: &job_id,
        input,
        request_id: id.as_str(),
        callback_url,
        headers: map,
        fresh_id: true,
    };
    let submitted = state.jobs().await?.submit_replay(job, replay_of).await?;
    state.metrics.job_submitted("replay");
    Ok(JobAccepted {
        status_url: protocol::jobs::status_url(&job_id),
        job_id,
        status: submitted.record.status,
        duplicate: false,
    })
}

/// 202 with the replay's id and where its record is.
fn accepted_response(accepted: JobAccepted) -> Response {
    let location = HeaderValue::from_str(&accepted.status_url).ok();
    let mut response = (StatusCode::ACCEPTED, Json(accepted)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}
