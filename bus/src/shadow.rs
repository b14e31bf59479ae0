//! Shadow traffic on the bus: the functions being shadowed (one
//! [`ShadowConfig`] per function in the [`shadow`](protocol::JetStreamNames::shadow)
//! key-value bucket, under `<bucket>.<function>`) and the outcomes of the
//! shadow pairs (the stream
//! [`shadow_outcomes_stream`](protocol::JetStreamNames::shadow_outcomes_stream)).
//!
//! Only the dispatcher writes the configurations, and it waits for every
//! live [`ShadowWatch`] to apply a write before it answers, as it does for
//! versions: after `PUT` answered every executor shadows, after `DELETE`
//! none starts a new shadow run. Executors publish each outcome with a
//! plain core publish ([`publish_outcome`]), so a full or missing stream
//! can neither delay nor fail a live call.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::stream::{self, LastRawMessageErrorKind};
use futures::StreamExt as _;
use protocol::shadow::{OUTCOMES_PER_FUNCTION, ShadowConfig, ShadowOutcome, shadow_key};
use protocol::{BucketName, FunctionRef, Subjects, headers};

use crate::definitions::{DefinitionError, DefinitionStore};
use crate::followed_map::{FollowedMap, MapLookup};
use crate::stores::{JetStreamLayout, StoreError, StoreQuotas};

/// How long reading the outcomes may wait for the next one.
const READ_WAIT: Duration = Duration::from_secs(5);

/// Every function being shadowed.
#[derive(Clone)]
pub struct ShadowStore {
    configs: DefinitionStore<ShadowConfig>,
}

impl ShadowStore {
    /// Opens the store, creating it on first use.
    pub async fn open(
        client: &async_nats::Client,
        layout: &JetStreamLayout,
    ) -> Result<Self, DefinitionError> {
        let configs = DefinitionStore::open(client, layout, &layout.names.shadow(), "shadow").await?;
        Ok(Self { configs })
    }

    /// Opens the store, waiting for JetStream.
    pub async fn open_when_ready(client: &async_nats::Client, layout: &JetStreamLayout) -> Self {
        crate::retry("shadow store", || Self::open(client, layout)).await
    }

