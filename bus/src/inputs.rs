//! Inputs kept for replay, in the stream `<P>_INPUTS`.
//!
//! A job's input leaves the jobs stream when its worker acks it, and a sync
//! call's input is never stored at all; replay needs both. So the api keeps
//! every job's input here when it accepts the job (with the headers a
//! replay that may act needs: callback URL, trigger and output subject),
//! and an executor keeps a failed sync call's input where the function or
//! the platform asks for it (with what ran and how it failed). One message
//! per subject, as old as job records at most, the oldest dropped at the
//! byte cap: a replay of an input that is gone is `input_not_kept` or
//! `call_not_found`, never a wrong input.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures::StreamExt as _;
use protocol::{ErrorBody, ErrorCode, FunctionRef, JobRecord, Subjects, Target, headers};

use crate::jobs::JobError;

/// Headers of a job message a replay with side effects passes on.
const ACTING_HEADERS: &[&str] =
    &[headers::CALLBACK_URL, headers::TRIGGER, headers::OUTPUT_SUBJECT, headers::HOPS];

/// Headers of a job message kept beside the input so that a reader can make
/// the queued record of a job whose record the worker has not created yet
/// ([`KeptInputs::queued_record`]).
const QUEUED_HEADERS: &[&str] = &[headers::JOB_SUBMITTED_AT, headers::VERSION];

/// Longest wait for the next kept input while listing them.
const LIST_WAIT: Duration = Duration::from_secs(5);

/// An error message kept in a header is cut to this many bytes.
const MAX_KEPT_MESSAGE: usize = 1024;

/// A kept job input: the bytes and the headers a replay may pass on.
#[derive(Debug)]
pub struct KeptJob {
    /// The job's input.
    pub input: Bytes,
    /// Its callback URL, trigger, output subject and hops, as submitted.
    pub acting_headers: HeaderMap,
}

/// A failed sync call's kept input and what is known of its failure.
#[derive(Debug, Clone)]
pub struct KeptCall {
    /// The call id (its request id).
    pub call_id: String,
    /// The function called.
    pub function: FunctionRef,
    /// How it failed.
    pub error: ErrorBody,
    /// The digest that ran, if it got that far.
    pub digest: Option<String>,
    /// The input.
    pub input: Bytes,
}

/// The kept inputs: write and read.
#[derive(Clone)]
pub struct KeptInputs {
    js: jetstream::Context,
    subjects: Subjects,
}

impl KeptInputs {
    /// The kept inputs of `subjects`' platform, over `client`.
    pub fn new(client: async_nats::Client, subjects: Subjects) -> Self {
        Self { js: jetstream::new(client), subjects }
    }

    /// The kept inputs over an existing JetStream context.
    pub(crate) fn from_context(js: jetstream::Context, subjects: Subjects) -> Self {
        Self { js, subjects }
    }

    /// Creates (or updates) the stream; the job queue's creator calls it.
    pub(crate) async fn create(
        js: &jetstream::Context,
        subjects: &Subjects,
        replicas: usize,
        max_age: Duration,
        max_bytes: i64,
    ) -> Result<(), JobError> {
        js.create_or_update_stream(stream::Config {
            name: subjects.jetstream().inputs_stream(),
            num_replicas: replicas,
            description: Some("wasm-faas: inputs of jobs and failed sync calls, for replay".into()),
            subjects: vec![subjects.kept_inputs_all()],
            max_age,
            max_bytes,
            max_messages_per_subject: 1,
            // Keeping never fails for space: the oldest inputs go first.
            discard: stream::DiscardPolicy::Old,
            ..Default::default()
        })
        .await
        .map_err(|e| JobError::Unavailable(e.to_string()))?;
        Ok(())
    }

