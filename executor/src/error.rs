//! Why a call failed, one variant per error code a caller sees.

use engine::CompileRefused;
use protocol::ErrorCode;
use storage::StorageError;

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Loading the component from storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Compiling after a cache miss hit a limit of the compile pool.
    #[error(transparent)]
    Compile(#[from] CompileRefused),
    /// The stored bytes do not compile or link as a faas component.
    #[error("invalid component: {0}")]
    InvalidComponent(String),
    /// The guest trapped.
    #[error("function trapped: {0}")]
    Trapped(String),
    /// The guest grew memory past the cap.
    #[error("function exceeded its memory limit of {limit_mib} MiB")]
    MemoryLimit {
        /// The cap in MiB.
        limit_mib: usize,
    },
    /// The guest wrote more than may be captured.
    #[error("function wrote more than {limit} bytes to stdout or stderr")]
    LogLimit {
        /// The cap in bytes.
        limit: usize,
    },
    /// The guest ran out of time.
    #[error("function timed out after {limit_ms} ms")]
    Timeout {
        /// The limit in milliseconds.
        limit_ms: u64,
    },
    /// The output does not fit in a reply.
    #[error("function output of {size} bytes exceeds the limit of {limit} bytes")]
    OutputTooLarge {
        /// Output size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The input is not UTF-8 (the WIT signature takes a string).
    #[error("input is not valid UTF-8: {0}")]
    InvalidInput(String),
    /// The instance pool had no free slot for this call (others hold them):
    /// retryable, and no fault of the component.
    #[error("executor busy: no free instance slot ({0}); retry")]
    PoolExhausted(String),
    /// An HTTP body could not be taken from or staged in the transfer store.
    #[error(transparent)]
    Transfer(#[from] bus::TransferError),
    /// The function is of the other world than the route called (the
    /// message names the right one).
    #[error("{0}")]
    WrongWorld(String),
    /// An HTTP function called as an exec function answered a non-2xx status.
    #[error("HTTP {status}: {body}")]
    HttpStatus {
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The function's secrets cannot be opened here (no or another
    /// `FAAS_SECRETS_KEY`): retryable, another executor may have the key.
    #[error("function secrets unavailable: {0}")]
    Secrets(String),
    /// The function's `max_concurrency` calls are running across all
    /// executors: refused, not queued.
    #[error("{function} already runs its max_concurrency of {max} calls; retry later")]
    ConcurrencyLimited {
        /// The function.
        function: String,
        /// Its limit.
        max: u32,
    },
    /// The component imports a host capability its configuration does not
    /// grant: refused before it starts.
    #[error("{message}")]
    CapabilityNotGranted {
        /// The first capability missing.
        capability: protocol::Capability,
        /// What is missing and how to grant it.
        message: String,
    },
    /// The request's `Faas-Version` is malformed or ambiguous
    /// (`bad_request`), names no kept version (`version_not_found`), or the
    /// versions could not be read (`unavailable`).
    #[error("{}", .0.message)]
    Version(protocol::ErrorBody),
    /// The function's configuration or concurrency slots could not be read.
    #[error("function configuration unavailable: {0}")]
    ConfigUnavailable(String),
    /// A request on a subject of the executors' that names no valid
    /// function or pipeline (a NATS client's typo, say).
    #[error("not a valid function or pipeline subject: {0}")]
    InvalidSubject(String),
    /// Anything else; a bug.
    #[error("internal executor error: {0}")]
    Internal(String),
}

impl ExecError {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Storage(err) => err.code(),
            Self::Compile(err) => err.code(),
            Self::InvalidComponent(_) => ErrorCode::InvalidComponent,
            Self::Trapped(_) => ErrorCode::FunctionTrapped,
            Self::MemoryLimit { .. } => ErrorCode::MemoryLimitExceeded,
            Self::LogLimit { .. } => ErrorCode::LogLimitExceeded,
            Self::Timeout { .. } => ErrorCode::FunctionTimeout,
            Self::OutputTooLarge { .. } => ErrorCode::OutputTooLarge,
            Self::InvalidInput(_) => ErrorCode::BadRequest,
            Self::PoolExhausted(_) => ErrorCode::Unavailable,
            Self::Transfer(err) => err.code(),
            Self::WrongWorld(_) => ErrorCode::WrongWorld,
            Self::HttpStatus { .. } => ErrorCode::FunctionHttpError,
            Self::Secrets(_) | Self::ConfigUnavailable(_) => ErrorCode::Unavailable,
            Self::ConcurrencyLimited { .. } => ErrorCode::ConcurrencyLimited,
            Self::CapabilityNotGranted { .. } => ErrorCode::CapabilityNotGranted,
            Self::Version(body) => body.code,
            Self::InvalidSubject(_) => ErrorCode::InvalidName,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}
