//! Machine-readable error codes shared by every role.
//!
//! An executor or dispatcher puts a code on its error reply; the api turns it
//! into an HTTP status. Codes are stable strings, so clients can match on them.

use serde::{Deserialize, Serialize};

/// Declares [`ErrorCode`] with each code's wire string written once: the
/// serde names, [`ErrorCode::as_str`], [`ErrorCode::parse`] and
/// [`ErrorCode::ALL`] all come from the same list.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// Every failure a caller can act on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &[ErrorCode] = &[$(Self::$variant),*];

            /// The code as it appears in headers and JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// Parses a code from a header; unknown codes (from a newer peer) are `Internal`.
            pub fn parse(code: &str) -> Self {
                match code {
                    $($name => Self::$variant,)*
                    _ => Self::Internal,
                }
            }
        }
    };
}

error_codes! {
    /// A bucket or function name breaks the naming rule.
    InvalidName = "invalid_name",
    /// The request is malformed (missing multipart field, bad flag, ...).
    BadRequest = "bad_request",
    /// The bucket does not exist.
    BucketNotFound = "bucket_not_found",
    /// The function does not exist in its bucket.
    FunctionNotFound = "function_not_found",
    /// The bucket to create exists already.
    BucketExists = "bucket_exists",
    /// The bucket to delete still holds functions.
    BucketNotEmpty = "bucket_not_empty",
    /// A body or message is larger than the configured or transport limit.
    PayloadTooLarge = "payload_too_large",
    /// The upload is not a component exporting `exec: func(string) -> string`.
    InvalidComponent = "invalid_component",
    /// The guest trapped (panic, unreachable, ...).
    FunctionTrapped = "function_trapped",
    /// The guest tried to grow linear memory beyond its cap.
    MemoryLimitExceeded = "memory_limit_exceeded",
    /// The guest wrote more stdout/stderr than may be captured.
    LogLimitExceeded = "log_limit_exceeded",
    /// The guest's output is larger than the reply may carry.
    OutputTooLarge = "output_too_large",
    /// The guest ran past its wall-clock limit.
    FunctionTimeout = "function_timeout",
    /// No executor or dispatcher answered, or a dependency is down.
    Unavailable = "unavailable",
    /// A request on the bus got no answer in time.
    Timeout = "timeout",
    /// No job with that id (never submitted, or its record expired).
    JobNotFound = "job_not_found",
    /// The job queue, or this function's share of it, is full: retry later.
    QueueFull = "queue_full",
    /// No trigger with that name.
    TriggerNotFound = "trigger_not_found",
    /// No pipeline with that name.
    PipelineNotFound = "pipeline_not_found",
    /// A trigger's subject or output subject is malformed or reserved.
    InvalidSubject = "invalid_subject",
    /// A trigger or pipeline names a function that is not stored.
    UnknownFunction = "unknown_function",
    /// An event passed through more trigger links than allowed (a cycle).
    HopLimitExceeded = "hop_limit_exceeded",
    /// The object store failed.
    StorageError = "storage_error",
    /// A bug or an unexpected failure.
    Internal = "internal",
    /// Compiling the component needs more than the configured limit (time).
    CompileLimitExceeded = "compile_limit_exceeded",
    /// No such route: the api serves nothing at that path.
    NotFound = "not_found",
    /// The client sent its request body too slowly (idle or total body timeout).
    RequestTimeout = "request_timeout",
    /// Defining the trigger would pass `FAAS_MAX_TRIGGERS` or
    /// `FAAS_MAX_TRIGGERS_PER_SUBJECT`.
    TooManyTriggers = "too_many_triggers",
    /// An event's chain of triggers ran as many functions as its budget
    /// (`FAAS_EVENT_BUDGET`) allows, fan-out counted.
    FanOutExceeded = "fan_out_exceeded",
    /// A JetStream store reached its byte cap; the message names the store.
    StorageFull = "storage_full",
    /// No bearer token, or one that is unknown, revoked or expired.
    Unauthenticated = "unauthenticated",
    /// The token is valid but lacks the scope the request needs (named in the message).
    Forbidden = "forbidden",
    /// No api token with that id (never created, or revoked).
    TokenNotFound = "token_not_found",
    /// An admin command arrived on the subject of another command.
    CommandMismatch = "command_mismatch",
    /// A trigger's schedule is not a cron expression, or its time zone is unknown.
    InvalidSchedule = "invalid_schedule",
    /// The path exists, but not with this HTTP method.
    MethodNotAllowed = "method_not_allowed",
    /// The function exists but is of the other world: an HTTP handler called
    /// through `/exec` or an exec function through `/run` (the message names
    /// the right route).
    WrongWorld = "wrong_world",
    /// An HTTP function answered a trigger, job or pipeline step with a
    /// non-2xx status (the message carries the status).
    FunctionHttpError = "function_http_error",
    /// The function's `max_concurrency` calls are running across all
    /// executors: retry later.
    ConcurrencyLimited = "concurrency_limited",
    /// A guest's outgoing HTTP request went to a host its configuration does
    /// not allow, or to an address the SSRF rules refuse.
    HttpOutgoingDenied = "http_outgoing_denied",
    /// The component imports a host capability (`wasi:keyvalue`,
    /// `wasi:blobstore`, `wasmcloud:messaging`) its configuration does not
    /// grant; the message names the interface and how to grant it.
    CapabilityNotGranted = "capability_not_granted",
    /// The function has no version with that digest (or digest prefix).
    VersionNotFound = "version_not_found",
    /// The version is the function's current one, or an alias (or an
    /// alias's weight) points at it, and cannot be deleted.
    VersionInUse = "version_in_use",
    /// The function is not being shadowed (`GET /file/{b}/{f}/shadow`).
    ShadowNotFound = "shadow_not_found",
    /// The function has no alias of that name.
    AliasNotFound = "alias_not_found",
    /// `rollback` found no earlier version of `current` still kept.
    NoRollbackTarget = "no_rollback_target",
    /// No kept input under that call id (never kept, or expired).
    CallNotFound = "call_not_found",
    /// The job's input is no longer kept, so it cannot be replayed.
    InputNotKept = "input_not_kept",
    /// The job is still queued or running: only a finished job is replayed.
    JobNotFinished = "job_not_finished",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as it travels in JSON: `{"code": "...", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong, for machines.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ErrorBody {
    /// Builds an error body.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_strings() {
        // `ALL` comes from the same list as the enum: every code is covered.
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code:?} shares its string");
            assert_eq!(ErrorCode::parse(code.as_str()), code);
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert_eq!(serde_json::from_value::<ErrorCode>(code.as_str().into()).unwrap(), code);
        }
        assert_eq!(ErrorCode::parse("from_the_future"), ErrorCode::Internal);
    }
}
