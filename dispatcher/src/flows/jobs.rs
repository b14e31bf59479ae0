//! The job worker: takes queued jobs, runs them on the executors, records
//! the outcome.
//!
//! Every dispatcher runs one, and all share the durable pull consumer
//! [`job_workers`](protocol::JetStreamNames::job_workers), so each job goes to one worker at a time.
//! A job is acked only after its outcome is recorded; a worker that dies
//! mid-job leaves it unacked and JetStream redelivers it after the ack wait.
//! Failures that are the platform's (no executor, a timeout on the bus,
//! storage) are retried with exponential back-off up to the configured
//! attempts; failures that are the function's (a trap, a timeout of its own)
//! are final unless `--job-retry-traps`. A redelivered job whose record is
//! final is acked without running again, and records are written with
//! compare-and-set, so there is one outcome per job.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, AckKind};
use async_nats::{Client, HeaderMap};
use bus::{ExecClient, JobError, JobQueue};
use protocol::jobs::{EXTRA_DELIVERIES, RejectedJob, now_ms};
use protocol::{ErrorBody, JobRecord, JobStatus, Subjects, Target, TriggerFailure, TriggerName, headers};
use tracing::{Instrument, info, info_span, warn};

use super::attempts::{AfterAttempt, after_attempt};
use super::consumer;
use crate::config::JobSettings;
use crate::flows::metrics::FlowMetrics;

/// What a worker needs.
struct Worker {
    client: Client,
    caller: ExecClient,
    metrics: Arc<FlowMetrics>,
    queue: JobQueue,
    subjects: Subjects,
    settings: JobSettings,
}

/// Takes jobs until `shutdown`, then lets running ones finish.
pub async fn run(
    client: Client,
    queue: JobQueue,
    subjects: Subjects,
    settings: JobSettings,
    metrics: Arc<FlowMetrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), JobError> {
    let names = queue.names();
    let stream = queue
        .context()
        .get_stream(names.jobs_stream())
        .await
        .map_err(|e| JobError::Unavailable(e.to_string()))?;
    let concurrency = settings.job_concurrency.max(1);
    // Created or updated: the settings of this start hold, max deliveries too.
    let consumer: jetstream::consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some(names.job_workers()),
            description: Some("wasm-faas: dispatchers' job workers".into()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(settings.job_ack_wait_secs),
            max_deliver: max_deliveries(&settings),
            ..Default::default()
        })
        .await
        .map_err(|e| JobError::Unavailable(e.to_string()))?;
    let caller = ExecClient::new(client.clone(), subjects.clone());
    let worker = Arc::new(Worker { client, caller, metrics, queue, subjects, settings });
    let handle = move |message| {
        let worker = worker.clone();
        async move { worker.handle(message).await }
    };
    consumer::take_bounded("job worker", &consumer, concurrency, handle, shutdown).await
}

/// Deliveries of one job message the consumer allows: every attempt, and
/// room for bookkeeping retries and redeliveries.
fn max_deliveries(settings: &JobSettings) -> i64 {
    i64::from(settings.job_max_attempts).saturating_add(EXTRA_DELIVERIES)
}

impl Worker {
    async fn handle(&self, message: jetstream::Message) {
        let job_id = bus::header(&message, headers::JOB_ID).unwrap_or_default().to_owned();
        let request_id =
            bus::header(&message, headers::REQUEST_ID).map_or_else(|| job_id.clone(), str::to_owned);
        let span = info_span!("job", request_id = %request_id, job_id = %job_id);
        bus::telemetry::adopt(&span, &message);
        async {
            let Some(target) = self.subjects.parse_job(message.subject.as_str()) else {
                return self.reject(&message, "not a job subject".into()).await;
            };
            // Job ids are uuids (also the records' keys): anything else was
            // not queued by the platform, and would fail its lookup forever.
            if uuid::Uuid::try_parse(&job_id).is_err() {
                let reason = format!("no valid {} header (a job id is a uuid)", headers::JOB_ID);
                return self.reject(&message, reason).await;
            }
            let last_delivery =
                message.info().is_ok_and(|info| info.delivered >= max_deliveries(&self.settings));
            match self.run_job(&message, &target, &job_id, &request_id).await {
                Ok(Disposition::Ack) => {
                    let _ = message.ack().await;
                }
                Ok(Disposition::RetryIn(_)) | Err(_) if last_delivery => {
                    let reason =
                        format!("still not finished after {} deliveries", max_deliveries(&self.settings));
                    self.record_given_up(&message, &target, &job_id, &reason).await;
                    self.reject(&message, reason).await;
                }
                Ok(Disposition::RetryIn(delay)) => {
                    let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
                }
                // Someone else holds the job: leave the message to them.
                Ok(Disposition::Leave) => {}
                Err(err) => {
                    warn!(%err, "job bookkeeping failed; retrying in 1 s");
                    let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
                }
            }
        }
        .instrument(span)
        .await
    }

