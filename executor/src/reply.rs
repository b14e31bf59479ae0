//! Exec replies as they go on the wire.
//!
//! The format itself (status, error code, message) is
//! [`bus::encode_reply`], shared with the dispatcher's pipelines and
//! triggers; an executor adds its own id to every reply, and on success
//! with logs asked for, sends a JSON [`protocol::ExecLogsReply`] instead of
//! the raw output.

use async_nats::HeaderMap;
use bytes::Bytes;
use protocol::{ErrorBody, ExecLogsReply, headers};

use crate::error::ExecError;
use crate::runtime::CallOutput;

/// Headers and payload of a successful call.
pub fn success(
    request_id: &str,
    executor_id: &str,
    output: CallOutput,
    include_logs: bool,
) -> (HeaderMap, Bytes) {
    let payload = if include_logs {
        let body = ExecLogsReply { result: output.result, stdout: output.stdout, stderr: output.stderr };
        Bytes::from(serde_json::to_vec(&body).expect("strings always serialise"))
    } else {
        Bytes::from(output.result)
    };
    let (mut map, payload) = bus::encode_reply(request_id, Ok(payload));
    if include_logs {
        map.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
    }
    map.insert(headers::EXECUTOR, executor_id);
    (map, payload)
}

/// Headers and payload of a failed call.
pub fn failure(request_id: &str, executor_id: &str, error: &ExecError) -> (HeaderMap, Bytes) {
    let body = ErrorBody::new(error.code(), error.to_string());
    let (mut map, payload) = bus::encode_reply(request_id, Err(body.into()));
    map.insert(headers::EXECUTOR, executor_id);
    (map, payload)
}
