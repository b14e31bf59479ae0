//! Trigger and pipeline definitions on the bus, and the feed that keeps
//! every dispatcher's subscriptions in step with them.
//!
//! Definitions are small JSON documents keyed by name in a JetStream
//! key-value bucket ([`protocol::triggers::TRIGGERS`],
//! [`protocol::pipelines::PIPELINES`]). Pipelines are read per run. Triggers
//! are followed: each dispatcher holds a [`DefinitionFeed`], a push consumer
//! that replays the current definitions and then every change, and acks a
//! change only after the dispatcher applied it (subscribed or unsubscribed).
//! A write waits for those acks ([`DefinitionStore::wait_for_followers`]), so
//! once `PUT /trigger/x` answers, the trigger's subscription is live on
//! every dispatcher, and once `DELETE` answers, it is gone from all.

use std::marker::PhantomData;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, push};
use async_nats::jetstream::{self, kv};
use futures::StreamExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::acks::WaitError;

/// A definition store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// JetStream is not enabled or not reachable.
    #[error("the {kind} store is unavailable (is JetStream enabled?): {reason}")]
    Unavailable {
        /// `trigger` or `pipeline`.
        kind: &'static str,
        /// What failed.
        reason: String,
    },
    /// No definition by that name.
    #[error("no {kind} named {name:?}")]
    NotFound {
        /// `trigger` or `pipeline`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// Some followers did not apply a write in time.
    #[error("dispatchers have not applied {kind} change {revision} yet: {}", followers.join(", "))]
    FollowersBehind {
        /// `trigger` or `pipeline`.
        kind: &'static str,
        /// The revision.
        revision: u64,
        /// Their consumers.
        followers: Vec<String>,
    },
}

/// Named definitions of one kind, stored as JSON.
pub struct DefinitionStore<T> {
    kv: kv::Store,
    kind: &'static str,
    _values: PhantomData<fn() -> T>,
}

impl<T> Clone for DefinitionStore<T> {
    fn clone(&self) -> Self {
        Self { kv: self.kv.clone(), kind: self.kind, _values: PhantomData }
    }
}