    /// A job whose record its worker was to write, given up before any
    /// was: without one, its kept input would answer `queued` until it
    /// expired. A record written meanwhile is left as it is.
    async fn record_given_up(
        &self,
        message: &jetstream::Message,
        target: &Target,
        job_id: &str,
        reason: &str,
    ) {
        let Some(mut record) =
            message.headers.as_ref().and_then(|map| JobQueue::deferred_record(job_id, target, map))
        else {
            return;
        };
        record.status = JobStatus::Failed;
        record.attempts = message.info().map_or(0, |info| u32::try_from(info.delivered).unwrap_or(u32::MAX));
        record.error = Some(ErrorBody::new(protocol::ErrorCode::Unavailable, reason));
        record.finished_at_ms = Some(now_ms());
        let encoded = JobQueue::encode(&record);
        match self.queue.update_encoded(job_id, encoded.clone(), 0).await {
            Ok(_) => self.announce(target, job_id, encoded).await,
            Err(JobError::Conflict(_)) => {}
            Err(err) => warn!(%err, "could not record the job given up"),
        }
    }

    /// Terminates a message that must not be delivered again, and says so
    /// once: in the log and on the jobs' errors subject.
    async fn reject(&self, message: &jetstream::Message, reason: String) {
        let _ = message.ack_with(AckKind::Term).await;
        let rejected = RejectedJob {
            subject: message.subject.to_string(),
            stream_sequence: message.info().map_or(0, |info| info.stream_sequence),
            job_id: bus::header(message, headers::JOB_ID).map(str::to_owned),
            reason,
        };
        warn!(subject = %rejected.subject, sequence = rejected.stream_sequence, reason = %rejected.reason, "job message terminated");
        self.metrics.job_rejected();
        let mut map = HeaderMap::new();
        map.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
        let payload = serde_json::to_vec(&rejected).expect("rejections always serialise");
        if let Err(err) =
            self.client.publish_with_headers(self.subjects.job_errors(), map, payload.into()).await
        {
            warn!(%err, "could not report the terminated job message");
        }
    }

