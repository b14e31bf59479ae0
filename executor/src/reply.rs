//! Exec replies as they go on the wire.
//!
//! The format itself (status, error code, message) is
//! [`bus::encode_reply`], shared with the executor's pipelines and the
//! dispatcher's triggers; an executor adds its own id to every reply, and on success
//! with logs asked for, sends a JSON [`protocol::ExecLogsReply`] instead of
//! the raw output. That reply must fit in one message like any other: the
//! logs give way (cut, and marked so), never the result.

use async_nats::HeaderMap;
use bytes::Bytes;
use protocol::{ErrorBody, ExecLogsReply, headers};

use crate::error::ExecError;
use crate::runtime::CallOutput;

/// What an exec call answers: the output bytes (an exec function's string,
/// or an HTTP function's body when called as an exec function) and its logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The output.
    pub result: Bytes,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
}

impl From<CallOutput> for Output {
    fn from(CallOutput { result, stdout, stderr }: CallOutput) -> Self {
        Self { result: Bytes::from(result), stdout, stderr }
    }
}

/// Headers and payload of a successful call, the payload at most `limit`
/// bytes; an error when the result alone does not fit.
pub fn success(
    request_id: &str,
    executor_id: &str,
    output: Output,
    include_logs: bool,
    limit: usize,
) -> Result<(HeaderMap, Bytes), ExecError> {
    let payload = if include_logs { Bytes::from(logs_body(output, limit)?) } else { output.result };
    let (mut map, payload) = bus::encode_reply(request_id, Ok(payload));
    if include_logs {
        map.insert(bus::header_name(headers::CONTENT_TYPE), headers::CONTENT_TYPE_JSON);
    }
    map.insert(bus::header_name(headers::EXECUTOR), executor_id);
    Ok((map, payload))
}

/// Headers and payload of a failed call.
pub fn failure(request_id: &str, executor_id: &str, error: &ExecError) -> (HeaderMap, Bytes) {
    let body = ErrorBody::new(error.code(), error.to_string());
    let (mut map, payload) = bus::encode_reply(request_id, Err(body.into()));
    map.insert(bus::header_name(headers::EXECUTOR), executor_id);
    (map, payload)
}

/// The JSON reply with logs, cut to fit in `limit` bytes.
fn logs_body(output: Output, limit: usize) -> Result<Vec<u8>, ExecError> {
    let encode = |body: &ExecLogsReply| serde_json::to_vec(body).expect("strings always serialise");
    let Output { result, stdout, stderr } = output;
    // JSON carries text: an HTTP function's binary body is shown lossily.
    let result = String::from_utf8_lossy(&result).into_owned();
    let whole = ExecLogsReply { result, stdout, stderr, logs_truncated: false };
    let encoded = encode(&whole);
    if encoded.len() <= limit {
        return Ok(encoded);
    }
    let ExecLogsReply { result, stdout, stderr, .. } = whole;
    let bare = ExecLogsReply { result, stdout: String::new(), stderr: String::new(), logs_truncated: true };
    let room = limit.checked_sub(encode(&bare).len()).ok_or_else(|| ExecError::OutputTooLarge {
        // JSON escaping made the result itself too large.
        size: encode(&bare).len(),
        limit,
    })?;
    // Each log gets half the room, and what the other leaves unused.
    let stderr_share = json_len(&stderr).min(room / 2);
    let stdout_kept = cut_to_json_len(&stdout, room - stderr_share);
    let stderr_kept = cut_to_json_len(&stderr, room - json_len(stdout_kept));
    let body = ExecLogsReply { stdout: stdout_kept.to_owned(), stderr: stderr_kept.to_owned(), ..bare };
    Ok(encode(&body))
}

/// Bytes `c` takes inside a JSON string as serde_json writes it.
fn json_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

fn json_len(text: &str) -> usize {
    text.chars().map(json_char_len).sum()
}

/// The longest start of `text` that takes at most `max` bytes in JSON.
fn cut_to_json_len(text: &str, max: usize) -> &str {
    let mut used = 0;
    for (at, c) in text.char_indices() {
        used += json_char_len(c);
        if used > max {
            return &text[..at];
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(result: &str, stdout: &str, stderr: &str) -> Output {
        Output {
            result: Bytes::copy_from_slice(result.as_bytes()),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    fn decode(body: &[u8]) -> ExecLogsReply {
        serde_json::from_slice(body).unwrap()
    }

    #[test]
    fn logs_that_fit_are_sent_whole() {
        let body = logs_body(output("r", "out\n", "err\"\n"), 1000).unwrap();
        let reply = decode(&body);
        assert_eq!(
            (reply.stdout.as_str(), reply.stderr.as_str(), reply.logs_truncated),
            ("out\n", "err\"\n", false)
        );
    }

    #[test]
    fn logs_too_large_are_cut_to_fit_and_marked() {
        let noisy = "line \"quoted\" \u{1} é\n".repeat(2000);
        for limit in [200, 1000, 5000, 20_000] {
            let body = logs_body(output("the result", &noisy, &noisy), limit).unwrap();
            assert!(body.len() <= limit, "{} > {limit}", body.len());
            let reply = decode(&body);
            assert_eq!(reply.result, "the result");
            assert!(reply.logs_truncated);
            assert!(noisy.starts_with(&reply.stdout) && noisy.starts_with(&reply.stderr));
            assert!(body.len() + 30 > limit, "the room is used: {} of {limit}", body.len());
        }
        // A quiet stderr leaves its share to stdout.
        let reply = decode(&logs_body(output("r", &noisy, "e"), 1000).unwrap());
        assert_eq!(reply.stderr, "e");
        assert!(json_len(&reply.stdout) > 850, "{}", json_len(&reply.stdout));
    }

    #[test]
    fn a_result_that_does_not_fit_is_an_error_not_a_cut() {
        let escaped = "\u{1}".repeat(300);
        let err = logs_body(output(&escaped, "", ""), 1000).unwrap_err();
        assert!(matches!(err, ExecError::OutputTooLarge { limit: 1000, .. }), "{err:?}");
    }
}
