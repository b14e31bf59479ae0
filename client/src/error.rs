//! The one error of every client call: the platform answered with an
//! error, or it could not be reached, or its answer made no sense.

use protocol::ErrorCode;
use protocol::http::ErrorDetail;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The api answered with an error: its status, code and message.
    #[error("{} ({status}): {}", detail.body.code, detail.body.message)]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error body: code, message, and a pipeline's failed step.
        detail: ErrorDetail,
        /// The request id the api gave the call (`x-request-id`), to find
        /// its log lines.
        request_id: Option<String>,
    },
    /// The api could not be reached, or the connection broke.
    #[error("cannot reach {url}: {reason}")]
    Connection {
        /// The URL called.
        url: String,
        /// What failed, with its causes.
        reason: String,
        /// Whether the connection was refused (nothing listens there).
        refused: bool,
    },
    /// The base URL is not an http(s) URL.
    #[error("invalid api URL {0:?}: expected http://host[:port] or https://...")]
    InvalidUrl(String),
    /// The token cannot be sent in a header (it is not printable ASCII).
    #[error("the token is not printable ASCII: is it the whole token, as the api printed it?")]
    InvalidToken,
    /// The api answered something that is not what this client expects
    /// (another server on that port, or a version mismatch).
    #[error("unexpected answer from {url} ({status}): {reason}")]
    UnexpectedAnswer {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
}

impl Error {
    /// The platform's error code, when the platform answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api { detail, .. } => Some(detail.body.code),
            _ => None,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::UnexpectedAnswer { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A failed request: a connection failure, with the causes spelled out
    /// (reqwest's own message says only "error sending request").
    pub(crate) fn connection(url: &str, err: &reqwest::Error) -> Self {
        let mut reason = err.to_string();
        let mut refused = false;
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
            }
            reason = format!("{reason}: {cause}");
            source = cause.source();
        }
        Self::Connection { url: url.to_owned(), reason, refused }
    }
}