    async fn run_job(
        &self,
        message: &jetstream::Message,
        target: &Target,
        job_id: &str,
        request_id: &str,
    ) -> Result<Disposition, JobError> {
        let (mut record, revision) = match self.start(message, target, job_id).await? {
            Start::Run(record, revision) => (record, Some(revision)),
            Start::Unrecorded(record) => (record, None),
            Start::Not(disposition) => return Ok(disposition),
        };
        let (outcome, digest, revision) = match revision {
            Some(revision) => {
                let (outcome, digest) = self.exec(target, message, request_id, job_id).await;
                (outcome, digest, Some(revision))
            }
            None => self.exec_unrecorded(&record, target, message, request_id, job_id).await,
        };
        // Revision 0 creates the record, if the attempt left none.
        let revision = revision.unwrap_or(0);
        if digest.is_some() {
            record.digest = digest;
        }
        let attempts = record.attempts;
        match after_attempt(outcome, attempts, &self.settings) {
            AfterAttempt::Succeeded(result) => {
                record.status = JobStatus::Succeeded;
                record.result = Some(result);
                record.error = None;
            }
            AfterAttempt::RetryIn(error, delay) => {
                warn!(code = %error.code, error = %error.message, attempts, ?delay, "job attempt failed; will retry");
                self.metrics.job_retried(&target.to_string(), error.code.as_str());
                record.status = JobStatus::Queued;
                record.error = Some(error);
                return match self.queue.update(&record, revision).await {
                    Ok(_) => Ok(Disposition::RetryIn(delay)),
                    // An unrecorded attempt met a record it did not know of
                    // (its own running write, answered lost, or the
                    // submitter's): the retry goes over it, as an outcome does.
                    Err(JobError::Conflict(_)) if revision == 0 => match self.queue.record(job_id).await {
                        Ok((current, _)) if current.status.is_final() => Ok(Disposition::Ack),
                        Ok((_, current)) => match self.queue.update(&record, current).await {
                            Ok(_) => Ok(Disposition::RetryIn(delay)),
                            Err(JobError::Conflict(_)) => Ok(Disposition::Leave),
                            Err(err) => Err(err),
                        },
                        Err(err) => Err(err),
                    },
                    Err(JobError::Conflict(_)) => Ok(Disposition::Leave),
                    Err(err) => Err(err),
                };
            }
            AfterAttempt::Failed(error) => {
                record.status = JobStatus::Failed;
                record.error = Some(error);
            }
        }
        record.finished_at_ms = Some(now_ms());
        // Encoded once: the record stored is the record announced.
        let encoded = JobQueue::encode(&record);
        match self.queue.update_encoded(job_id, encoded.clone(), revision).await {
            Ok(_) => {}
            // Another delivery recorded the outcome first: that one counts.
            // Only a final record proves it: across a JetStream leader change
            // the conflict can be this worker's own earlier write, and acking
            // then would leave the job running forever.
            Err(JobError::Conflict(_)) => match self.queue.record(job_id).await {
                Ok((current, _)) if current.status.is_final() => return Ok(Disposition::Ack),
                // A record the unrecorded attempt did not know of (its own
                // running write, answered lost, or the submitter's): this
                // attempt's outcome goes over it.
                Ok((_, current)) if revision == 0 => {
                    match self.queue.update_encoded(job_id, encoded.clone(), current).await {
                        Ok(_) => {}
                        Err(JobError::Conflict(_)) => {
                            return Ok(Disposition::RetryIn(Duration::from_secs(1)));
                        }
                        Err(err) => return Err(err),
                    }
                }
                Ok(_) => return Ok(Disposition::RetryIn(Duration::from_secs(1))),
                Err(err) => return Err(err),
            },
            Err(err) => return Err(err),
        }
        if record.status == JobStatus::Failed {
            let callback_url = bus::header(message, headers::CALLBACK_URL);
            match self.queue.bury(job_id, message.payload.clone(), target, callback_url).await {
                Ok(()) => self.metrics.job_dead_lettered(&target.to_string()),
                Err(err) => warn!(%err, "could not keep the failed job's input; it cannot be re-driven"),
            }
        }
        self.announce(target, job_id, encoded).await;
        self.pass_on(message, &record, request_id).await;
        let status = if record.status == JobStatus::Succeeded { "succeeded" } else { "failed" };
        self.metrics.job_finished(&record.function.to_string(), status);
        info!(status, attempts, "job finished");
        self.store_callback(message, &record).await?;
        Ok(Disposition::Ack)
    }

