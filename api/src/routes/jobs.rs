//! Asynchronous jobs: submit a call, get a job id at once, poll its record.
//!
//! `POST /async/{bucket}/{function}` answers 202 only once the job is stored
//! durably in the jobs stream, so a 202 is never given for a job that could
//! be lost; a full queue is a 429. With an `Idempotency-Key` header the job
//! id is derived from the key and the function, so a retried POST finds the
//! job it created before instead of creating a second one.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bus::NewJob;
use protocol::admin::ListVersions;
use protocol::audit::{self, AuditEvent, Outcome};
use protocol::auth::Access;
use protocol::http::{self, JobAccepted, JobList};
use protocol::{ErrorCode, FunctionRef, JobRecord, JobStatus, Target};
use serde::Deserialize;

use super::body::read_message_input;
use super::targets;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// Namespace of job ids derived from idempotency keys.
const IDEMPOTENCY_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5f6b_1c2e_8d3a_4e7b_9c1d_2a3b_4c5d_6e7f);

/// `POST /async/{bucket}/{function}`.
#[utoipa::path(
    post,
    path = "/async/{bucket}/{function}",
    operation_id = "submit_job",
    tag = "calls",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function, or `<function>@<version>` to run a kept version (resolved to its full digest now).")),
    request_body(content = inline(crate::openapi::RawBytes), content_type = "application/octet-stream", description = "The input: any bytes, handed to the function as a string (lossily UTF-8). At most the NATS server's max_payload less 4 KiB."), responses((status = 202, description = "Stored as a job (or, with the same `Idempotency-Key`, the earlier one).", body = protocol::http::JobAccepted))
)]
pub async fn submit(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path((bucket, function)): Path<(String, String)>,
    http_headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (function, version) = super::exec::addressed(&bucket, &function)?;
    principal.require(Access::Invoke, &function.bucket)?;
    // A job for a function that is not deployed could only fail later: 404
    // now, before anything is stored. The registry has an entry for every
    // function the dispatcher stored; the api's copy of it answers without
    // a round trip.
    let Some(entry) = state.deployed.entry(&state, &function).await? else {
        return Err(ApiError::new(
            ErrorCode::FunctionNotFound,
            format!("no function {function} is deployed"),
        ));
    };
    // The same for a version, which is pinned by its full digest: a job
    // runs what was named when it was accepted (through an alias: the
    // version it picked then).
    let mut pinned = None;
    if let Some(alias) = version.as_deref().filter(|v| protocol::aliases::is_alias_shaped(v)) {
        let key = http_headers.get(http::ROUTE_KEY_HEADER).and_then(|value| value.to_str().ok());
        pinned = Some(super::aliases::pick(&function, &entry, alias, key)?);
    } else if let Some(selector) = version {
        pinned = Some(pin_version(&state, &id, &principal, &function, &selector).await?);
    }
    submit_with(&state, &id, &principal, &Target::Function(function), &http_headers, pinned, body).await
}

/// Stores a job for `target` from an HTTP request: idempotency key,
/// callback URL and input as `POST /async/...` takes them.
pub async fn submit_target(
    state: &AppState,
    id: &RequestId,
    principal: &Principal,
    target: &Target,
    http_headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    submit_with(state, id, principal, target, http_headers, None, body).await
}

/// [`submit_target`], the job pinned to the function's version `version`
/// (a full digest) when one is given.
async fn submit_with(
    state: &AppState,
    id: &RequestId,
    principal: &Principal,
    target: &Target,
    http_headers: &HeaderMap,
    version: Option<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let key = http_headers.get(http::IDEMPOTENCY_KEY_HEADER);
    let job_id = job_id(target, key)?;
    let callback_url = match http_headers.get(http::CALLBACK_URL_HEADER) {
        None => None,
        Some(value) => {
            let url = value.to_str().map_err(|_| bad_callback("it is not ASCII"))?;
            protocol::callbacks::check_url(url).map_err(|e| bad_callback(&e))?;
            Some(url.to_owned())
        }
    };
    let input = read_message_input(state, body, "the job input").await?;
    let mut job_headers = principal.headers();
    if let Some(version) = &version {
        job_headers.insert(protocol::headers::VERSION, version.as_str());
    }
    let job = NewJob {
        target,
        job_id: &job_id,
        input,
        request_id: id.as_str(),
        callback_url,
        headers: job_headers,
        // Without a key the id is a fresh uuid.
        fresh_id: key.is_none(),
    };
    let submitted = match state.jobs().await?.submit(job).await {
        Ok(submitted) => submitted,
        Err(err) => {
            state.metrics.job_submitted(err.code().as_str());
            return Err(err.into());
        }
    };
    state.metrics.job_submitted(if submitted.duplicate { "duplicate" } else { "accepted" });
    let status_url = protocol::jobs::status_url(&job_id);
    let body = JobAccepted {
        job_id,
        status_url: status_url.clone(),
        status: submitted.record.status,
        duplicate: submitted.duplicate,
    };
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&status_url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn bad_callback(why: &str) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, format!("invalid X-Callback-Url: {why}"))
}