    /// Keeps job `job_id`'s input with the acting headers of its message
    /// and what its queued record is made from (what it runs, when it was
    /// accepted, the version it is pinned to).
    pub async fn keep_job(
        &self,
        job_id: &str,
        target: &Target,
        input: Bytes,
        message: &HeaderMap,
    ) -> Result<(), JobError> {
        let mut map = HeaderMap::new();
        map.insert(headers::JOB_TARGET, target.to_string());
        for name in ACTING_HEADERS.iter().chain(QUEUED_HEADERS) {
            if let Some(value) = message.get(*name) {
                map.insert(*name, value.as_str());
            }
        }
        self.publish(self.subjects.kept_job_input(job_id), map, input).await
    }

    /// Forgets job `job_id`'s kept input: the job it was kept for was not
    /// stored after all.
    pub(crate) async fn forget_job(&self, job_id: &str) -> Result<(), JobError> {
        let name = self.subjects.jetstream().inputs_stream();
        let stream = self.js.get_stream(&name).await.map_err(|e| JobError::Unavailable(e.to_string()))?;
        stream
            .purge()
            .filter(self.subjects.kept_job_input(job_id))
            .await
            .map_err(|e| JobError::Unavailable(e.to_string()))?;
        Ok(())
    }

    /// The queued record of job `job_id` made from its kept input, when the
    /// input was kept for a job whose record the worker creates
    /// ([`headers::JOB_SUBMITTED_AT`]); `None` otherwise.
    pub(crate) async fn queued_record(&self, job_id: &str) -> Result<Option<JobRecord>, JobError> {
        let Some(message) = self.last(self.subjects.kept_job_input(job_id)).await? else { return Ok(None) };
        Ok(queued_record_from(job_id, &message.headers))
    }

    /// Keeps a failed sync call's input.
    pub async fn keep_call(&self, call: &KeptCall) -> Result<(), JobError> {
        let mut map = HeaderMap::new();
        map.insert(headers::JOB_TARGET, call.function.to_string());
        map.insert(headers::ERROR_CODE, call.error.code.as_str());
        let message = headers::header_safe(&call.error.message);
        map.insert(headers::STATUS, protocol::logs::truncate(&message, MAX_KEPT_MESSAGE).0);
        if let Some(digest) = &call.digest {
            map.insert(headers::DIGEST, digest.as_str());
        }
        self.publish(self.subjects.kept_call_input(&call.call_id), map, call.input.clone()).await
    }

    async fn publish(&self, subject: String, map: HeaderMap, input: Bytes) -> Result<(), JobError> {
        let ack = self
            .js
            .publish_with_headers(subject, map, input)
            .await
            .map_err(|e| JobError::Unavailable(format!("keeping an input: {e}")))?;
        ack.await.map_err(|e| JobError::Unavailable(format!("keeping an input: {e}")))?;
        Ok(())
    }

