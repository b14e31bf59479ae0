//! `POST /exec/{bucket}/{function}`: run a function, answer `{"result": "..."}`.
//! `POST /exec/{bucket}/{function}@{version}` runs a kept version of it
//! (`Faas-Version` on the bus; the answer's `x-faas-digest` says which).
//!
//! The body is the input string. `?logs=true` (or header
//! `x-faas-include-logs: true`) adds the function's stdout and stderr to the
//! answer; they are logged by the executor either way.

use axum::Json;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use protocol::auth::Access;
use protocol::http::{self, ExecResult};
use protocol::{ErrorCode, ExecLogsReply, FunctionRef, Target, World, headers};
use serde::Deserialize;

use super::body::read_message_input;
use super::buckets::flag;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// The executor's reply headers passed on to HTTP callers, for debugging,
/// load checks and deploy checks: who ran the call, which component version
/// (sha256) ran, and whether its compiled form came from memory, the shared
/// artifact store or a compile; on a failure whose input was kept, the
/// call id to replay it with.
const PASSED_ON: [(&str, &str); 4] = [
    (headers::EXECUTOR, http::EXECUTOR_HEADER),
    (headers::DIGEST, http::DIGEST_HEADER),
    (headers::CACHE, http::CACHE_HEADER),
    (headers::CALL_ID, http::CALL_ID_HEADER),
];

/// The HTTP headers `PASSED_ON` makes of an executor's reply headers,
/// read with `header`.
pub fn passed_on<'a>(header: impl Fn(&'static str) -> Option<&'a str>) -> Vec<(&'static str, HeaderValue)> {
    PASSED_ON
        .into_iter()
        .filter_map(|(nats_name, http_name)| {
            Some((http_name, HeaderValue::from_str(header(nats_name)?).ok()?))
        })
        .collect()
}

/// The function a call route's `{function}` segment names, and the
/// version after its `@` (a digest or a prefix of 8+ hex characters, or an
/// alias name), if any.
pub fn addressed(bucket: &str, segment: &str) -> Result<(FunctionRef, Option<String>), ApiError> {
    let (name, version) = protocol::versions::split_at_version(segment);
    let function = FunctionRef::new(bucket, name)?;
    let version = version.map(protocol::aliases::check_version_or_alias).transpose()?;
    Ok((function, version))
}

/// Passes `x-faas-route-key` on as `Faas-Route-Key`: what a weighted alias
/// picks a version by.
pub fn pass_route_key(http_headers: &HeaderMap, nats_headers: &mut async_nats::HeaderMap) {
    if let Some(key) = http_headers.get(http::ROUTE_KEY_HEADER).and_then(|value| value.to_str().ok()) {
        nats_headers.insert(bus::header_name(headers::ROUTE_KEY), headers::header_safe(key).as_str());
    }
}

/// Query of an exec call.
#[derive(Debug, Deserialize)]
pub struct ExecQuery {
    logs: Option<String>,
}

/// `POST /exec/{bucket}/{function}`.
#[utoipa::path(
    post,
    path = "/exec/{bucket}/{function}",
    operation_id = "exec_function",
    tag = "calls",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The function, or `<function>@<version>` to run a kept version (its digest or a unique prefix of 8+ hex characters) or `<function>@<alias>` to run through an alias."), ("logs" = Option<bool>, Query, description = "`true`: answer with stdout and stderr too."), ("x-faas-route-key" = Option<String>, Header, description = "Sticky key for a weighted alias: the same key always runs the same version.")),
    request_body(content = inline(crate::openapi::RawBytes), content_type = "application/octet-stream", description = "The input: any bytes, handed to the function as a string (lossily UTF-8). At most the NATS server's max_payload less 4 KiB."), responses((status = 200, description = "The output (with `logs`, and stdout and stderr).", body = crate::openapi::ExecAnswer))
)]
pub async fn exec(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path((bucket, function)): Path<(String, String)>,
    Query(query): Query<ExecQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    // The request's own headers, not the `HeaderMap` extractor's copy of
    // them: this is every warm call's path.
    let (parts, body) = request.into_parts();
    let http_headers = &parts.headers;
    let (function, version) = addressed(&bucket, &function)?;
    principal.require(Access::Invoke, &function.bucket)?;
    let target = Target::Function(function);
    let include_logs = flag("logs", query.logs.as_deref())?
        || http_headers.get(http::INCLUDE_LOGS_HEADER).is_some_and(|v| v == "true");
    let input = read_message_input(&state, body, "the function input").await?;

    let mut nats_headers = async_nats::HeaderMap::new();
    // An HTTP function answers `wrong_world` naming its `/run` route, rather
    // than being run as a `POST /` as it is for triggers, jobs and pipelines.
    nats_headers.insert(bus::header_name(headers::EXPECT_WORLD), World::Exec.as_str());
    if include_logs {
        nats_headers.insert(bus::header_name(headers::INCLUDE_LOGS), "true");
    }
    if let Some(version) = &version {
        nats_headers.insert(bus::header_name(headers::VERSION), version.as_str());
    }
    pass_route_key(http_headers, &mut nats_headers);
    let reply =
        state.calls().exec.call(&target, input, nats_headers, id.as_str(), state.config.exec_wait()).await?;
    let passed_on = passed_on(|name| reply.header(name));

    let mut response = match reply.into_result() {
        Err(failure) => ApiError::from(failure).into_response(),
        Ok(output) if include_logs => {
            let logs: ExecLogsReply = serde_json::from_slice(&output)
                .map_err(|e| ApiError::new(ErrorCode::Internal, format!("malformed executor reply: {e}")))?;
            Json(logs).into_response()
        }
        Ok(output) => {
            Json(ExecResult { result: String::from_utf8_lossy(&output).into_owned() }).into_response()
        }
    };
    for (http_name, value) in passed_on {
        response.headers_mut().insert(http_name, value);
    }
    Ok(response)
}