/// A fresh uuid, or one derived from the client's idempotency key.
fn job_id(target: &Target, key: Option<&HeaderValue>) -> Result<String, ApiError> {
    let Some(key) = key else { return Ok(uuid::Uuid::new_v4().to_string()) };
    let key =
        key.to_str().ok().filter(|k| (1..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
    let key = key.ok_or_else(|| {
        ApiError::new(ErrorCode::BadRequest, "Idempotency-Key must be 1 to 128 visible ASCII characters")
    })?;
    Ok(uuid::Uuid::new_v5(&IDEMPOTENCY_NAMESPACE, format!("{target}\n{key}").as_bytes()).to_string())
}

/// Who may see a job's record: `read` or `invoke` on what it runs.
const SEE_JOBS: &[Access] = &[Access::Read, Access::Invoke];

/// `GET /jobs/{id}`: the job's record.
#[utoipa::path(
    get,
    path = "/jobs/{id}",
    operation_id = "get_job",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id (a uuid).")),
    responses((status = 200, description = "The job's record.", body = protocol::JobRecord))
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(job_id): Path<String>,
) -> Result<Json<JobRecord>, ApiError> {
    let job_id = parse_id(&job_id)?;
    let (record, _) = state.jobs().await?.record(&job_id).await?;
    targets::require(&state, &id, &principal, &record.function, SEE_JOBS).await?;
    Ok(Json(record))
}

/// Query of `GET /jobs`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
}

/// `GET /jobs[?status=failed][&limit=100]`: records, newest first, of
/// the jobs the token may see. The failed ones are the dead letters an
/// operator re-drives.
#[utoipa::path(
    get,
    path = "/jobs",
    operation_id = "list_jobs",
    tag = "jobs",
    params(("status" = Option<protocol::JobStatus>, Query, description = "Only jobs in this status."), ("limit" = Option<usize>, Query, description = "At most this many (1 to 1000, default 100).")),
    responses((status = 200, description = "Records the token may see, newest first.", body = protocol::http::JobList))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(JobStatus::parse(text).ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("status must be queued, running, succeeded or failed, got {text:?}"),
            )
        })?),
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let mut jobs = state.jobs().await?.list(status, limit).await?;
    if !principal.is_admin() {
        // One check per target, not per job: a pipeline's costs a request.
        let mut seen = std::collections::HashMap::new();
        let mut visible = Vec::with_capacity(jobs.len());
        for job in jobs {
            let target = job.function.to_string();
            let may = match seen.get(&target) {
                Some(&may) => may,
                None => {
                    let may =
                        targets::require(&state, &id, &principal, &job.function, SEE_JOBS).await.is_ok();
                    seen.insert(target, may);
                    may
                }
            };
            if may {
                visible.push(job);
            }
        }
        jobs = visible;
    }
    Ok(Json(JobList { jobs }).into_response())
}

/// `POST /jobs/{id}/redrive`: queue a failed job again with its input.
/// The api does this itself, so it audits it (`redrive_job`) once the
/// caller was found allowed to.
#[utoipa::path(
    post,
    path = "/jobs/{id}/redrive",
    operation_id = "redrive_job",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id (a uuid).")),
    responses((status = 202, description = "Queued again with its dead-lettered input; its record now.", body = protocol::JobRecord))
)]
pub async fn redrive(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(job_id): Path<String>,
) -> Result<Response, ApiError> {
    let job_id = parse_id(&job_id)?;
    let (record, _) = state.jobs().await?.record(&job_id).await?;
    targets::require(&state, &id, &principal, &record.function, &[Access::Invoke]).await?;
    let redriven = state.jobs().await?.redrive(&job_id, id.as_str(), principal.headers()).await;
    let event = AuditEvent {
        at_ms: protocol::jobs::now_ms(),
        request_id: id.as_str().to_owned(),
        action: audit::REDRIVE_JOB.to_owned(),
        principal: principal.audited(),
        target: audit::Target::job(&job_id, &record.function),
        outcome: Outcome::of(&redriven, bus::JobError::code),
    };
    bus::audit::record(&state.client, &state.subjects, &event).await;
    Ok((StatusCode::ACCEPTED, Json(redriven?)).into_response())
}

pub(super) fn parse_id(text: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(text)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, format!("job ids are uuids, got {text:?}")))
}

/// `selector` resolved to the full digest of one of `function`'s versions.
pub(super) async fn pin_version(
    state: &AppState,
    id: &RequestId,
    principal: &Principal,
    function: &FunctionRef,
    selector: &str,
) -> Result<String, ApiError> {
    let selector = protocol::versions::check_selector(selector)?;
    let listed =
        crate::bus_client::admin(state, id, principal, ListVersions { function: function.clone() }).await?;
    Ok(protocol::versions::resolve(function, &selector, listed.versions.iter().map(|v| v.digest.as_str()))?)
}

#[cfg(test)]
mod tests {
    use protocol::FunctionRef;

    use super::*;

    #[test]
    fn idempotency_keys_give_one_id_per_function_and_key() {
        let hello = Target::Function(FunctionRef::new("functions", "hello").unwrap());
        let other = Target::Function(FunctionRef::new("functions", "other").unwrap());
        let key = HeaderValue::from_static("order-42");
        let first = job_id(&hello, Some(&key)).unwrap();
        assert_eq!(first, job_id(&hello, Some(&key)).unwrap());
        assert_ne!(first, job_id(&other, Some(&key)).unwrap());
        assert_ne!(job_id(&hello, None).unwrap(), job_id(&hello, None).unwrap());
        let bad = HeaderValue::from_static("has space");
        assert!(job_id(&hello, Some(&bad)).is_err());
    }
}
