//! The job queue on the bus: the stream jobs wait in, their records, and the
//! dead letters of jobs that failed for good.
//!
//! The api submits and reads; dispatchers set the queue up, take jobs and
//! record outcomes. Both go through this type so that stream, bucket and
//! subject details live in one place. Records are written with
//! compare-and-set on their revision, so two workers that raced on a
//! redelivered job cannot both record an outcome.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy};
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use protocol::jobs::now_ms;
use protocol::replay::{MAX_REPLAYS_LISTED, ReplayOf};
use protocol::{JobRecord, JobStatus, Subjects, Target, headers};

use crate::inputs::KeptInputs;
use crate::stores::{StoreError, StoreQuotas};

/// A job-queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// JetStream is not enabled, or no dispatcher has set the queue up yet.
    #[error("the job queue is unavailable: {0}")]
    Unavailable(String),
    /// The queue, or this function's share of it, is full.
    #[error("the job queue is full ({0}); retry later")]
    QueueFull(String),
    /// A job store (the queue's stream or the records) is at its byte cap.
    #[error(transparent)]
    StoreFull(StoreError),
    /// No such job.
    #[error("job {0} not found")]
    NotFound(String),
    /// Someone else updated the record first.
    #[error("job {0} was updated concurrently")]
    Conflict(String),
    /// The job's input is no longer kept: it cannot be replayed.
    #[error("the input of job {0} is no longer kept; it cannot be replayed")]
    InputNotKept(String),
    /// No failed call's input is kept under that id.
    #[error("no input is kept for call {0} (never kept, or expired)")]
    CallNotFound(String),
    /// Only a finished job can be replayed.
    #[error("job {id} is {status:?}: only a finished job can be replayed")]
    NotFinished {
        /// The job.
        id: String,
        /// Its status.
        status: JobStatus,
    },
    /// Only failed jobs can be re-driven.
    #[error("job {id} is {status:?}: only failed jobs can be re-driven")]
    NotFailed {
        /// The job.
        id: String,
        /// Its status.
        status: JobStatus,
    },
}

/// Sizes of the queue, set by the dispatcher that creates it.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Jobs waiting at most, all functions together.
    pub max_jobs: i64,
    /// Jobs waiting at most per function.
    pub max_jobs_per_function: i64,
    /// How long records and dead letters are kept.
    pub record_ttl: Duration,
    /// Byte caps of the queue, the dead letters and the records.
    pub quotas: StoreQuotas,
}

/// What a submission did.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The job's record (the existing one for a duplicate).
    pub record: JobRecord,
    /// Whether a job with this id existed already (an idempotent retry).
    pub duplicate: bool,
}

/// A job to store; see [`JobQueue::submit`].
pub struct NewJob<'a> {
    /// What it runs.
    pub target: &'a Target,
    /// Its id (a uuid).
    pub job_id: &'a str,
    /// The input.
    pub input: Bytes,
    /// The request id that travels with it.
    pub request_id: &'a str,
    /// Where the outcome is POSTed, in full (checked by
    /// [`protocol::callbacks::check_url`]); the record keeps it redacted.
    pub callback_url: Option<String>,
    /// More headers for the worker (an async trigger's name, output subject, hops).
    pub headers: HeaderMap,
    /// Whether `job_id` was just made at random (no idempotency key, no
    /// event id): no earlier submission can have it, so none is looked for,
    /// and the job's record is left to its worker
    /// ([`headers::JOB_SUBMITTED_AT`]).
    pub fresh_id: bool,
}

/// How many messages the job stores hold now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepths {
    /// Jobs queued or running (`FAAS_JOBS`).
    pub jobs: u64,
    /// Dead letters (`FAAS_JOBS_DEAD`).
    pub dead_letters: u64,
    /// Callback deliveries waiting (`FAAS_CALLBACKS`).
    pub callbacks: u64,
}

/// Handle on the job queue.
#[derive(Clone)]
pub struct JobQueue {
    js: jetstream::Context,
    records: kv::Store,
    subjects: Subjects,
}