    /// The queued records made from every kept job input that carries
    /// [`headers::JOB_SUBMITTED_AT`] (jobs whose worker creates the
    /// record), in one pass over the inputs' headers; the caller drops
    /// those whose record exists.
    pub(crate) async fn queued_records(&self) -> Result<Vec<JobRecord>, JobError> {
        let failed = |e: &dyn std::fmt::Display| JobError::Unavailable(format!("listing kept inputs: {e}"));
        let Some(stream) = self.existing_stream().await.map_err(|e| failed(&e))? else {
            return Ok(Vec::new());
        };
        let config = jetstream::consumer::pull::OrderedConfig {
            filter_subject: self.subjects.kept_job_input("*"),
            headers_only: true,
            ..Default::default()
        };
        let consumer = stream.create_consumer(config).await.map_err(|e| failed(&e))?;
        let mut records = Vec::new();
        if consumer.cached_info().num_pending == 0 {
            return Ok(records);
        }
        let mut messages = consumer.messages().await.map_err(|e| failed(&e))?;
        loop {
            let message = match tokio::time::timeout(LIST_WAIT, messages.next()).await {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(err))) => return Err(failed(&err)),
                Ok(None) => break,
                Err(_) => return Err(failed(&"timed out")),
            };
            let job_id = message.subject.as_str().rsplit('.').next().unwrap_or_default();
            if let Some(record) = message.headers.as_ref().and_then(|map| queued_record_from(job_id, map)) {
                records.push(record);
            }
            if message.info().map_err(|e| failed(&e))?.pending == 0 {
                break;
            }
        }
        Ok(records)
    }

    /// Job `job_id`'s kept input; [`JobError::InputNotKept`] once it is gone.
    pub async fn job(&self, job_id: &str) -> Result<KeptJob, JobError> {
        let message = self
            .last(self.subjects.kept_job_input(job_id))
            .await?
            .ok_or_else(|| JobError::InputNotKept(job_id.to_owned()))?;
        let mut acting_headers = HeaderMap::new();
        for name in ACTING_HEADERS {
            if let Some(value) = message.headers.get(*name) {
                acting_headers.insert(*name, value.as_str());
            }
        }
        Ok(KeptJob { input: message.payload, acting_headers })
    }

    /// Call `call_id`'s kept input; [`JobError::CallNotFound`] if none is kept.
    pub async fn call(&self, call_id: &str) -> Result<KeptCall, JobError> {
        let message = self
            .last(self.subjects.kept_call_input(call_id))
            .await?
            .ok_or_else(|| JobError::CallNotFound(call_id.to_owned()))?;
        let get = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned());
        let function = match get(headers::JOB_TARGET).and_then(|t| t.parse::<Target>().ok()) {
            Some(Target::Function(function)) => function,
            _ => {
                return Err(JobError::Unavailable(format!(
                    "the kept input of call {call_id} names no function"
                )));
            }
        };
        let code = get(headers::ERROR_CODE).map_or(ErrorCode::Internal, |c| ErrorCode::parse(&c));
        Ok(KeptCall {
            call_id: call_id.to_owned(),
            function,
            error: ErrorBody::new(code, get(headers::STATUS).unwrap_or_default()),
            digest: get(headers::DIGEST),
            input: message.payload,
        })
    }

    /// The inputs stream, `None` while there is none (no dispatcher ever
    /// started: nothing was kept).
    async fn existing_stream(&self) -> Result<Option<stream::Stream>, jetstream::context::GetStreamError> {
        match self.js.get_stream(self.subjects.jetstream().inputs_stream()).await {
            Ok(stream) => Ok(Some(stream)),
            Err(err)
                if matches!(err.kind(), jetstream::context::GetStreamErrorKind::JetStream(e)
                    if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
            {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// The message on `subject`, `None` if there is none (or no stream).
    async fn last(&self, subject: String) -> Result<Option<jetstream::message::StreamMessage>, JobError> {
        let stream = self
            .existing_stream()
            .await
            .map_err(|err| JobError::Unavailable(format!("reading a kept input: {err}")))?;
        let Some(stream) = stream else { return Ok(None) };
        match stream.get_last_raw_message_by_subject(&subject).await {
            Ok(message) => Ok(Some(message)),
            Err(err) if err.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(err) => Err(JobError::Unavailable(format!("reading a kept input: {err}"))),
        }
    }
}

/// The queued record a job message (or its kept input) with these headers
/// stands for: `None` unless it carries [`headers::JOB_SUBMITTED_AT`] (the
/// mark of a job whose record the worker creates) and, on a kept input,
/// what it runs. The record is the one the submitter would have written:
/// the callback URL redacted, the version pinned.
pub(crate) fn queued_record_from(job_id: &str, map: &HeaderMap) -> Option<JobRecord> {
    let target = map.get(headers::JOB_TARGET)?.as_str().parse::<Target>().ok()?;
    queued_record_for(job_id, target, map)
}

/// [`queued_record_from`] for a message whose target is known (the job
/// message's subject says it).
pub(crate) fn queued_record_for(job_id: &str, target: Target, map: &HeaderMap) -> Option<JobRecord> {
    let submitted_at_ms = map.get(headers::JOB_SUBMITTED_AT)?.as_str().parse::<u64>().ok()?;
    Some(JobRecord {
        callback_url: map.get(headers::CALLBACK_URL).map(|url| protocol::callbacks::redact(url.as_str())),
        version: map.get(headers::VERSION).map(|v| v.as_str().to_owned()),
        ..JobRecord::queued(job_id, target, submitted_at_ms)
    })
}
