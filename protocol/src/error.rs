//! Machine-readable error codes shared by every role.
//!
//! An executor or dispatcher puts a code on its error reply; the api turns it
//! into an HTTP status. Codes are stable strings, so clients can match on them.

use serde::{Deserialize, Serialize};

/// Every failure a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A bucket or function name breaks the naming rule.
    InvalidName,
    /// The request is malformed (missing multipart field, bad flag, ...).
    BadRequest,
    /// The bucket does not exist.
    BucketNotFound,
    /// The function does not exist in its bucket.
    FunctionNotFound,
    /// The bucket to create exists already.
    BucketExists,
    /// The bucket to delete still holds functions.
    BucketNotEmpty,
    /// A body or message is larger than the configured or transport limit.
    PayloadTooLarge,
    /// The upload is not a component exporting `exec: func(string) -> string`.
    InvalidComponent,
    /// The guest trapped (panic, unreachable, ...).
    FunctionTrapped,
    /// The guest tried to grow linear memory beyond its cap.
    MemoryLimitExceeded,
    /// The guest wrote more stdout/stderr than may be captured.
    LogLimitExceeded,
    /// The guest's output is larger than the reply may carry.
    OutputTooLarge,
    /// The guest ran past its wall-clock limit.
    FunctionTimeout,
    /// No executor or dispatcher answered, or a dependency is down.
    Unavailable,
    /// A request on the bus got no answer in time.
    Timeout,
    /// No job with that id (never submitted, or its record expired).
    JobNotFound,
    /// The job queue, or this function's share of it, is full: retry later.
    QueueFull,
    /// No trigger with that name.
    TriggerNotFound,
    /// No pipeline with that name.
    PipelineNotFound,
    /// A trigger's subject or output subject is malformed or reserved.
    InvalidSubject,
    /// A trigger or pipeline names a function that is not stored.
    UnknownFunction,
    /// An event passed through more trigger links than allowed (a cycle).
    HopLimitExceeded,
    /// The object store failed.
    StorageError,
    /// A bug or an unexpected failure.
    Internal,
}

impl ErrorCode {
    /// The code as it appears in headers and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidName => "invalid_name",
            Self::BadRequest => "bad_request",
            Self::BucketNotFound => "bucket_not_found",
            Self::FunctionNotFound => "function_not_found",
            Self::BucketExists => "bucket_exists",
            Self::BucketNotEmpty => "bucket_not_empty",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidComponent => "invalid_component",
            Self::FunctionTrapped => "function_trapped",
            Self::MemoryLimitExceeded => "memory_limit_exceeded",
            Self::LogLimitExceeded => "log_limit_exceeded",
            Self::OutputTooLarge => "output_too_large",
            Self::FunctionTimeout => "function_timeout",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::JobNotFound => "job_not_found",
            Self::QueueFull => "queue_full",
            Self::TriggerNotFound => "trigger_not_found",
            Self::PipelineNotFound => "pipeline_not_found",
            Self::InvalidSubject => "invalid_subject",
            Self::UnknownFunction => "unknown_function",
            Self::HopLimitExceeded => "hop_limit_exceeded",
            Self::StorageError => "storage_error",
            Self::Internal => "internal",
        }
    }

    /// Parses a code from a header; unknown codes (from a newer peer) are `Internal`.
    pub fn parse(code: &str) -> Self {
        serde_json::from_value(serde_json::Value::String(code.to_owned())).unwrap_or(Self::Internal)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as it travels in JSON: `{"code": "...", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
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
        for code in [
            ErrorCode::InvalidName,
            ErrorCode::MemoryLimitExceeded,
            ErrorCode::FunctionTimeout,
            ErrorCode::JobNotFound,
            ErrorCode::QueueFull,
            ErrorCode::UnknownFunction,
            ErrorCode::HopLimitExceeded,
        ] {
            assert_eq!(ErrorCode::parse(code.as_str()), code);
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        assert_eq!(ErrorCode::parse("from_the_future"), ErrorCode::Internal);
    }
}
