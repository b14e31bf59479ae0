//! Every error the api answers with, as JSON with a stable code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use protocol::pipelines::FailedStep;
use protocol::{ErrorBody, ErrorCode, NameError};

/// An error response: `{"error": {"code": "...", "message": "..."}}`, plus
/// `"step"` and `"function"` when a pipeline step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{body}")]
pub struct ApiError {
    body: ErrorBody,
    status: StatusCode,
    failed_step: Option<FailedStep>,
}

impl ApiError {
    /// An error with this code and message, and the code's status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::from(ErrorBody::new(code, message))
    }

    /// The same error, naming the pipeline step that failed.
    pub fn with_failed_step(mut self, step: FailedStep) -> Self {
        self.failed_step = Some(step);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }
}

/// The one mapping from wire codes to HTTP statuses.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidName | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::BucketNotFound
        | ErrorCode::FunctionNotFound
        | ErrorCode::JobNotFound
        | ErrorCode::TriggerNotFound
        | ErrorCode::PipelineNotFound
        | ErrorCode::VersionNotFound
        | ErrorCode::ShadowNotFound
        | ErrorCode::AliasNotFound
        | ErrorCode::CallNotFound
        | ErrorCode::InputNotKept => StatusCode::NOT_FOUND,
        ErrorCode::JobNotFinished => StatusCode::CONFLICT,
        ErrorCode::InvalidSubject => StatusCode::BAD_REQUEST,
        ErrorCode::InvalidSchedule => StatusCode::BAD_REQUEST,
        ErrorCode::UnknownFunction => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::HopLimitExceeded => StatusCode::LOOP_DETECTED,
        ErrorCode::QueueFull => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::BucketExists
        | ErrorCode::BucketNotEmpty
        | ErrorCode::VersionInUse
        | ErrorCode::NoRollbackTarget => StatusCode::CONFLICT,
        ErrorCode::PayloadTooLarge | ErrorCode::OutputTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::InvalidComponent => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::FunctionTrapped
        | ErrorCode::MemoryLimitExceeded
        | ErrorCode::LogLimitExceeded
        | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::FunctionTimeout | ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Unavailable | ErrorCode::StorageError => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::CompileLimitExceeded => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::TooManyTriggers => StatusCode::CONFLICT,
        ErrorCode::FanOutExceeded => StatusCode::LOOP_DETECTED,
        ErrorCode::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::TokenNotFound => StatusCode::NOT_FOUND,
        ErrorCode::CommandMismatch => StatusCode::BAD_REQUEST,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::WrongWorld => StatusCode::BAD_REQUEST,
        ErrorCode::FunctionHttpError => StatusCode::BAD_GATEWAY,
        ErrorCode::ConcurrencyLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::HttpOutgoingDenied | ErrorCode::CapabilityNotGranted => StatusCode::FORBIDDEN,
    }
}

impl From<ErrorBody> for ApiError {
    fn from(body: ErrorBody) -> Self {
        Self { status: status_of(body.code), body, failed_step: None }
    }
}

impl From<NameError> for ApiError {
    fn from(err: NameError) -> Self {
        Self::from(ErrorBody::from(err))
    }
}

impl From<bus::TransferError> for ApiError {
    fn from(err: bus::TransferError) -> Self {
        Self::from(ErrorBody::from(err))
    }
}

impl From<bus::RegistryError> for ApiError {
    fn from(err: bus::RegistryError) -> Self {
        Self::from(ErrorBody::from(err))
    }
}

impl From<bus::TokenStoreError> for ApiError {
    fn from(err: bus::TokenStoreError) -> Self {
        Self::from(ErrorBody::from(err))
    }
}

impl From<bus::JobError> for ApiError {
    fn from(err: bus::JobError) -> Self {
        Self::from(ErrorBody::from(err))
    }
}

impl From<bus::ExecFailure> for ApiError {
    fn from(failure: bus::ExecFailure) -> Self {
        Self { failed_step: failure.failed_step, ..Self::from(failure.error) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!(self.body);
        if let Some(FailedStep { step, function }) = self.failed_step {
            error["step"] = step.into();
            error["function"] = function.to_string().into();
        }
        let mut response = (self.status, Json(serde_json::json!({ "error": error }))).into_response();
        // A function at its max_concurrency is refused, not queued: tell
        // the client when a slot may be free again.
        if self.body.code == ErrorCode::ConcurrencyLimited {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}