    /// `function`'s shadowing, if any.
    pub async fn get(&self, function: &FunctionRef) -> Result<Option<ShadowConfig>, DefinitionError> {
        match self.configs.get(&shadow_key(function)).await {
            Ok(config) => Ok(Some(config)),
            Err(DefinitionError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Every shadowing.
    pub async fn list(&self) -> Result<Vec<ShadowConfig>, DefinitionError> {
        Ok(self.configs.list().await?.into_iter().map(|(_, config)| config).collect())
    }

    /// Starts (or replaces) `function`'s shadowing; the revision to wait for.
    pub async fn put(&self, function: &FunctionRef, config: &ShadowConfig) -> Result<u64, DefinitionError> {
        self.configs.put(&shadow_key(function), config).await
    }

    /// Stops `function`'s shadowing; the revision to wait for, if there was one.
    pub async fn remove(&self, function: &FunctionRef) -> Result<Option<u64>, DefinitionError> {
        match self.configs.delete(&shadow_key(function)).await {
            Ok(revision) => Ok(Some(revision)),
            Err(DefinitionError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Stops the shadowing of every function of `bucket`; the last
    /// revision to wait for.
    pub async fn remove_bucket(&self, bucket: &BucketName) -> Result<Option<u64>, DefinitionError> {
        let mut last = None;
        for (key, _) in self.configs.list_under(&format!("{bucket}.")).await? {
            match self.configs.delete(&key).await {
                Ok(revision) => last = Some(revision),
                Err(DefinitionError::NotFound { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(last)
    }

    /// Waits until every live [`ShadowWatch`] has applied `revision`.
    pub async fn wait_for_followers(&self, revision: u64, timeout: Duration) -> Result<(), DefinitionError> {
        self.configs.wait_for_followers(revision, timeout).await
    }

    /// Starts following the shadowings; see [`ShadowWatch`].
    pub async fn watch(&self, client: &async_nats::Client) -> Result<ShadowWatch, DefinitionError> {
        let map = FollowedMap::start(self.configs.follow(client).await?);
        Ok(ShadowWatch { map })
    }
}

/// An executor's live copy of every shadowing.
#[derive(Clone)]
pub struct ShadowWatch {
    map: FollowedMap<ShadowConfig>,
}

impl ShadowWatch {
    /// `function`'s shadowing, from memory only: a map read, so a live
    /// call can ask on its own path. While the copy is not known current
    /// (starting, or catching up after a reconnect) it answers `None`: no
    /// shadow run is worth a store read on a live call's path.
    pub fn config(&self, function: &FunctionRef) -> Option<Arc<ShadowConfig>> {
        match self.map.lookup(&shadow_key(function)) {
            MapLookup::Found(config) => Some(config),
            MapLookup::Absent | MapLookup::Unknown => None,
        }
    }
}

/// Publishes `outcome` on its function's shadow subject without waiting
/// for anything: a publish that fails is logged and dropped.
pub async fn publish_outcome(
    client: &async_nats::Client,
    subjects: &Subjects,
    function: &FunctionRef,
    outcome: &ShadowOutcome,
) {
    let mut map = HeaderMap::new();
    map.insert(headers::REQUEST_ID, outcome.request_id.as_str());
    map.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
    let payload = serde_json::to_vec(outcome).expect("shadow outcomes always serialise");
    if let Err(err) =
        client.publish_with_headers(subjects.shadow_outcome(function), map, payload.into()).await
    {
        tracing::warn!(%err, "could not publish a shadow outcome");
    }
}

/// The kept shadow outcomes: the stream `<P>_SHADOW_OUTCOMES` over every
/// shadow subject, at most [`OUTCOMES_PER_FUNCTION`] per function, the
/// oldest dropped past its age or byte cap.
#[derive(Clone)]
pub struct ShadowOutcomes {
    stream: stream::Stream,
    name: String,
    subjects: Subjects,
}

impl ShadowOutcomes {
    /// Creates the stream or sets its caps, and opens it: what a dispatcher
    /// does at start.
    pub async fn setup(
        client: &async_nats::Client,
        subjects: &Subjects,
        layout: &JetStreamLayout,
        quotas: &StoreQuotas,
    ) -> Result<Self, StoreError> {
        let name = layout.names.shadow_outcomes_stream();
        let js = jetstream::new(client.clone());
        js.create_or_update_stream(stream::Config {
            name: name.clone(),
            num_replicas: layout.replicas,
            description: Some("wasm-faas: shadow traffic outcomes (live vs candidate)".to_owned()),
            subjects: vec![subjects.shadow_outcomes_all()],
            max_bytes: quotas.shadow_outcomes,
            max_age: Duration::from_secs(quotas.shadow_outcomes_max_age_secs),
            max_messages_per_subject: OUTCOMES_PER_FUNCTION,
            discard: stream::DiscardPolicy::Old,
            ..Default::default()
        })
        .await
        .map_err(|e| StoreError::from_reason(&name, e))?;
        let stream = js.get_stream(&name).await.map_err(|e| StoreError::from_reason(&name, e))?;
        Ok(Self { stream, name, subjects: subjects.clone() })
    }

    /// Forgets every outcome of `function`: a new shadowing starts a fresh report.
    pub async fn purge(&self, function: &FunctionRef) -> Result<(), StoreError> {
        self.purge_subject(self.subjects.shadow_outcome(function)).await
    }

    /// Forgets the outcomes of every function of `bucket`.
    pub async fn purge_bucket(&self, bucket: &protocol::BucketName) -> Result<(), StoreError> {
        self.purge_subject(self.subjects.shadow_outcomes_of_bucket(bucket)).await
    }

    async fn purge_subject(&self, subject: String) -> Result<(), StoreError> {
        self.stream.purge().filter(subject).await.map_err(|e| StoreError::from_reason(&self.name, e))?;
        Ok(())
    }

    /// The newest `limit` outcomes of `function`, oldest first. The kept
    /// outcomes of one function are bounded by the stream's per-subject
    /// cap, so reading them all is bounded too.
    pub async fn recent(
        &self,
        function: &FunctionRef,
        limit: usize,
    ) -> Result<Vec<ShadowOutcome>, StoreError> {
        let unavailable = |e: &dyn std::fmt::Display| StoreError::from_reason(&self.name, e);
        let subject = self.subjects.shadow_outcome(function);
        let last = match self.stream.get_last_raw_message_by_subject(&subject).await {
            Ok(message) => message.sequence,
            Err(err) if matches!(err.kind(), LastRawMessageErrorKind::NoMessageFound) => {
                return Ok(Vec::new());
            }
            Err(err) => return Err(unavailable(&err)),
        };
        let config = pull::OrderedConfig {
            filter_subject: subject,
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        };
        let consumer = self.stream.create_consumer(config).await.map_err(|e| unavailable(&e))?;
        let mut messages = consumer.messages().await.map_err(|e| unavailable(&e))?;
        let mut outcomes = std::collections::VecDeque::new();
        loop {
            let message = match tokio::time::timeout(READ_WAIT, messages.next()).await {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(err))) => return Err(unavailable(&err)),
                Ok(None) => break,
                Err(_) => return Err(unavailable(&"timed out reading the shadow outcomes")),
            };
            let info = message.info().map_err(|e| unavailable(&e))?;
            let (sequence, pending) = (info.stream_sequence, info.pending);
            if sequence > last {
                break;
            }
            if let Ok(outcome) = serde_json::from_slice::<ShadowOutcome>(&message.payload) {
                if outcomes.len() == limit {
                    outcomes.pop_front();
                }
                outcomes.push_back(outcome);
            }
            if sequence == last || pending == 0 {
                break;
            }
        }
        Ok(outcomes.into())
    }
}
