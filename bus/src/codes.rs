//! The wire code of each of this crate's errors, decided once.
//!
//! Every bus error may end in a reply to a caller (an HTTP answer, an admin
//! reply, a job record), so each type has one `code()`, as
//! `storage::StorageError` does, and converts into an [`ErrorBody`]: the api
//! and the dispatcher cannot give one failure two different codes.

use protocol::{ErrorBody, ErrorCode};

use crate::definitions::DefinitionError;
use crate::jobs::JobError;
use crate::registry::RegistryError;
use crate::tokens::TokenStoreError;
use crate::transfer::TransferError;

impl TransferError {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } => ErrorCode::PayloadTooLarge,
            // A staged object is named by the platform, not the caller: one
            // that is gone expired or was raced, and the transfer can be
            // retried from the start.
            Self::Missing(_) | Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Full(err) => err.code(),
        }
    }
}

impl JobError {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unavailable(_) | Self::Conflict(_) => ErrorCode::Unavailable,
            Self::QueueFull(_) => ErrorCode::QueueFull,
            Self::StoreFull(err) => err.code(),
            Self::NotFound(_) => ErrorCode::JobNotFound,
            Self::NotFailed { .. } => ErrorCode::BadRequest,
            Self::InputNotKept(_) => ErrorCode::InputNotKept,
            Self::CallNotFound(_) => ErrorCode::CallNotFound,
            Self::NotFinished { .. } => ErrorCode::JobNotFinished,
        }
    }
}

impl RegistryError {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unavailable(_) | Self::WatchersBehind { .. } | Self::Changed(_) => ErrorCode::Unavailable,
            Self::Full(err) => err.code(),
            // Only a dispatcher writes entries: anything else is a bug.
            Self::Malformed { .. } => ErrorCode::Internal,
        }
    }
}

impl DefinitionError {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { kind: "trigger", .. } => ErrorCode::TriggerNotFound,
            Self::NotFound { kind: "pipeline", .. } => ErrorCode::PipelineNotFound,
            Self::NotFound { kind: "function-config", .. } => ErrorCode::FunctionNotFound,
            Self::NotFound { kind: "version", .. } => ErrorCode::VersionNotFound,
            Self::NotFound { kind: "shadow", .. } => ErrorCode::ShadowNotFound,
            // A store of another kind needs its own not-found code.
            Self::NotFound { .. } => ErrorCode::Internal,
            Self::Unavailable { .. } | Self::FollowersBehind { .. } => ErrorCode::Unavailable,
            Self::Full(err) => err.code(),
        }
    }
}

impl TokenStoreError {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unavailable(_) | Self::WatchersBehind { .. } => ErrorCode::Unavailable,
            Self::Full(err) => err.code(),
        }
    }
}

macro_rules! into_error_body {
    ($($error:ty),*) => {
        $(
            impl From<$error> for ErrorBody {
                fn from(err: $error) -> Self {
                    ErrorBody::new(err.code(), err.to_string())
                }
            }
        )*
    };
}
into_error_body!(TransferError, JobError, RegistryError, DefinitionError, TokenStoreError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_staged_object_is_retryable() {
        assert_eq!(TransferError::Missing("x".into()).code(), ErrorCode::Unavailable);
        let body = ErrorBody::from(TransferError::TooLarge { size: 2, limit: 1 });
        assert_eq!(body.code, ErrorCode::PayloadTooLarge);
        assert!(body.message.contains("limit of 1 bytes"), "{}", body.message);
    }

    #[test]
    fn definitions_not_found_name_their_kind() {
        let missing = |kind| DefinitionError::NotFound { kind, name: "x".into() }.code();
        assert_eq!(missing("trigger"), ErrorCode::TriggerNotFound);
        assert_eq!(missing("pipeline"), ErrorCode::PipelineNotFound);
    }
}
