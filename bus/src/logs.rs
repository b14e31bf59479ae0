//! Per-call logs on the bus: publishing batches of [`CallLog`]s, and the
//! stream ([`protocol::JetStreamNames::logs_stream`]) that keeps them for reading back.
//!
//! An executor publishes one function's logs of a moment as one message
//! ([`publish_batch`]; the batching is the executor's) with a plain core
//! publish: it never waits for JetStream, so a full or missing stream can
//! neither delay nor fail a call. A dispatcher sets the stream up at start
//! ([`CallLogs::setup`]), as it does the audit trail; the api reads a
//! function's newest logs ([`CallLogs::recent`]) and follows new ones
//! ([`CallLogs::follow`]) from where the history ended, so a follower sees
//! every log once, in order. Readers count logs, not messages: a message
//! holds one log or many ([`protocol::logs::batch_logs`]).

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::stream::{self, LastRawMessageErrorKind};
use futures::{Stream, StreamExt};
use protocol::logs::{CallLog, batch_logs};
use protocol::{FunctionRef, Subjects, headers};

use crate::stores::{JetStreamLayout, KeptStream, StoreError, StoreQuotas};

/// How long reading the history may wait for its next message before the
/// stream is reported unavailable (a message expired under the reader).
const HISTORY_WAIT: Duration = Duration::from_secs(5);

/// Publishes a batch of call logs (NDJSON, [`protocol::logs::push_line`])
/// on `subject`, a function's log subject, without waiting for anything: a
/// publish that fails is logged, and the calls stand either way.
///
/// A batch carries no `Faas-Request-Id`: it holds many calls, and each
/// line names its own `request_id`.
pub async fn publish_batch(client: &async_nats::Client, subject: String, payload: bytes::Bytes) -> bool {
    let mut map = HeaderMap::new();
    map.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_NDJSON);
    match client.publish_with_headers(subject, map, payload).await {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(%err, "could not publish call logs");
            false
        }
    }
}

/// A function's newest logs, and where following it goes on from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentLogs {
    /// The newest logs kept, oldest first.
    pub logs: Vec<CallLog>,
    /// The stream sequence after the history: [`CallLogs::follow`] from
    /// here sees every later log and none of these again.
    pub next_sequence: u64,
}

/// The kept call logs: the stream `<P>_LOGS` over every log subject,
/// oldest logs dropped past its age or byte cap.
#[derive(Clone)]
pub struct CallLogs {
    stream: stream::Stream,
    name: String,
    subjects: Subjects,
}

impl CallLogs {
    /// Creates the stream, or sets its caps: what a dispatcher does at
    /// start.
    pub async fn setup(
        client: &async_nats::Client,
        subjects: &Subjects,
        layout: &JetStreamLayout,
        quotas: &StoreQuotas,
    ) -> Result<(), StoreError> {
        KeptStream {
            name: &layout.names.logs_stream(),
            description: "wasm-faas: per-call logs (stdout, stderr, outcome)",
            subjects: subjects.call_logs_all(),
            max_bytes: quotas.logs,
            max_age_secs: quotas.logs_max_age_secs,
        }
        .set_up(client, layout.replicas)
        .await
    }

    /// The stream a dispatcher set up: what the api reads.
    pub async fn open(
        client: &async_nats::Client,
        layout: &JetStreamLayout,
        subjects: Subjects,
    ) -> Result<Self, StoreError> {
        let name = layout.names.logs_stream();
        let stream = jetstream::new(client.clone())
            .get_stream(&name)
            .await
            .map_err(|e| StoreError::from_reason(&name, e))?;
        Ok(Self { stream, name, subjects })
    }

    /// The newest `limit` logs of `function`, oldest first.
    ///
    /// The stream has no "previous message of this subject", so the
    /// function's kept logs are read in order (one ordered consumer,
    /// batched) and the last `limit` kept: the cost grows with the
    /// function's kept logs, which the stream's caps bound.
    pub async fn recent(&self, function: &FunctionRef, limit: usize) -> Result<RecentLogs, StoreError> {
        let unavailable = |e: &dyn std::fmt::Display| StoreError::from_reason(&self.name, e);
        let subject = self.subjects.call_log(function);
        // Taken before the last log is looked up: a log with a sequence up
        // to here is either found below or already gone.
        let stream_last = self.stream.get_info().await.map_err(|e| unavailable(&e))?.state.last_sequence;
        let last = match self.stream.get_last_raw_message_by_subject(&subject).await {
            Ok(message) => message.sequence,
            Err(err) if matches!(err.kind(), LastRawMessageErrorKind::NoMessageFound) => {
                return Ok(RecentLogs { logs: Vec::new(), next_sequence: stream_last + 1 });
            }
            Err(err) => return Err(unavailable(&err)),
        };
        let next_sequence = last + 1;
        if limit == 0 {
            return Ok(RecentLogs { logs: Vec::new(), next_sequence });
        }
        let mut messages = self.consumer(&subject, DeliverPolicy::All).await?;
        let mut logs = VecDeque::with_capacity(limit.min(1024));
        loop {
            let message = match tokio::time::timeout(HISTORY_WAIT, messages.next()).await {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(err))) => return Err(unavailable(&err)),
                Ok(None) => break,
                Err(_) => return Err(unavailable(&"timed out reading the kept logs")),
            };
            let info = message.info().map_err(|e| unavailable(&e))?;
            let (sequence, pending) = (info.stream_sequence, info.pending);
            if sequence > last {
                break;
            }
            for log in batch_logs(&message.payload) {
                if logs.len() == limit {
                    logs.pop_front();
                }
                logs.push_back(log);
            }
            if sequence == last || pending == 0 {
                break;
            }
        }
        Ok(RecentLogs { logs: logs.into(), next_sequence })
    }

    /// Every log of `function` from stream sequence `from` on, as it comes,
    /// until the stream is dropped: each message's logs in their order. A
    /// log that does not decode is skipped.
    pub async fn follow(
        &self,
        function: &FunctionRef,
        from: u64,
    ) -> Result<impl Stream<Item = Result<CallLog, StoreError>> + Send + 'static, StoreError> {
        let subject = self.subjects.call_log(function);
        let messages =
            self.consumer(&subject, DeliverPolicy::ByStartSequence { start_sequence: from.max(1) }).await?;
        let name = self.name.clone();
        Ok(messages.flat_map(move |message| {
            let logs: Vec<Result<CallLog, StoreError>> = match message {
                Ok(message) => batch_logs(&message.payload).map(Ok).collect(),
                Err(err) => vec![Err(StoreError::from_reason(&name, err))],
            };
            futures::stream::iter(logs)
        }))
    }

    /// An ordered consumer of one subject's messages: ephemeral, no acks,
    /// recreated by the client after a gap or a reconnect.
    async fn consumer(
        &self,
        subject: &str,
        deliver_policy: DeliverPolicy,
    ) -> Result<pull::Ordered, StoreError> {
        let config =
            pull::OrderedConfig { filter_subject: subject.to_owned(), deliver_policy, ..Default::default() };
        let consumer =
            self.stream.create_consumer(config).await.map_err(|e| StoreError::from_reason(&self.name, e))?;
        consumer.messages().await.map_err(|e| StoreError::from_reason(&self.name, e))
    }
}
