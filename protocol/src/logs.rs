//! Per-call logs: what each call printed, and how it ended.
//!
//! After every call an executor publishes a [`CallLog`] in JSON on
//! `<prefix>.logs.<bucket>.<function>` ([`crate::Subjects::call_log`]):
//! the platform's record of a call that a user can read back
//! (`GET /logs/{bucket}/{function}`, `faas logs`) without having asked for
//! the logs in the call itself. The stream [`crate::JetStreamNames::logs_stream`] keeps them,
//! capped by age and bytes.

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
