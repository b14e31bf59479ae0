//! Why a command failed, the exit code that says so, and a hint at what
//! to do about it.
//!
//! Exit codes: 0 ok, 1 the platform answered with an error (or a build or
//! local file failed), 2 usage error, 3 the platform could not be reached.

use std::process::ExitCode;

use crate::args::Output;

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// A call to the platform failed.
    #[error(transparent)]
    Platform(#[from] client::Error),
    /// A job ended as failed.
    #[error("job {job_id} failed: {error}")]
    JobFailed {
        /// The job.
        job_id: String,
        /// Its error.
        error: protocol::ErrorBody,
    },
    /// Something on this machine failed: a build, a file.
    #[error(transparent)]
    Local(#[from] anyhow::Error),
}

impl Failure {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// The process's exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Usage(_) | Self::Platform(client::Error::InvalidUrl(_) | client::Error::InvalidToken) => 2,
            Self::Platform(client::Error::Connection { .. }) => 3,
            Self::Platform(_) | Self::JobFailed { .. } | Self::Local(_) => 1,
        })
    }

    /// What the user might do about it.
    pub fn hint(&self) -> Option<String> {
        let status = match self {
            Self::Platform(client::Error::Connection { refused: true, url, .. }) => {
                return Some(format!(
                    "nothing answers at {url}: is scripts/up.sh running? (or point --url / FAAS_URL at the api)"
                ));
            }
            Self::Platform(err) => err.status()?,
            _ => return None,
        };
        Some(
            match status {
                401 => "the token is missing, unknown, revoked or expired: pass --token, set FAAS_TOKEN, or run \
                        `faas login <url>` (scripts/up.sh prints the admin token)",
                403 => "the token lacks the scope named above: ask an admin for one (`faas tokens create --scope ...`)",
                413 => "over a platform limit (named above): uploads are capped by the api's FAAS_MAX_UPLOAD_BYTES \
                        and the dispatcher's FAAS_MAX_COMPONENT_BYTES, inputs and outputs by the NATS server's \
                        max_payload",
                503 => "is an executor and a dispatcher running? (GET /ready says what is missing)",
                _ => return None,
            }
            .to_owned(),
        )
    }

    /// Prints it on stderr, as text or JSON.
    pub fn report(&self, output: Output) {
        let hint = self.hint();
        if output == Output::Json {
            let mut error = match self {
                Self::Platform(client::Error::Api { status, detail, request_id }) => {
                    let mut error = serde_json::to_value(detail).unwrap_or_default();
                    error["status"] = (*status).into();
                    if let Some(id) = request_id {
                        error["request_id"] = id.as_str().into();
                    }
                    error
                }
                Self::JobFailed { job_id, error } => {
                    serde_json::json!({"code": error.code, "message": error.message, "job_id": job_id})
                }
                other => serde_json::json!({"code": other.kind(), "message": other.to_string()}),
            };
            if let Some(hint) = hint {
                error["hint"] = hint.into();
            }
            eprintln!("{}", serde_json::json!({ "error": error }));
            return;
        }
        match self {
            Self::Platform(client::Error::Api { status, detail, request_id }) => {
                eprintln!("error: {} ({status}): {}", detail.body.code, detail.body.message);
                if let (Some(step), Some(function)) = (detail.step, &detail.function) {
                    eprintln!("  at pipeline step {step} ({function})");
                }
                if let Some(id) = request_id {
                    eprintln!("  request id: {id}");
                }
            }
            other => eprintln!("error: {other:#}"),
        }
        if let Some(hint) = hint {
            eprintln!("hint: {hint}");
        }
    }

    /// The `code` of a failure the platform did not name.
    fn kind(&self) -> &'static str {
        match self {
            Self::Usage(_) | Self::Platform(client::Error::InvalidUrl(_) | client::Error::InvalidToken) => {
                "usage"
            }
            Self::Platform(client::Error::Connection { .. }) => "connection",
            Self::Platform(_) => "unexpected_answer",
            Self::JobFailed { .. } => "job_failed",
            Self::Local(_) => "local",
        }
    }
}
