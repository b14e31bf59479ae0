//! Asynchronous jobs: what is stored, where, and what a job's record says.
//!
//! A job is a function call that outlives the request that asked for it. The
//! api stores the input durably in the [`jobs_stream`](crate::jetstream::JetStreamNames::jobs_stream) JetStream stream
//! (work-queue retention: a message lives until a worker acks it) and
//! answers at once with a job id; dispatchers take jobs with the durable
//! consumer [`job_workers`](crate::jetstream::JetStreamNames::job_workers), run them through the executors' queue group,
//! and keep the outcome in the [`job_records`](crate::jetstream::JetStreamNames::job_records) key-value bucket, one record
//! per job id. Delivery is at least once; the record makes the outcome
//! exactly once (a redelivered job whose record is final is not run again).

use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;
use crate::names::Target;

/// Deliveries of one job message beyond its attempts (which the record
/// counts) that the job consumer allows: room for bookkeeping retries and
/// redeliveries after a worker died. Past `attempts + this`, the worker
/// terminates the message and reports it as a [`RejectedJob`].
pub const EXTRA_DELIVERIES: i64 = 10;

/// Published on [`crate::Subjects::job_errors`] once for every message on
/// the jobs stream the workers terminated instead of running: no valid
/// `Faas-Job-Id`, not a job subject, or delivered too often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedJob {
    /// The subject the message was on.
    pub subject: String,
    /// Its sequence in the jobs stream.
    pub stream_sequence: u64,
    /// Its `Faas-Job-Id`, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Why it was not run.
    pub reason: String,
}

/// The api's route answering a job's record (`GET /jobs/{id}`), which
/// everyone that accepts a job hands back as its `status_url`.
pub fn status_url(job_id: &str) -> String {
    format!("/jobs/{job_id}")
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobStatus {
    /// Stored, waiting for a worker (also between retries).
    Queued,
    /// A worker is running it.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished with an error, after its last attempt.
    Failed,
}

impl JobStatus {
    /// Whether the job is finished for good.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }

    /// `queued`, `running`, `succeeded` or `failed`, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Parses `queued`, `running`, `succeeded` or `failed`.
    pub fn parse(status: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(status.to_owned())).ok()
    }
}

/// Everything known about one job; what `GET /jobs/{id}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobRecord {
    /// The job id (a uuid).
    pub job_id: String,
    /// What it runs, `<bucket>/<function>` or `pipeline/<name>`.
    pub function: Target,
    /// Where it is.
    pub status: JobStatus,
    /// The output, once succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The last error: final once failed, the reason for a retry while queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// Attempts started so far.
    pub attempts: u32,
    /// Unix time in milliseconds when it was accepted.
    pub submitted_at_ms: u64,
    /// When the last attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<u64>,
    /// Where the outcome is POSTed when the job finishes (`X-Callback-Url`),
    /// redacted ([`crate::callbacks::redact`]): the full URL is never kept
    /// in the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Why the callback was given up, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_error: Option<String>,
    /// The version asked for (`/async/{b}/{f}@{v}` or a replay's
    /// `version`), pinned to its full digest when the job was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The digest of the component that ran the last attempt (the
    /// executor's `Faas-Digest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Set on a replay: what it replays and how that ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<crate::replay::ReplayOf>,
    /// The ids of this job's replays, oldest first (at most
    /// [`crate::replay::MAX_REPLAYS_LISTED`], the newest kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replays: Vec<String>,
}

impl JobRecord {
    /// A freshly accepted job.
    pub fn queued(job_id: &str, function: Target, now_ms: u64) -> Self {
        Self {
            job_id: job_id.to_owned(),
            function,
            status: JobStatus::Queued,
            result: None,
            error: None,
            attempts: 0,
            submitted_at_ms: now_ms,
            started_at_ms: None,
            finished_at_ms: None,
            callback_url: None,
            callback_error: None,
            version: None,
            digest: None,
            replay_of: None,
            replays: Vec::new(),
        }
    }
}

/// The current Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn records_are_json_with_only_what_is_known() {
        let queued = JobRecord::queued("j1", "functions/hello".parse().unwrap(), 5);
        assert_eq!(
            serde_json::to_value(&queued).unwrap(),
            serde_json::json!({"job_id": "j1", "function": "functions/hello", "status": "queued",
                               "attempts": 0, "submitted_at_ms": 5})
        );
        let failed = JobRecord {
            status: JobStatus::Failed,
            error: Some(ErrorBody::new(ErrorCode::FunctionTrapped, "boom")),
            ..queued
        };
        let back: JobRecord = serde_json::from_str(&serde_json::to_string(&failed).unwrap()).unwrap();
        assert_eq!(back, failed);
        assert!(back.status.is_final() && !JobStatus::Running.is_final());
        assert!(
            serde_json::from_value::<JobRecord>(serde_json::json!({"job_id": "j1",
            "function": "not a target", "status": "queued", "attempts": 0, "submitted_at_ms": 5}))
            .is_err()
        );
        assert_eq!(JobStatus::parse("failed"), Some(JobStatus::Failed));
        assert_eq!(JobStatus::parse("nope"), None);
        for status in [JobStatus::Queued, JobStatus::Running, JobStatus::Succeeded, JobStatus::Failed] {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(status_url("j1"), "/jobs/j1");
    }
}
