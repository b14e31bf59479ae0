//! `POST /exec/{bucket}/{function}`: run a function, answer `{"result": "..."}`.
//!
//! The body is the input string. `?logs=true` (or header
//! `x-faas-include-logs: true`) adds the function's stdout and stderr to the
//! answer; they are logged by the executor either way.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use protocol::{ErrorCode, ExecLogsReply, FunctionRef, headers};
use serde::Deserialize;
use serde_json::json;

use super::body::read_message_input;
use super::buckets::flag;
use crate::bus_client::{Role, reply_error, reply_header, request};
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// The executor's reply headers passed on to HTTP callers, for debugging,
/// load checks and deploy checks: who ran the call, which component version
/// (sha256) ran, and whether its compiled form came from memory, the shared
/// artifact store or a compile.
const PASSED_ON: [(&str, &str); 3] = [
    (headers::EXECUTOR, "x-faas-executor"),
    (headers::DIGEST, "x-faas-digest"),
    (headers::CACHE, "x-faas-cache"),
];

/// Query of an exec call.
#[derive(Debug, Deserialize)]
pub struct ExecQuery {
    logs: Option<String>,
}

/// `POST /exec/{bucket}/{function}`.
pub async fn exec(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Path((bucket, function)): Path<(String, String)>,
    Query(query): Query<ExecQuery>,
    http_headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let function = FunctionRef::new(&bucket, &function)?;
    let include_logs = flag("logs", query.logs.as_deref())?
        || http_headers.get("x-faas-include-logs").is_some_and(|v| v == "true");
    let input = read_message_input(&state, body, "the function input").await?;

    let mut nats_headers = async_nats::HeaderMap::new();
    if include_logs {
        nats_headers.insert(headers::INCLUDE_LOGS, "true");
    }
    let subject = state.subjects.exec(&function);
    let reply =
        request(&state, Role::Executor, subject, nats_headers, input, &id, state.config.exec_wait()).await?;

    let mut response = if let Some(error) = reply_error(&reply) {
        error.into_response()
    } else if include_logs {
        let logs: ExecLogsReply = serde_json::from_slice(&reply.payload)
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("malformed executor reply: {e}")))?;
        Json(json!(logs)).into_response()
    } else {
        Json(json!({ "result": String::from_utf8_lossy(&reply.payload) })).into_response()
    };
    for (nats_name, http_name) in PASSED_ON {
        if let Some(value) = reply_header(&reply, nats_name).and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(http_name, value);
        }
    }
    Ok(response)
}
