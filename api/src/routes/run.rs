//! `/run/{bucket}/{function}[/{*path}]`: call an HTTP function (world
//! `wasi:http/proxy`) as the web server it is (`{function}@{version}`: a
//! kept version of it).
//!
//! The request crosses the bus as [`protocol::http_call`] describes: method,
//! path (after the function, percent-encoding as sent) and query in the
//! `Faas-Http-*` headers, every forwarded HTTP header under its own name,
//! the body as the payload, or staged in the transfer store when it does
//! not fit in one message. The handler's status, forwarded headers and
//! body come back as they are; only a failure of the platform (no
//! executor, a trap, a timeout, the wrong world) is answered with the
//! platform's JSON error, as `/exec` answers it.

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bus::{ExecReply, Responder, TransferStore};
use protocol::auth::Access;
use protocol::http_call::is_forwarded;
use protocol::{ErrorCode, headers};

use super::body::read_limited;
use super::exec::{addressed, passed_on};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// `/run/{bucket}/{function}`: the handler sees path `/`.
#[utoipa::path(
    method(get, post, put, patch, delete, head, options),
    path = "/run/{bucket}/{function}",
    operation_id = "run_function",
    tag = "calls",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The HTTP function, or `<function>@<version>` for a kept version.")),
    request_body(content = inline(crate::openapi::RawBytes), content_type = "application/octet-stream", description = "Any body, of any content type, passed to the function as sent (at most `FAAS_RUN_MAX_BODY_BYTES`, 16 MiB by default)."),
    responses((status = 200, description = "Whatever the function answers: its status (any, not only 200), headers and body, as it sent them."))
)]
pub async fn run(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path((bucket, function)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    call(&state, &id, &principal, &bucket, &function, request).await
}

/// `/run/{bucket}/{function}/`: the handler sees path `/`, as without the
/// slash (axum's `{*path}` does not match an empty rest).
#[utoipa::path(
    method(get, post, put, patch, delete, head, options),
    path = "/run/{bucket}/{function}/",
    operation_id = "run_function_slash",
    tag = "calls",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The HTTP function, or `<function>@<version>` for a kept version.")),
    request_body(content = inline(crate::openapi::RawBytes), content_type = "application/octet-stream", description = "Any body, of any content type, passed to the function as sent (at most `FAAS_RUN_MAX_BODY_BYTES`, 16 MiB by default)."),
    responses((status = 200, description = "Whatever the function answers: its status (any, not only 200), headers and body, as it sent them."))
)]
pub async fn run_slash(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path((bucket, function)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    call(&state, &id, &principal, &bucket, &function, request).await
}

/// `/run/{bucket}/{function}/{*path}`: the handler sees `/` + the path.
#[utoipa::path(
    method(get, post, put, patch, delete, head, options),
    path = "/run/{bucket}/{function}/{*path}",
    operation_id = "run_function_path",
    tag = "calls",
    params(("bucket" = String, Path, description = "The bucket."), ("function" = String, Path, description = "The HTTP function, or `<function>@<version>` for a kept version."), ("*path" = String, Path, description = "The path the function sees (after a `/`), percent-encoding kept as sent.")),
    request_body(content = inline(crate::openapi::RawBytes), content_type = "application/octet-stream", description = "Any body, of any content type, passed to the function as sent (at most `FAAS_RUN_MAX_BODY_BYTES`, 16 MiB by default)."),
    responses((status = 200, description = "Whatever the function answers: its status (any, not only 200), headers and body, as it sent them."))
)]
pub async fn run_path(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path((bucket, function, _path)): Path<(String, String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    call(&state, &id, &principal, &bucket, &function, request).await
}

async fn call(
    state: &AppState,
    id: &RequestId,
    principal: &Principal,
    bucket: &str,
    function: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let (function, version) = addressed(bucket, function)?;
    principal.require(Access::Invoke, &function.bucket)?;
    let (parts, body) = request.into_parts();

    let mut nats_headers = async_nats::HeaderMap::new();
    if let Some(version) = &version {
        nats_headers.insert(bus::header_name(headers::VERSION), version.as_str());
    }
    super::exec::pass_route_key(&parts.headers, &mut nats_headers);
    nats_headers.insert(bus::header_name(headers::HTTP_METHOD), parts.method.as_str());
    nats_headers.insert(bus::header_name(headers::HTTP_PATH), function_path(parts.uri.path()));
    if let Some(query) = parts.uri.query().filter(|q| !q.is_empty()) {
        nats_headers.insert(bus::header_name(headers::HTTP_QUERY), query);
    }
    for (name, value) in &parts.headers {
        // NATS header values are text; an HTTP value that is not (obs-text)
        // cannot travel and is left out rather than altered.
        if let (true, Ok(value)) = (is_forwarded(name.as_str()), value.to_str()) {
            nats_headers.append(name.as_str(), value);
        }
    }

    let limit = state.config.run_max_body_bytes;
    let body = read_limited(body, limit, "the request body (FAAS_RUN_MAX_BODY_BYTES)").await?;
    // The forwarded headers share the message with the body (the platform's
    // own have their room in `payload_limit`): what does not fit beside
    // them is staged.
    let forwarded_bytes: usize = nats_headers
        .iter()
        .map(|(name, values)| {
            let name: &str = name.as_ref();
            values.iter().map(|value| name.len() + value.as_str().len() + 4).sum::<usize>()
        })
        .sum();
    let room = headers::payload_limit(state.client.max_payload()).saturating_sub(forwarded_bytes);
    let mut staged = None;
    let payload = if body.len() > room {
        let transfer = state.transfer().await?;
        let object = transfer.stage(body).await?;
        nats_headers.insert(bus::header_name(headers::HTTP_BODY_STAGED), object.name.as_str());
        staged = Some((transfer, object));
        Bytes::new()
    } else {
        body
    };

    let subject = state.subjects.http(&function);
    let wait = state.config.exec_wait();
    let reply = bus::request(
        &state.calls().client,
        Responder::Executor,
        subject,
        nats_headers,
        payload,
        id.as_str(),
        wait,
    )
    .await;
    if let Some((transfer, object)) = staged {
        // The executor deletes what it read; this covers no executor, or
        // one that refused the call before reading it. Deleting twice is
        // harmless.
        transfer.discard(&object).await;
    }
    let reply = reply?;
    let passed_on = passed_on(|name| bus::header(&reply, name));
    let mut response = if bus::header(&reply, headers::STATUS) == Some(headers::STATUS_OK) {
        answer(state, reply).await?
    } else {
        let failure = ExecReply::from(reply).into_result().err();
        let failure = failure
            .map_or_else(|| ApiError::new(ErrorCode::Internal, "malformed executor reply"), ApiError::from);
        failure.into_response()
    };
    for (http_name, value) in passed_on {
        response.headers_mut().insert(http_name, value);
    }
    Ok(response)
}

/// The HTTP answer of a successful call: the handler's status, forwarded
/// headers and body.
async fn answer(state: &AppState, reply: async_nats::Message) -> Result<Response, ApiError> {
    let status = bus::header(&reply, headers::HTTP_STATUS)
        .and_then(|status| status.parse::<u16>().ok())
        .and_then(|status| StatusCode::from_u16(status).ok())
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "malformed executor reply: no HTTP status"))?;
    let body = match bus::header(&reply, headers::HTTP_BODY_STAGED) {
        Some(name) => {
            let transfer: &TransferStore = state.transfer().await?;
            Body::from_stream(transfer.take_stream(name).await?)
        }
        None => Body::from(reply.payload.clone()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let forwarded = reply.headers.iter().flat_map(|map| map.iter());
    for (name, values) in forwarded {
        let name: &str = name.as_ref();
        if !is_forwarded(name) {
            continue;
        }
        let Ok(name) = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()) else { continue };
        for value in values {
            if let Ok(value) = HeaderValue::from_str(value.as_str()) {
                response.headers_mut().append(name.clone(), value);
            }
        }
    }
    Ok(response)
}

/// The path the function sees: what follows `/run/<bucket>/<function>` in
/// the request's path as sent (percent-encoding kept), `/` when nothing.
fn function_path(uri_path: &str) -> String {
    // "", "run", bucket, function, rest
    match uri_path.splitn(5, '/').nth(4) {
        Some(rest) => format!("/{rest}"),
        None => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::function_path;

    #[test]
    fn the_function_sees_the_path_after_its_name_as_sent() {
        assert_eq!(function_path("/run/b1/f1"), "/");
        assert_eq!(function_path("/run/b1/f1/"), "/");
        assert_eq!(function_path("/run/b1/f1/a/b%20c/"), "/a/b%20c/");
        assert_eq!(function_path("/run/b%31/f1/x"), "/x");
    }
}