    /// Marks the job running, one attempt more (the record and its new
    /// revision), or says what to do with its message instead.
    async fn start(
        &self,
        message: &jetstream::Message,
        target: &Target,
        job_id: &str,
    ) -> Result<Start, JobError> {
        // Usually the submitter left the record to the worker: creating it
        // running claims the job, with no read first. If it exists (a
        // redelivery, or a submitter that wrote it after all), the job is
        // started as any other.
        let deferred =
            message.headers.as_ref().and_then(|map| JobQueue::deferred_record(job_id, target, map));
        if let Some(mut record) = deferred {
            record.status = JobStatus::Running;
            // Only this message's deliveries ran it: no record counted them.
            record.attempts =
                message.info().map_or(1, |info| u32::try_from(info.delivered).unwrap_or(u32::MAX));
            record.started_at_ms = Some(now_ms());
            // Its first delivery: no other can run before the ack wait
            // ends, far beyond RECORD_RUNNING_AFTER, so the claim can wait
            // until the attempt has taken that long.
            if message.info().is_ok_and(|info| info.delivered == 1) {
                return Ok(Start::Unrecorded(record));
            }
            match self.queue.update(&record, 0).await {
                Ok(revision) => return Ok(Start::Run(record, revision)),
                Err(JobError::Conflict(_)) => {}
                Err(err) => return Err(err),
            }
        }
        let (mut record, revision) = match self.queue.record(job_id).await {
            Ok(found) => found,
            Err(JobError::NotFound(_)) => {
                // A submission whose store answer was lost (a NATS node died
                // between storing and acking) had its record removed, and its
                // caller retries with the same id: that retry's record finds
                // this message (the stream keeps one per id). So a young
                // message without a record waits a little before it is dropped.
                if message.info().is_ok_and(|info| info.delivered <= ORPHAN_RETRIES) {
                    return Ok(Start::Not(Disposition::RetryIn(ORPHAN_RETRY_DELAY)));
                }
                warn!("job has no record (expired, or its submission failed); dropped");
                return Ok(Start::Not(Disposition::Ack));
            }
            Err(err) => return Err(err),
        };
        if record.status.is_final() {
            // Redelivered after its outcome was recorded: done already, but
            // the callback may not have been stored (that failing is why a
            // finished job is redelivered); storing it twice stores it once.
            self.store_callback(message, &record).await?;
            return Ok(Start::Not(Disposition::Ack));
        }
        record.status = JobStatus::Running;
        record.attempts += 1;
        record.started_at_ms = Some(now_ms());
        let revision = match self.queue.update(&record, revision).await {
            Ok(revision) => revision,
            // Another delivery of this job is running it: leave the message
            // to that one. A record that is not running was read stale (a
            // replica catching up): try again soon, not after an ack wait.
            Err(JobError::Conflict(_)) => {
                return match self.queue.record(job_id).await {
                    Ok((current, _)) if current.status == JobStatus::Running => {
                        Ok(Start::Not(Disposition::Leave))
                    }
                    Ok(_) => Ok(Start::Not(Disposition::RetryIn(Duration::from_secs(1)))),
                    Err(err) => Err(err),
                };
            }
            Err(err) => return Err(err),
        };
        Ok(Start::Run(record, revision))
    }

    /// Runs an attempt whose running record is not written yet: written
    /// only once the attempt has taken [`RECORD_RUNNING_AFTER`], so a quick
    /// job's one record write is its outcome. Also returns the running
    /// record's revision, if it was written.
    async fn exec_unrecorded(
        &self,
        record: &JobRecord,
        target: &Target,
        message: &jetstream::Message,
        request_id: &str,
        job_id: &str,
    ) -> (Result<String, ErrorBody>, Option<String>, Option<u64>) {
        let exec = self.exec(target, message, request_id, job_id);
        tokio::pin!(exec);
        tokio::select! {
            (outcome, digest) = &mut exec => return (outcome, digest, None),
            () = tokio::time::sleep(RECORD_RUNNING_AFTER) => {}
        }
        let revision = match self.queue.update(record, 0).await {
            Ok(revision) => Some(revision),
            // The outcome's write settles it (over whatever is there).
            Err(err) => {
                warn!(%err, "could not record the job as running");
                None
            }
        };
        let (outcome, digest) = exec.await;
        (outcome, digest, revision)
    }

    /// Stores the finished job's callback delivery, if it has a callback,
    /// for the callback sender; until it is stored the job is not acked.
    async fn store_callback(&self, message: &jetstream::Message, record: &JobRecord) -> Result<(), JobError> {
        match bus::header(message, headers::CALLBACK_URL) {
            Some(url) => self.queue.enqueue_callback(record, url).await,
            None => Ok(()),
        }
    }

