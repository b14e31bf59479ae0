//! Per-call logs: what each call printed, and how it ended.
//!
//! After every call an executor records a [`CallLog`] on
//! `<prefix>.logs.<bucket>.<function>` ([`crate::Subjects::call_log`]):
//! the platform's record of a call that a user can read back
//! (`GET /logs/{bucket}/{function}`, `faas logs`) without having asked for
//! the logs in the call itself. The stream [`crate::JetStreamNames::logs_stream`] keeps them,
//! capped by age and bytes.
//!
//! Logs travel in batches: one message holds one function's logs of a
//! moment, as newline-delimited JSON (one [`CallLog`] per line,
//! [`crate::headers::CONTENT_TYPE_NDJSON`]), because a message per call
//! cost the server and the executor CPU on every call (about 13 µs of a
//! warm call's). A message of one JSON object and no newline, as executors
//! published before, is a batch of one line, so [`batch_logs`] reads both.

use serde::{Deserialize, Serialize};

use crate::audit::Outcome;

/// One call, as published on `<prefix>.logs.<bucket>.<function>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallLog {
    /// When the call ended, in Unix milliseconds.
    pub at_ms: u64,
    /// The call's request id.
    pub request_id: String,
    /// The function's bucket.
    pub bucket: String,
    /// The function's name.
    pub function: String,
    /// sha256 of the component version that ran, when one was loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The id of the executor that ran it.
    pub executor: String,
    /// `"ok"` or `{"error": "<code>"}`.
    pub outcome: Outcome,
    /// How long the call took in the executor (load and run), in milliseconds.
    pub duration_ms: u64,
    /// What it wrote to stdout (lossily decoded as UTF-8).
    pub stdout: String,
    /// What it wrote to stderr (lossily decoded as UTF-8).
    pub stderr: String,
    /// Whether stdout or stderr was cut (from its end) to the executor's
    /// cap per stream (`FAAS_CALL_LOG_MAX_BYTES`).
    #[serde(default)]
    pub truncated: bool,
}

/// Appends `log` to a batch as one line: its JSON, then a newline (JSON
/// escapes every newline inside a string, so a line is exactly one log).
pub fn push_line(batch: &mut Vec<u8>, log: &CallLog) {
    serde_json::to_writer(&mut *batch, log).expect("call logs always serialise");
    batch.push(b'\n');
}

/// The logs of one message on a log subject, in order: each non-blank line
/// that decodes as a [`CallLog`]; a line that does not is skipped, as a
/// reader skips what it cannot read rather than losing the rest.
pub fn batch_logs(payload: &[u8]) -> impl Iterator<Item = CallLog> + '_ {
    payload
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .filter_map(|line| serde_json::from_slice(line).ok())
}

/// The longest start of `text` of at most `max` bytes, cut on a character
/// boundary, and whether anything was cut.
pub fn truncate(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("hello", 10), ("hello", false));
        assert_eq!(truncate("hello", 5), ("hello", false));
        assert_eq!(truncate("hello", 3), ("hel", true));
        // `é` takes two bytes: a cut in its middle keeps neither.
        assert_eq!(truncate("aé", 2), ("a", true));
        assert_eq!(truncate("é", 0), ("", true));
    }

    fn log(request_id: &str) -> CallLog {
        CallLog {
            at_ms: 1,
            request_id: request_id.into(),
            bucket: "b".into(),
            function: "f".into(),
            digest: None,
            executor: "e".into(),
            outcome: Outcome::Ok,
            duration_ms: 2,
            stdout: "line one\nline two\n".into(),
            stderr: String::new(),
            truncated: false,
        }
    }

    #[test]
    fn a_batch_is_one_log_per_line_in_order() {
        let mut batch = Vec::new();
        for id in ["r1", "r2", "r3"] {
            push_line(&mut batch, &log(id));
        }
        // Output with newlines stays on its log's line.
        assert_eq!(batch.iter().filter(|b| **b == b'\n').count(), 3);
        let ids: Vec<String> = batch_logs(&batch).map(|log| log.request_id).collect();
        assert_eq!(ids, ["r1", "r2", "r3"]);
        assert_eq!(batch_logs(&batch).next().unwrap(), log("r1"));
    }

    #[test]
    fn an_old_single_log_message_and_odd_lines_are_read() {
        // Before batches: one object, no newline.
        let old = serde_json::to_vec(&log("old")).unwrap();
        let ids: Vec<String> = batch_logs(&old).map(|log| log.request_id).collect();
        assert_eq!(ids, ["old"]);
        // Blank lines, CRLF and a line that is not a log are passed over.
        let mut mixed = b"\n  \n{not json}\n".to_vec();
        mixed.extend_from_slice(&old);
        mixed.extend_from_slice(b"\r\n");
        push_line(&mut mixed, &log("new"));
        let ids: Vec<String> = batch_logs(&mixed).map(|log| log.request_id).collect();
        assert_eq!(ids, ["old", "new"]);
        assert_eq!(batch_logs(b"").count(), 0);
    }

    #[test]
    fn a_failed_call_carries_its_code() {
        let log = CallLog {
            at_ms: 1,
            request_id: "r".into(),
            bucket: "b".into(),
            function: "f".into(),
            digest: None,
            executor: "e".into(),
            outcome: Outcome::Error(ErrorCode::FunctionTrapped),
            duration_ms: 2,
            stdout: String::new(),
            stderr: "boom".into(),
            truncated: false,
        };
        let value = serde_json::to_value(&log).unwrap();
        assert_eq!(value["outcome"], serde_json::json!({"error": "function_trapped"}));
        assert!(value.get("digest").is_none());
        assert_eq!(serde_json::from_value::<CallLog>(value).unwrap(), log);
    }
}