impl<T: Serialize + DeserializeOwned> DefinitionStore<T> {
    /// Opens the bucket `bucket` holding `kind` definitions, creating it on first use.
    pub async fn open(
        client: &async_nats::Client,
        bucket: &str,
        kind: &'static str,
    ) -> Result<Self, DefinitionError> {
        let js = jetstream::new(client.clone());
        let unavailable =
            |e: &dyn std::fmt::Display| DefinitionError::Unavailable { kind, reason: e.to_string() };
        let kv = match js.get_key_value(bucket).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: bucket.to_owned(),
                    description: format!("wasm-faas: {kind} definitions by name"),
                    history: 1,
                    ..Default::default()
                })
                .await
                .map_err(|e| unavailable(&e))?,
        };
        Ok(Self { kv, kind, _values: PhantomData })
    }

    /// Opens the store, waiting for JetStream.
    pub async fn open_when_ready(client: &async_nats::Client, bucket: &str, kind: &'static str) -> Self {
        loop {
            match Self::open(client, bucket, kind).await {
                Ok(store) => return store,
                Err(err) => {
                    tracing::warn!(%err, "{kind} store not ready; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Stores `value` under `name`; returns the revision to wait for.
    pub async fn put(&self, name: &str, value: &T) -> Result<u64, DefinitionError> {
        let bytes = serde_json::to_vec(value).expect("definitions always serialise");
        self.kv.put(name, bytes.into()).await.map_err(|e| self.unavailable(e))
    }

    /// The definition named `name`.
    pub async fn get(&self, name: &str) -> Result<T, DefinitionError> {
        let value = self.kv.get(name).await.map_err(|e| self.unavailable(e))?;
        let value = value.ok_or_else(|| self.not_found(name))?;
        serde_json::from_slice(&value)
            .map_err(|e| self.unavailable(format!("malformed {} {name:?}: {e}", self.kind)))
    }

    /// Every definition, sorted by name, read in one pass. Malformed ones
    /// (written by something else than the platform) are skipped with a
    /// warning.
    pub async fn list(&self) -> Result<Vec<(String, T)>, DefinitionError> {
        let values = crate::snapshot::current_values(&self.kv).await.map_err(|e| self.unavailable(e))?;
        let mut found: Vec<(String, T)> = values
            .into_iter()
            .filter_map(|(name, value)| match serde_json::from_slice(&value) {
                Ok(definition) => Some((name, definition)),
                Err(err) => {
                    tracing::warn!(%err, name, "malformed {} skipped while listing", self.kind);
                    None
                }
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    /// Deletes `name`; returns the revision to wait for.
    pub async fn delete(&self, name: &str) -> Result<u64, DefinitionError> {
        if self.kv.get(name).await.map_err(|e| self.unavailable(e))?.is_none() {
            return Err(self.not_found(name));
        }
        self.kv.purge(name).await.map_err(|e| self.unavailable(e))?;
        Ok(self.kv.stream.get_info().await.map_err(|e| self.unavailable(e))?.state.last_sequence)
    }

    /// Waits until every live [`DefinitionFeed`] has applied `revision`.
    pub async fn wait_for_followers(&self, revision: u64, timeout: Duration) -> Result<(), DefinitionError> {
        let prefix = self.follower_prefix();
        crate::acks::wait_for_acks(&self.kv.stream, &prefix, revision, timeout).await.map_err(|err| match err
        {
            WaitError::Unavailable(reason) => self.unavailable(reason),
            WaitError::Behind(followers) => {
                DefinitionError::FollowersBehind { kind: self.kind, revision, followers }
            }
        })
    }

    /// Starts following the definitions; see [`DefinitionFeed`].
    pub async fn follow(&self, client: &async_nats::Client) -> Result<DefinitionFeed<T>, DefinitionError> {
        let mut feed =
            DefinitionFeed { client: client.clone(), store: self.clone(), consumer: None, messages: None };
        feed.restart().await?;
        Ok(feed)
    }

    fn follower_prefix(&self) -> String {
        format!("faas-{}-follower-", self.kind)
    }

    fn unavailable(&self, err: impl std::fmt::Display) -> DefinitionError {
        DefinitionError::Unavailable { kind: self.kind, reason: err.to_string() }
    }

    fn not_found(&self, name: &str) -> DefinitionError {
        DefinitionError::NotFound { kind: self.kind, name: name.to_owned() }
    }
}

/// One change to the definitions, to apply and then [`Applied::done`].
#[derive(Debug)]
pub enum Change<T> {
    /// `name` now has this definition (new, changed, or replayed).
    Set {
        /// The name.
        name: String,
        /// The definition.
        value: T,
    },
    /// `name` is gone (deleted, or its entry no longer parses).
    Removed {
        /// The name.
        name: String,
    },
    /// The feed started over (its consumer was lost in an outage): every
    /// current definition follows as `Set`; forget the ones that do not.
    Restarted,
}

/// Acknowledges an applied [`Change`]; writers waiting on it go on.
pub struct Applied(Option<jetstream::Message>);

impl Applied {
    /// Tells the store the change is applied.
    pub async fn done(self) {
        if let Some(message) = self.0
            && let Err(err) = message.ack().await
        {
            tracing::warn!(%err, "could not ack a definition change");
        }
    }
}

/// A dispatcher's live view of the definitions: the current ones first,
/// then every change, each acked only once applied.
pub struct DefinitionFeed<T> {
    client: async_nats::Client,
    store: DefinitionStore<T>,
    consumer: Option<jetstream::consumer::PushConsumer>,
    messages: Option<jetstream::consumer::push::Messages>,
}

impl<T: Serialize + DeserializeOwned> DefinitionFeed<T> {
    /// The next change. Waits as long as nothing changes; recovers by
    /// itself from outages (with [`Change::Restarted`]).
    pub async fn next(&mut self) -> (Change<T>, Applied) {
        loop {
            let Some(messages) = self.messages.as_mut() else {
                match self.restart().await {
                    Ok(()) => return (Change::Restarted, Applied(None)),
                    Err(err) => {
                        tracing::warn!(%err, "could not follow the {} store; retrying in 1 s", self.store.kind);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            };
            match tokio::time::timeout(Duration::from_secs(5), messages.next()).await {
                Ok(Some(Ok(message))) => return self.change(message),
                Ok(Some(Err(err))) => {
                    tracing::warn!(%err, "{} feed interrupted", self.store.kind);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(None) => self.messages = None,
                // Quiet: make sure the consumer survived any outage.
                Err(_) => {
                    let gone = match self.consumer.as_mut() {
                        Some(consumer) => {
                            consumer.info().await.is_err_and(|e| e.to_string().contains("not found"))
                        }
                        None => true,
                    };
                    if gone {
                        self.messages = None;
                    }
                }
            }
        }
    }

    fn change(&self, message: jetstream::Message) -> (Change<T>, Applied) {
        let name = message
            .subject
            .as_str()
            .strip_prefix(self.store.kv.prefix.as_str())
            .unwrap_or_default()
            .to_owned();
        let operation =
            message.headers.as_ref().and_then(|h| h.get("KV-Operation")).map(|v| v.as_str().to_owned());
        let change = match operation.as_deref() {
            Some("DEL" | "PURGE") => Change::Removed { name },
            _ => match serde_json::from_slice::<T>(&message.payload) {
                Ok(value) => Change::Set { name, value },
                Err(err) => {
                    tracing::warn!(%err, name, "malformed {} definition ignored", self.store.kind);
                    Change::Removed { name }
                }
            },
        };
        (change, Applied(Some(message)))
    }

    async fn restart(&mut self) -> Result<(), DefinitionError> {
        let kv = &self.store.kv;
        let consumer = kv
            .stream
            .create_consumer(push::Config {
                name: Some(format!("{}{}", self.store.follower_prefix(), uuid::Uuid::new_v4().simple())),
                deliver_subject: self.client.new_inbox(),
                deliver_policy: DeliverPolicy::LastPerSubject,
                ack_policy: AckPolicy::Explicit,
                filter_subject: format!("{}>", kv.prefix),
                // A dead dispatcher's feed disappears by itself.
                inactive_threshold: Duration::from_secs(60),
                ..Default::default()
            })
            .await
            .map_err(|e| self.store.unavailable(e))?;
        let messages = consumer.messages().await.map_err(|e| self.store.unavailable(e))?;
        self.consumer = Some(consumer);
        self.messages = Some(messages);
        Ok(())
    }
}