    /// Runs the function (through the executors' queue group) or the
    /// pipeline (through the dispatchers').
    async fn exec(
        &self,
        target: &Target,
        message: &jetstream::Message,
        request_id: &str,
        job_id: &str,
    ) -> (Result<String, ErrorBody>, Option<String>) {
        let (input, hops) = (message.payload.clone(), bus::hops(message));
        let version = bus::header(message, headers::VERSION);
        let side_effects = bus::header(message, headers::SIDE_EFFECTS);
        let mut map = HeaderMap::new();
        map.insert(headers::JOB_ID, job_id);
        // A trigger's job: the function's own publishes are one link further.
        if hops > 0 {
            map.insert(headers::HOPS, hops.to_string().as_str());
        }
        // A job submitted for `<function>@<version>` runs that version.
        if let Some(version) = version {
            map.insert(headers::VERSION, version);
        }
        // A replay without side effects runs read-only.
        if let Some(side_effects) = side_effects {
            map.insert(headers::SIDE_EFFECTS, side_effects);
        }
        let wait = Duration::from_secs(self.settings.job_exec_wait_secs);
        let reply = match self.caller.call(target, input, map, request_id, wait).await {
            Ok(reply) => reply,
            Err(error) => return (Err(error), None),
        };
        let digest = reply.header(headers::DIGEST).map(str::to_owned);
        match reply.into_result() {
            Ok(output) => (Ok(String::from_utf8_lossy(&output).into_owned()), digest),
            Err(failure) => (Err(failure.error), digest),
        }
    }

    /// A job made by an async trigger: its output goes on to the trigger's
    /// output subject, its failure to the trigger's errors subject.
    async fn pass_on(&self, message: &jetstream::Message, record: &JobRecord, request_id: &str) {
        let Some(trigger) = bus::header(message, headers::TRIGGER) else { return };
        let Ok(trigger) = TriggerName::new(trigger) else {
            warn!(trigger, "job names an invalid trigger; its outcome is not passed on");
            return;
        };
        let hops = bus::hops(message);
        match (&record.result, &record.error) {
            (Some(result), _) if record.status == JobStatus::Succeeded => {
                if let Some(subject) = bus::header(message, headers::OUTPUT_SUBJECT) {
                    let output = bytes::Bytes::from(result.clone());
                    crate::flows::output::publish_output(
                        &self.client,
                        subject,
                        request_id,
                        &trigger,
                        hops,
                        output,
                    )
                    .await;
                }
            }
            (_, Some(error)) => {
                let failure = TriggerFailure {
                    trigger,
                    request_id: request_id.to_owned(),
                    subject: message.subject.to_string(),
                    function: record.function.clone(),
                    code: error.code,
                    message: error.message.clone(),
                    job_id: Some(record.job_id.clone()),
                };
                crate::flows::output::publish_failure(&self.client, &self.subjects, &failure).await;
            }
            _ => {}
        }
    }

    /// Publishes a finished job's record ([`JobQueue::encode`]d) on its
    /// results subject.
    async fn announce(&self, target: &Target, job_id: &str, record: bytes::Bytes) {
        let mut map = HeaderMap::new();
        map.insert(headers::JOB_ID, job_id);
        map.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
        if let Err(err) =
            self.client.publish_with_headers(self.subjects.job_result(target), map, record).await
        {
            warn!(%err, "could not announce the job's outcome");
        }
    }
}

/// Deliveries of a job message without a record before it is dropped, and
/// the wait between them: room for a caller to retry a submission that was
/// stored but answered with an error.
const ORPHAN_RETRIES: i64 = 3;
const ORPHAN_RETRY_DELAY: Duration = Duration::from_secs(5);

/// How long the first attempt of a job whose worker creates its record
/// runs before that record says `running`: a job done sooner has one record
/// write, its outcome. Far below any ack wait, so no other delivery of the
/// job can start meanwhile.
const RECORD_RUNNING_AFTER: Duration = Duration::from_millis(50);

/// How a job's start went.
enum Start {
    /// Marked running: the record and its revision.
    Run(JobRecord, u64),
    /// To run on its first delivery with no record written yet (see
    /// [`Worker::exec_unrecorded`]): the running record to write.
    Unrecorded(JobRecord),
    /// Not to be run now: what to do with the message.
    Not(Disposition),
}

/// What to do with the job's message.
enum Disposition {
    /// Done (outcome recorded, or nothing to do).
    Ack,
    /// Deliver again after this long.
    RetryIn(Duration),
    /// Another worker holds the record; do not touch the message.
    Leave,
}