impl JobQueue {
    /// Opens the queue a dispatcher has set up.
    pub async fn open(client: &async_nats::Client, subjects: Subjects) -> Result<Self, JobError> {
        let js = jetstream::new(client.clone());
        let records = js.get_key_value(subjects.jetstream().job_records()).await.map_err(unavailable)?;
        Ok(Self { js, records, subjects })
    }

    /// Creates the stream, the dead letters and the records bucket, or
    /// updates their limits.
    pub async fn setup(
        client: &async_nats::Client,
        subjects: Subjects,
        replicas: usize,
        limits: QueueLimits,
    ) -> Result<Self, JobError> {
        let js = jetstream::new(client.clone());
        let names = subjects.jetstream();
        refuse_legacy_names(&js, &subjects).await?;
        js.create_or_update_stream(stream::Config {
            name: names.jobs_stream(),
            num_replicas: replicas,
            description: Some("wasm-faas: queued jobs, until a worker finished them".into()),
            subjects: vec![subjects.jobs_all()],
            retention: RetentionPolicy::WorkQueue,
            max_messages: limits.max_jobs,
            max_messages_per_subject: limits.max_jobs_per_function,
            max_bytes: limits.quotas.jobs,
            // A full queue refuses new jobs instead of dropping old ones.
            discard: DiscardPolicy::New,
            discard_new_per_subject: true,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(unavailable)?;
        js.create_or_update_stream(stream::Config {
            name: names.dead_letters_stream(),
            num_replicas: replicas,
            description: Some("wasm-faas: inputs of failed jobs, for re-driving".into()),
            subjects: vec![subjects.dead_letters_all()],
            max_age: limits.record_ttl,
            // The cap drops the oldest letters, so burying never fails.
            max_bytes: limits.quotas.dead_letters,
            discard: DiscardPolicy::Old,
            ..Default::default()
        })
        .await
        .map_err(unavailable)?;
        js.create_or_update_stream(stream::Config {
            name: names.callbacks_stream(),
            num_replicas: replicas,
            description: Some("wasm-faas: job callbacks, until delivered or given up".into()),
            subjects: vec![subjects.callbacks_all()],
            retention: RetentionPolicy::WorkQueue,
            // As many as jobs may wait: a callback never outlives its record.
            max_messages: limits.max_jobs,
            max_bytes: limits.quotas.callbacks,
            max_age: limits.record_ttl,
            discard: DiscardPolicy::New,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(unavailable)?;
        crate::inputs::KeptInputs::create(&js, &subjects, replicas, limits.record_ttl, limits.quotas.inputs)
            .await?;
        let records = crate::open_or_create(
            &js,
            replicas,
            kv::Config {
                bucket: names.job_records(),
                description: "wasm-faas: job records by id".into(),
                history: 1,
                max_age: limits.record_ttl,
                max_bytes: limits.quotas.job_records,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| JobError::Unavailable(e.reason))?;
        Ok(Self { js, records, subjects })
    }

    fn publish_error(&self, err: impl std::fmt::Display) -> JobError {
        let text = err.to_string();
        // JetStream's words for a stream at its message limit with discard-new;
        // at its byte cap, the store is full rather than the queue.
        if text.contains("maximum messages") {
            JobError::QueueFull(text)
        } else {
            store_error(&self.subjects.jetstream().jobs_stream(), text)
        }
    }

    /// The JetStream names of the queue's platform, for the consumers.
    pub fn names(&self) -> protocol::JetStreamNames {
        self.subjects.jetstream()
    }

    /// How many messages the job stores hold: one stream info request each.
    pub async fn depths(&self) -> Result<QueueDepths, JobError> {
        let names = self.subjects.jetstream();
        let messages = |name: String| async move {
            let stream = self.js.get_stream(&name).await.map_err(unavailable)?;
            Ok::<_, JobError>(stream.cached_info().state.messages)
        };
        let (jobs, dead_letters, callbacks) = futures::try_join!(
            messages(names.jobs_stream()),
            messages(names.dead_letters_stream()),
            messages(names.callbacks_stream())
        )?;
        Ok(QueueDepths { jobs, dead_letters, callbacks })
    }

    /// The JetStream context, for the worker's consumer.
    pub fn context(&self) -> &jetstream::Context {
        &self.js
    }

    /// Stores a job: the job message and its kept input, both in flight at
    /// once, answered once both are stored (a failed keep only costs the
    /// replay). A job with a fresh id gets no record here: its worker
    /// creates it as it starts the job, and until then [`Self::record`]
    /// makes the queued record from the kept input. A job whose id may
    /// have been submitted before (an idempotency key, an event id) or that
    /// has more to record (a replay) has its record created first, so a
    /// duplicate id is found before anything is queued twice; if the queue
    /// refuses the job, what was written for it goes again, so nothing
    /// claims a job that was not stored.
    pub async fn submit(&self, job: NewJob<'_>) -> Result<Submitted, JobError> {
        self.submit_as(job, None).await
    }

    /// [`Self::submit`] for a replay: its record says what it replays.
    pub async fn submit_replay(&self, job: NewJob<'_>, replay_of: ReplayOf) -> Result<Submitted, JobError> {
        self.submit_as(job, Some(replay_of)).await
    }

    async fn submit_as(&self, job: NewJob<'_>, replay_of: Option<ReplayOf>) -> Result<Submitted, JobError> {
        let NewJob { target, job_id, input, request_id, callback_url, headers: mut map, fresh_id } = job;
        let submitted_at_ms = now_ms();
        let record = JobRecord {
            callback_url: callback_url.as_deref().map(protocol::callbacks::redact),
            version: map.get(headers::VERSION).map(|v| v.as_str().to_owned()),
            replay_of,
            ..JobRecord::queued(job_id, target.clone(), submitted_at_ms)
        };
        // The worker makes the same record from the message's headers.
        let deferred = fresh_id && record.replay_of.is_none();
        let duplicate = if deferred { None } else { self.create_queued(&record).await? };
        if let Some(record) = &duplicate
            && (record.status != JobStatus::Queued || record.attempts > 0)
        {
            return Ok(Submitted { record: record.clone(), duplicate: true });
        }
        map.insert(headers::NATS_MSG_ID, job_id);
        map.insert(headers::JOB_ID, job_id);
        map.insert(headers::REQUEST_ID, request_id);
        crate::telemetry::inject(&mut map);
        if let Some(url) = callback_url {
            map.insert(headers::CALLBACK_URL, url);
        }
        if deferred {
            map.insert(headers::JOB_SUBMITTED_AT, submitted_at_ms.to_string().as_str());
        }
        let kept = self.kept_inputs();
        let kept_map = map.clone();
        let store = async {
            // An ack lost after the stream stored the job would leave a job
            // that runs although its submit failed (a fresh-id job has no
            // record a purge could orphan it with), and the client's retry
            // would run it again under a new id. The same `Nats-Msg-Id`
            // within the stream's duplicate window stores it at most once,
            // so the publish is retried while the failure is the bus's.
            let mut attempt = 0;
            loop {
                let stored = match self
                    .js
                    .publish_with_headers(self.subjects.job(target), map.clone(), input.clone())
                    .await
                {
                    Ok(ack) => ack.await.map(|_| ()).map_err(|e| self.publish_error(e)),
                    Err(err) => Err(self.publish_error(err)),
                };
                attempt += 1;
                match stored {
                    Err(JobError::Unavailable(_)) if attempt < PUBLISH_ATTEMPTS => continue,
                    stored => break stored,
                }
            }
        };
        // Both publishes are sent before either ack is awaited.
        let (stored, keep) = futures::join!(store, kept.keep_job(job_id, target, input.clone(), &kept_map));
        if let Err(err) = stored {
            if duplicate.is_none() {
                if !deferred {
                    let _ = self.records.purge(job_id).await;
                }
                if keep.is_ok() {
                    let _ = kept.forget_job(job_id).await;
                }
            }
            return Err(err);
        }
        if let Err(err) = keep {
            tracing::warn!(%err, job_id, "could not keep the job's input; it cannot be replayed");
            if deferred {
                // Nothing would answer for the job until its worker takes
                // it: its record is written now (or the worker's came first).
                if let Err(err) = self.create_queued(&record).await {
                    tracing::warn!(%err, job_id, "could not record the queued job");
                }
            }
        }
        match duplicate {
            Some(record) => Ok(Submitted { record, duplicate: true }),
            None => Ok(Submitted { record, duplicate: false }),
        }
    }

    /// Creates a queued job's record; `Some(existing)` if the job id has a
    /// record already.
    async fn create_queued(&self, record: &JobRecord) -> Result<Option<JobRecord>, JobError> {
        let value = serde_json::to_vec(record).expect("records always serialise");
        match self.records.create(&record.job_id, value.into()).await {
            Ok(_) => Ok(None),
            Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {
                // A retry of a submission whose answer was lost: its message
                // may never have been stored (the record outlived a failed
                // publish, or the create's answer was lost), so a job still
                // queued untried is published again (the caller sees to
                // that). The stream drops the copy if the first one did land
                // (same `Nats-Msg-Id`).
                Ok(Some(self.record(&record.job_id).await?.0))
            }
            Err(err) => Err(store_error(&self.records.name, err)),
        }
    }

    /// The record a job message stands for when its worker is the one to
    /// create it ([`headers::JOB_SUBMITTED_AT`]): queued, as submitted.
    /// `None` for a job whose record the submitter wrote.
    pub fn deferred_record(job_id: &str, target: &Target, message: &HeaderMap) -> Option<JobRecord> {
        crate::inputs::queued_record_for(job_id, target.clone(), message)
    }

    /// The kept inputs, on this queue's connection.
    pub fn kept_inputs(&self) -> KeptInputs {
        KeptInputs::from_context(self.js.clone(), self.subjects.clone())
    }

    /// Lists `replay_id` among `job_id`'s replays (the newest
    /// [`MAX_REPLAYS_LISTED`]); retried on a concurrent update.
    pub async fn add_replay(&self, job_id: &str, replay_id: &str) -> Result<(), JobError> {
        for _ in 0..10 {
            let (mut record, revision) = self.record(job_id).await?;
            record.replays.push(replay_id.to_owned());
            let over = record.replays.len().saturating_sub(MAX_REPLAYS_LISTED);
            record.replays.drain(..over);
            match self.update(&record, revision).await {
                Err(JobError::Conflict(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
        Err(JobError::Conflict(job_id.to_owned()))
    }

    /// A job's record and its revision.
    ///
    /// A job whose worker has not created its record yet is queued, as its
    /// kept input says, at revision 0: an [`Self::update`] of it creates
    /// the record, and is a conflict if the worker's came first.
    pub async fn record(&self, job_id: &str) -> Result<(JobRecord, u64), JobError> {
        let entry = self.records.entry(job_id).await.map_err(unavailable)?;
        let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
            return match self.kept_inputs().queued_record(job_id).await? {
                Some(queued) => Ok((queued, 0)),
                None => Err(JobError::NotFound(job_id.to_owned())),
            };
        };
        let record = serde_json::from_slice(&entry.value)
            .map_err(|e| JobError::Unavailable(format!("malformed record of job {job_id}: {e}")))?;
        Ok((record, entry.revision))
    }

    /// Replaces a record if it is still at `revision` (0: creates it if
    /// there is none); returns the new one.
    ///
    /// Only a revision that moved on is a [`JobError::Conflict`]: a store
    /// without a leader for a moment (a node restarting) is
    /// [`JobError::Unavailable`], so the caller retries soon instead of
    /// leaving the job to a redelivery a whole ack wait later.
    pub async fn update(&self, record: &JobRecord, revision: u64) -> Result<u64, JobError> {
        self.update_encoded(&record.job_id, Self::encode(record), revision).await
    }

    /// A record as the bucket stores it and its results subject announces
    /// it: a worker encodes a finished record once for both.
    pub fn encode(record: &JobRecord) -> Bytes {
        serde_json::to_vec(record).expect("records always serialise").into()
    }

    /// [`Self::update`] of a record [`Self::encode`]d already.
    pub async fn update_encoded(&self, job_id: &str, value: Bytes, revision: u64) -> Result<u64, JobError> {
        self.records.update(job_id, value, revision).await.map_err(|err| match err.kind() {
            kv::UpdateErrorKind::WrongLastRevision => JobError::Conflict(job_id.to_owned()),
            _ => unavailable(format!("updating the record of job {job_id}: {err}")),
        })
    }

    /// Records, newest first, optionally only those with `status`; at most `limit`.
    ///
    /// One pass over the bucket (the `snapshot` module), not a round trip per
    /// job: the listing of dead letters must stay cheap with many jobs kept.
    /// Unless only another status is asked for, a second pass over the kept
    /// inputs' headers adds the jobs still waiting for a worker to create
    /// their record.
    pub async fn list(&self, status: Option<JobStatus>, limit: usize) -> Result<Vec<JobRecord>, JobError> {
        let values = crate::snapshot::current_values(&self.records).await.map_err(JobError::Unavailable)?;
        let mut records: Vec<JobRecord> = values
            .into_iter()
            .filter_map(|(_, value)| serde_json::from_slice::<JobRecord>(&value).ok())
            .collect();
        // Jobs whose worker has not created their record yet are queued.
        if status.is_none_or(|s| s == JobStatus::Queued) {
            let recorded: std::collections::HashSet<String> =
                records.iter().map(|r| r.job_id.clone()).collect();
            let waiting = self.kept_inputs().queued_records().await?;
            records.extend(waiting.into_iter().filter(|r| !recorded.contains(&r.job_id)));
        }
        records.retain(|record| status.is_none_or(|s| s == record.status));
        records.sort_by_key(|r| std::cmp::Reverse(r.submitted_at_ms));
        records.truncate(limit);
        Ok(records)
    }

    /// Keeps the input of a job that failed for good, and its callback URL,
    /// for [`Self::redrive`].
    pub async fn bury(
        &self,
        job_id: &str,
        input: Bytes,
        target: &Target,
        callback_url: Option<&str>,
    ) -> Result<(), JobError> {
        let mut map = HeaderMap::new();
        map.insert(headers::JOB_ID, job_id);
        map.insert(headers::JOB_TARGET, target.to_string());
        if let Some(url) = callback_url {
            map.insert(headers::CALLBACK_URL, url);
        }
        let ack = self
            .js
            .publish_with_headers(self.subjects.dead_letter(job_id), map, input)
            .await
            .map_err(|e| self.publish_error(e))?;
        ack.await.map_err(|e| self.publish_error(e))?;
        Ok(())
    }

    /// Stores the callback delivery of a finished job (its record, to be
    /// POSTed to `url`) in the callbacks stream; storing it twice within
    /// two minutes stores it once.
    pub async fn enqueue_callback(&self, record: &JobRecord, url: &str) -> Result<(), JobError> {
        let mut map = HeaderMap::new();
        map.insert(headers::NATS_MSG_ID, protocol::callbacks::delivery_id(record));
        map.insert(headers::JOB_ID, record.job_id.as_str());
        map.insert(headers::CALLBACK_URL, url);
        map.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
        let payload = serde_json::to_vec(record).expect("records always serialise");
        let ack = self
            .js
            .publish_with_headers(self.subjects.callback(&record.job_id), map, payload.into())
            .await
            .map_err(|e| self.publish_error(e))?;
        ack.await.map_err(|e| self.publish_error(e))?;
        Ok(())
    }

    /// Queues a failed job again with its original input, as a new set of
    /// attempts; `map` holds more headers for the job message (the acting
    /// principal).
    pub async fn redrive(
        &self,
        job_id: &str,
        request_id: &str,
        mut map: HeaderMap,
    ) -> Result<JobRecord, JobError> {
        let (record, revision) = self.record(job_id).await?;
        if record.status != JobStatus::Failed {
            return Err(JobError::NotFailed { id: job_id.to_owned(), status: record.status });
        }
        let stream =
            self.js.get_stream(self.subjects.jetstream().dead_letters_stream()).await.map_err(unavailable)?;
        let subject = self.subjects.dead_letter(job_id);
        let letter = stream
            .get_last_raw_message_by_subject(&subject)
            .await
            .map_err(|e| JobError::Unavailable(format!("the dead letter of job {job_id} is gone: {e}")))?;
        let target: Target =
            letter.headers.get(headers::JOB_TARGET).and_then(|f| f.as_str().parse().ok()).ok_or_else(
                || JobError::Unavailable(format!("the dead letter of job {job_id} names no function")),
            )?;
        let queued = JobRecord {
            status: JobStatus::Queued,
            error: None,
            attempts: 0,
            finished_at_ms: None,
            callback_error: None,
            ..record
        };
        self.update(&queued, revision).await?;
        map.insert(headers::NATS_MSG_ID, format!("{job_id}.redrive.{revision}"));
        map.insert(headers::JOB_ID, job_id);
        map.insert(headers::REQUEST_ID, request_id);
        crate::telemetry::inject(&mut map);
        if let Some(url) = letter.headers.get(headers::CALLBACK_URL) {
            map.insert(headers::CALLBACK_URL, url.as_str());
        }
        let ack = self
            .js
            .publish_with_headers(self.subjects.job(&target), map, letter.payload)
            .await
            .map_err(|e| self.publish_error(e))?;
        ack.await.map_err(|e| self.publish_error(e))?;
        // Only the letter just re-driven and older ones: the re-driven job may
        // already have failed again and left a new letter, which must stay.
        let _ = stream.purge().filter(subject).sequence(letter.sequence + 1).await;
        Ok(queued)
    }
}

/// Refuses to set up the queue of a platform with a prefix of its own while
/// the stream that earlier versions shared under the default names
/// (`FAAS_JOBS`) still carries this prefix's jobs: its state (definitions,
/// tokens, the registry) is under the old names too, and the new stream
/// could not take the same subjects anyway. The error says how to migrate.
async fn refuse_legacy_names(js: &jetstream::Context, subjects: &Subjects) -> Result<(), JobError> {
    let (legacy, names) = (protocol::JetStreamNames::default(), subjects.jetstream());
    if names == legacy {
        return Ok(());
    }
    let Ok(mut stream) = js.get_stream(legacy.jobs_stream()).await else { return Ok(()) };
    let Ok(info) = stream.info().await else { return Ok(()) };
    if !info.config.subjects.contains(&subjects.jobs_all()) {
        return Ok(());
    }
    Err(JobError::Unavailable(format!(
        "the stream {} holds the jobs of prefix {:?} (subjects {}): this platform's state was kept under the \
         names every prefix shared before they followed FAAS_SUBJECT_PREFIX; it now lives in {} and {}-*. \
         Migrate it as the README says (\"Moving a platform with its own prefix to its own names\"), then start again",
        legacy.jobs_stream(),
        subjects.prefix(),
        subjects.jobs_all(),
        names.jobs_stream(),
        names.store_prefix(),
    )))
}

/// A failed write to `store`: full, or unavailable.
/// Publishes of one job message before its submit fails as unavailable:
/// the repeats carry the same `Nats-Msg-Id`, so at most one is stored.
const PUBLISH_ATTEMPTS: u32 = 3;

fn store_error(store: &str, err: impl std::fmt::Display) -> JobError {
    match StoreError::from_reason(store, err) {
        full @ StoreError::Full { .. } => JobError::StoreFull(full),
        StoreError::Unavailable { reason, .. } => JobError::Unavailable(reason),
    }
}

fn unavailable(err: impl std::fmt::Display) -> JobError {
    JobError::Unavailable(err.to_string())
}
