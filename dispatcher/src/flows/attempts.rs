//! What happens to a job after an attempt: the job worker's decisions,
//! without IO, so they are tested on their own rather than only end to end.
//!
//! A success is final. A failure is retried, with back-off, only when another
//! attempt may succeed where this one failed (the platform was unavailable,
//! or the guest misbehaved and the operator asked for retries of that) and
//! attempts are left; otherwise it is final and the input goes to the dead
//! letters.

use std::time::Duration;

use protocol::{ErrorBody, ErrorCode};

use crate::config::JobSettings;

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The job's next state after attempt number `attempts` (from 1).
#[derive(Debug, PartialEq, Eq)]
pub enum AfterAttempt {
    /// Finished with this output.
    Succeeded(String),
    /// Back to the queue: redeliver after the pause.
    RetryIn(ErrorBody, Duration),
    /// Finished with this error.
    Failed(ErrorBody),
}

/// Decides what an attempt's outcome means for the job.
pub fn after_attempt(
    outcome: Result<String, ErrorBody>,
    attempts: u32,
    settings: &JobSettings,
) -> AfterAttempt {
    match outcome {
        Ok(output) => AfterAttempt::Succeeded(output),
        Err(error) if retryable(error.code, settings) && attempts < settings.job_max_attempts => {
            let pause = backoff(attempts, settings);
            AfterAttempt::RetryIn(error, pause)
        }
        Err(error) => AfterAttempt::Failed(error),
    }
}

/// Whether another attempt may succeed where one failed with `code`.
fn retryable(code: ErrorCode, settings: &JobSettings) -> bool {
    match code {
        ErrorCode::Unavailable | ErrorCode::Timeout | ErrorCode::StorageError | ErrorCode::Internal => true,
        ErrorCode::FunctionTrapped
        | ErrorCode::FunctionTimeout
        | ErrorCode::MemoryLimitExceeded
        | ErrorCode::LogLimitExceeded => settings.job_retry_traps,
        _ => false,
    }
}

/// The retry delay, doubled per attempt, at most [`MAX_BACKOFF`]; callback
/// deliveries back off the same way.
pub(crate) fn backoff(attempts: u32, settings: &JobSettings) -> Duration {
    let base = Duration::from_millis(settings.job_retry_delay_ms);
    base.saturating_mul(1 << attempts.saturating_sub(1).min(16)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: ErrorCode) -> Result<String, ErrorBody> {
        Err(ErrorBody::new(code, "it failed"))
    }

    fn settings() -> JobSettings {
        JobSettings { job_max_attempts: 3, job_retry_delay_ms: 1000, ..JobSettings::default() }
    }

    #[test]
    fn a_success_is_final_at_any_attempt() {
        assert_eq!(after_attempt(Ok("out".into()), 3, &settings()), AfterAttempt::Succeeded("out".into()));
    }

    #[test]
    fn platform_failures_are_retried_with_doubling_backoff_until_attempts_run_out() {
        let s = settings();
        let pause = |attempts| match after_attempt(error(ErrorCode::Unavailable), attempts, &s) {
            AfterAttempt::RetryIn(_, pause) => Some(pause),
            _ => None,
        };
        assert_eq!(pause(1), Some(Duration::from_secs(1)));
        assert_eq!(pause(2), Some(Duration::from_secs(2)));
        assert_eq!(pause(3), None, "the third attempt was the last");
        assert!(matches!(after_attempt(error(ErrorCode::Timeout), 3, &s), AfterAttempt::Failed(_)));
    }

    #[test]
    fn backoff_is_capped() {
        let s = JobSettings { job_max_attempts: 40, ..settings() };
        assert!(
            matches!(after_attempt(error(ErrorCode::Internal), 30, &s), AfterAttempt::RetryIn(_, p) if p == MAX_BACKOFF)
        );
    }

    #[test]
    fn guest_failures_are_final_unless_the_operator_asked_for_retries() {
        let s = settings();
        for code in [ErrorCode::FunctionTrapped, ErrorCode::FunctionTimeout, ErrorCode::MemoryLimitExceeded] {
            assert!(matches!(after_attempt(error(code), 1, &s), AfterAttempt::Failed(_)), "{code}");
        }
        let retrying = JobSettings { job_retry_traps: true, ..settings() };
        assert!(matches!(
            after_attempt(error(ErrorCode::FunctionTrapped), 1, &retrying),
            AfterAttempt::RetryIn(..)
        ));
    }

    #[test]
    fn caller_mistakes_are_never_retried() {
        let s = JobSettings { job_retry_traps: true, ..settings() };
        for code in [ErrorCode::FunctionNotFound, ErrorCode::BadRequest, ErrorCode::PayloadTooLarge] {
            assert!(matches!(after_attempt(error(code), 1, &s), AfterAttempt::Failed(_)), "{code}");
        }
    }
}
