//! The log of one call, as the executor publishes it after replying.
//!
//! Every call (an exec request from the api, a job, a trigger or a
//! pipeline step: all are exec requests) leaves a
//! [`protocol::logs::CallLog`] on its function's log subject, so its
//! output can be read back later without the caller having asked for it.
//! Each stream is cut to the configured cap, and never past what fits in
//! one NATS message, so a log is never refused for its size.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protocol::FunctionRef;
use protocol::audit::Outcome;
use protocol::logs::{CallLog, truncate};

/// Bytes of a message kept for a log's fields other than stdout and
/// stderr (ids, names, digest, JSON punctuation and escapes aside).
const ENVELOPE_ROOM: usize = 8 << 10;

/// What is known of a call when it ended.
pub struct Call<'a> {
    /// Its request id.
    pub request_id: &'a str,
    /// The executor that ran it.
    pub executor: &'a str,
    /// The function called.
    pub function: &'a FunctionRef,
    /// The component version that ran, if one was loaded.
    pub digest: Option<&'a str>,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub duration: Duration,
    /// What it wrote to stdout.
    pub stdout: &'a str,
    /// What it wrote to stderr.
    pub stderr: &'a str,
}

impl Call<'_> {
    /// The log of this call, each stream cut to `max_bytes`, and to half of
    /// what a message of `payload_limit` bytes leaves for them.
    ///
    /// JSON escaping may make a log's payload larger than its streams'
    /// bytes; a log that still does not fit is refused by the server and
    /// logged by the publisher, the call unaffected.
    pub fn log(&self, max_bytes: usize, payload_limit: usize) -> CallLog {
        let cap = max_bytes.min(payload_limit.saturating_sub(ENVELOPE_ROOM) / 2);
        let (stdout, stdout_cut) = truncate(self.stdout, cap);
        let (stderr, stderr_cut) = truncate(self.stderr, cap);
        CallLog {
            at_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            request_id: self.request_id.to_owned(),
            bucket: self.function.bucket.to_string(),
            function: self.function.function.to_string(),
            digest: self.digest.map(str::to_owned),
            executor: self.executor.to_owned(),
            outcome: self.outcome,
            duration_ms: self.duration.as_millis() as u64,
            stdout: stdout.to_owned(),
            stderr: stderr.to_owned(),
            truncated: stdout_cut || stderr_cut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ErrorCode;

    fn call<'a>(function: &'a FunctionRef, stdout: &'a str, stderr: &'a str) -> Call<'a> {
        Call {
            request_id: "r1",
            executor: "e1",
            function,
            digest: Some("d1"),
            outcome: Outcome::Error(ErrorCode::FunctionTrapped),
            duration: Duration::from_millis(7),
            stdout,
            stderr,
        }
    }

    #[test]
    fn a_log_names_the_call_and_keeps_its_output_whole_when_it_fits() {
        let function = FunctionRef::new("bk1", "fn1").unwrap();
        let log = call(&function, "out\n", "err\n").log(16, 1 << 20);
        assert_eq!((log.bucket.as_str(), log.function.as_str()), ("bk1", "fn1"));
        assert_eq!((log.stdout.as_str(), log.stderr.as_str(), log.truncated), ("out\n", "err\n", false));
        assert_eq!((log.duration_ms, log.digest.as_deref()), (7, Some("d1")));
        assert_eq!(log.outcome, Outcome::Error(ErrorCode::FunctionTrapped));
    }

    #[test]
    fn each_stream_is_cut_to_the_cap_and_to_the_message() {
        let function = FunctionRef::new("bk1", "fn1").unwrap();
        let log = call(&function, &"o".repeat(100), "e").log(10, 1 << 20);
        assert_eq!((log.stdout.len(), log.stderr.as_str(), log.truncated), (10, "e", true));
        // A cap beyond the message is cut to what fits.
        let log = call(&function, &"o".repeat(100_000), "").log(1 << 20, 32 << 10);
        assert_eq!(log.stdout.len(), 12 << 10);
        assert!(log.truncated);
    }
}
