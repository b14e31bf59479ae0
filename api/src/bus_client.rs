//! Requests on the bus, with NATS failures mapped to api errors.
//!
//! No responders (no executor or dispatcher subscribed) is answered by the
//! server at once, so it becomes a 503 immediately rather than after a timeout.

use std::time::Duration;

use async_nats::{HeaderMap, Message, RequestErrorKind};
use bytes::Bytes;
use protocol::{AdminCommand, AdminReply, AdminRequest, ErrorCode, headers};

use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// Who is expected to answer, for error messages.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    /// An executor.
    Executor,
    /// A dispatcher.
    Dispatcher,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::Executor => "executor",
            Self::Dispatcher => "dispatcher",
        }
    }
}

/// Sends a request with the request id header and waits up to `wait`.
pub async fn request(
    state: &AppState,
    role: Role,
    subject: String,
    mut headers_out: HeaderMap,
    payload: Bytes,
    request_id: &RequestId,
    wait: Duration,
) -> Result<Message, ApiError> {
    headers_out.insert(headers::REQUEST_ID, request_id.as_str());
    let request = async_nats::Request::new().headers(headers_out).payload(payload).timeout(Some(wait));
    state.client.send_request(subject, request).await.map_err(|err| match err.kind() {
        RequestErrorKind::NoResponders => ApiError::new(
            ErrorCode::Unavailable,
            format!("no {} is available to take the request", role.name()),
        ),
        RequestErrorKind::TimedOut => ApiError::new(
            ErrorCode::Timeout,
            format!("no answer from a {} within {} s", role.name(), wait.as_secs()),
        ),
        RequestErrorKind::MaxPayloadExceeded => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the request exceeds the NATS server's max_payload: {err}"),
        ),
        RequestErrorKind::InvalidSubject => {
            ApiError::new(ErrorCode::BadRequest, format!("invalid subject: {err}"))
        }
        RequestErrorKind::Other => {
            ApiError::new(ErrorCode::Unavailable, format!("NATS request failed: {err}"))
        }
    })
}

/// A reply header's value.
pub fn reply_header(reply: &Message, name: &str) -> Option<String> {
    reply.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_owned())
}

/// The error an exec-format reply (executors, pipelines) carries: `None`
/// for `Faas-Status: ok`, else its `Faas-Error-Code` and message.
pub fn reply_error(reply: &Message) -> Option<ApiError> {
    if reply_header(reply, headers::STATUS).as_deref() == Some(headers::STATUS_OK) {
        return None;
    }
    let code =
        reply_header(reply, headers::ERROR_CODE).map(|c| ErrorCode::parse(&c)).unwrap_or(ErrorCode::Internal);
    Some(ApiError::from(protocol::ErrorBody::new(code, String::from_utf8_lossy(&reply.payload))))
}

/// Sends an admin command to a dispatcher and returns its answer.
pub async fn admin<C: AdminCommand>(
    state: &AppState,
    request_id: &RequestId,
    command: C,
) -> Result<C::Reply, ApiError> {
    let subject = state.subjects.admin(C::COMMAND);
    let command: AdminRequest = command.into();
    let payload = serde_json::to_vec(&command).expect("admin commands always serialise");
    let wait = state.config.admin_wait();
    let reply =
        request(state, Role::Dispatcher, subject, HeaderMap::new(), payload.into(), request_id, wait).await?;
    let reply: AdminReply<C::Reply> = serde_json::from_slice(&reply.payload)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("malformed dispatcher reply: {e}")))?;
    Result::from(reply).map_err(ApiError::from)
}
