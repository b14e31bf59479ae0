//! Exec replies as they go on the wire.
//!
//! Success: status `ok` and the raw output as payload (or a JSON
//! [`protocol::ExecLogsReply`] when logs were asked for). Failure: status
//! `error`, the code in a header and the message as payload. Both carry the
//! request id and
//! the id of the executor that ran the call.

use async_nats::HeaderMap;
use bytes::Bytes;
use protocol::{ExecLogsReply, headers};

use crate::error::ExecError;
use crate::runtime::CallOutput;

/// Headers and payload of a successful call.
pub fn success(
    request_id: &str,
    executor_id: &str,
    output: CallOutput,
    include_logs: bool,
) -> (HeaderMap, Bytes) {
    let mut map = base(request_id, executor_id, headers::STATUS_OK);
    if include_logs {
        map.insert("Content-Type", "application/json");
        let body = ExecLogsReply { result: output.result, stdout: output.stdout, stderr: output.stderr };
        let json = serde_json::to_vec(&body).expect("strings always serialise");
        (map, Bytes::from(json))
    } else {
        (map, Bytes::from(output.result))
    }
}

/// Headers and payload of a failed call.
pub fn failure(request_id: &str, executor_id: &str, error: &ExecError) -> (HeaderMap, Bytes) {
    let mut map = base(request_id, executor_id, headers::STATUS_ERROR);
    map.insert(headers::ERROR_CODE, error.code().as_str());
    (map, Bytes::from(error.to_string()))
}

fn base(request_id: &str, executor_id: &str, status: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(headers::REQUEST_ID, request_id);
    map.insert(headers::EXECUTOR, executor_id);
    map.insert(headers::STATUS, status);
    map
}
