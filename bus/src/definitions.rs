//! Trigger and pipeline definitions on the bus, and the feed that keeps
//! every dispatcher's subscriptions in step with them.
//!
//! Definitions are small JSON documents keyed by name in a JetStream
//! key-value bucket ([`triggers`](protocol::JetStreamNames::triggers),
//! [`pipelines`](protocol::JetStreamNames::pipelines)), and followed: each
//! dispatcher holds a [`DefinitionFeed`] of the triggers, and each executor
//! one of the pipelines (as a [`crate::PipelineWatch`]), an acked follower
//! of the bucket ([`crate::follower`]) that replays the current definitions
//! and then every change, and acks a change only after its owner applied it
//! (subscribed or unsubscribed; updated its copy). A write waits for those
//! acks ([`DefinitionStore::wait_for_followers`]), so once `PUT /trigger/x`
//! answers, the trigger's subscription is live on every dispatcher, and once
//! `DELETE` answers, it is gone from all; likewise the next pipeline run
//! after `PUT /pipeline/x` or `DELETE` uses the change.

use std::marker::PhantomData;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::follower::{FollowedBucket, Follower, FollowerError};

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
    /// The store is at its byte cap.
    #[error(transparent)]
    Full(crate::StoreError),
    /// No definition by that name.
    #[error("no {kind} named {name:?}")]
    NotFound {
        /// `trigger` or `pipeline`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// Some followers did not apply a write in time.
    #[error("followers have not applied {kind} change {revision} yet: {}", followers.join(", "))]
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
    bucket: FollowedBucket,
    kind: &'static str,
    _values: PhantomData<fn() -> T>,
}

impl<T> Clone for DefinitionStore<T> {
    fn clone(&self) -> Self {
        Self { bucket: self.bucket.clone(), kind: self.kind, _values: PhantomData }
    }
}

impl<T: Serialize + DeserializeOwned> DefinitionStore<T> {
    /// Opens the bucket `bucket` holding `kind` definitions, creating it on first use.
    pub async fn open(
        client: &async_nats::Client,
        layout: &crate::JetStreamLayout,
        bucket: &str,
        kind: &'static str,
    ) -> Result<Self, DefinitionError> {
        Self::open_capped(client, layout, bucket, kind, crate::StoreQuotas::DEFAULT.definitions).await
    }

    /// [`Self::open`], creating the bucket with a byte cap of its own.
    pub async fn open_capped(
        client: &async_nats::Client,
        layout: &crate::JetStreamLayout,
        bucket: &str,
        kind: &'static str,
        max_bytes: i64,
    ) -> Result<Self, DefinitionError> {
        let config = kv::Config {
            bucket: bucket.to_owned(),
            description: format!("wasm-faas: {kind} definitions by name"),
            history: 1,
            max_bytes,
            ..Default::default()
        };
        let kv = crate::open_or_create(&jetstream::new(client.clone()), layout.replicas, config)
            .await
            .map_err(|e| DefinitionError::Unavailable { kind, reason: e.reason })?;
        let bucket = FollowedBucket::new(kv, format!("faas-{kind}-follower-"));
        Ok(Self { bucket, kind, _values: PhantomData })
    }

    /// Opens the store, waiting for JetStream.
    pub async fn open_when_ready(
        client: &async_nats::Client,
        layout: &crate::JetStreamLayout,
        bucket: &str,
        kind: &'static str,
    ) -> Self {
        crate::retry(&format!("{kind} store"), || Self::open(client, layout, bucket, kind)).await
    }

    /// Stores `value` under `name`; returns the revision to wait for.
    pub async fn put(&self, name: &str, value: &T) -> Result<u64, DefinitionError> {
        let bytes = serde_json::to_vec(value).expect("definitions always serialise");
        self.kv().put(name, bytes.into()).await.map_err(|e| {
            match crate::StoreError::from_reason(self.bucket.store().name.as_str(), e) {
                full @ crate::StoreError::Full { .. } => DefinitionError::Full(full),
                crate::StoreError::Unavailable { reason, .. } => self.unavailable(reason),
            }
        })
    }

    /// The definition named `name`.
    pub async fn get(&self, name: &str) -> Result<T, DefinitionError> {
        let value = self.kv().get(name).await.map_err(|e| self.unavailable(e))?;
        let value = value.ok_or_else(|| self.not_found(name))?;
        serde_json::from_slice(&value)
            .map_err(|e| self.unavailable(format!("malformed {} {name:?}: {e}", self.kind)))
    }

    /// Every definition, sorted by name, read in one pass. Malformed ones
    /// (written by something else than the platform) are skipped with a
    /// warning.
    pub async fn list(&self) -> Result<Vec<(String, T)>, DefinitionError> {
        let values = crate::snapshot::current_values(self.kv()).await.map_err(|e| self.unavailable(e))?;
        Ok(self.parsed_sorted(values))
    }

    /// Every definition whose name starts with `prefix` (ending with `.`),
    /// sorted by name; malformed ones skipped with a warning.
    pub async fn list_under(&self, prefix: &str) -> Result<Vec<(String, T)>, DefinitionError> {
        let values = crate::snapshot::current_values_under(self.kv(), prefix)
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(self.parsed_sorted(values))
    }

    /// The definitions among `values` (name, JSON), sorted by name;
    /// malformed ones skipped with a warning.
    fn parsed_sorted<V: AsRef<[u8]>>(
        &self,
        values: impl IntoIterator<Item = (String, V)>,
    ) -> Vec<(String, T)> {
        let mut found: Vec<(String, T)> = values
            .into_iter()
            .filter_map(|(name, value)| match serde_json::from_slice(value.as_ref()) {
                Ok(definition) => Some((name, definition)),
                Err(err) => {
                    tracing::warn!(%err, name, "malformed {} skipped while listing", self.kind);
                    None
                }
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Deletes `name`; returns the revision to wait for.
    pub async fn delete(&self, name: &str) -> Result<u64, DefinitionError> {
        if self.kv().get(name).await.map_err(|e| self.unavailable(e))?.is_none() {
            return Err(self.not_found(name));
        }
        self.kv().purge(name).await.map_err(|e| self.unavailable(e))?;
        self.bucket.last_revision().await.map_err(|e| self.follower_error(e))
    }

    /// Waits until every live [`DefinitionFeed`] has applied `revision`.
    pub async fn wait_for_followers(&self, revision: u64, timeout: Duration) -> Result<(), DefinitionError> {
        self.bucket.wait_for_followers(revision, timeout).await.map_err(|e| self.follower_error(e))
    }

    /// Starts following the definitions; see [`DefinitionFeed`].
    pub async fn follow(&self, client: &async_nats::Client) -> Result<DefinitionFeed<T>, DefinitionError> {
        self.bucket.follow(client).await.map_err(|e| self.follower_error(e))
    }

    fn kv(&self) -> &kv::Store {
        self.bucket.store()
    }

    fn follower_error(&self, err: FollowerError) -> DefinitionError {
        match err {
            FollowerError::Unavailable(reason) => self.unavailable(reason),
            FollowerError::Behind { revision, followers } => {
                DefinitionError::FollowersBehind { kind: self.kind, revision, followers }
            }
        }
    }

    fn unavailable(&self, err: impl std::fmt::Display) -> DefinitionError {
        DefinitionError::Unavailable { kind: self.kind, reason: err.to_string() }
    }

    fn not_found(&self, name: &str) -> DefinitionError {
        DefinitionError::NotFound { kind: self.kind, name: name.to_owned() }
    }
}

/// A dispatcher's live view of the definitions: the current ones first,
/// then every change ([`crate::Change`]), each acked only once applied
/// ([`crate::Applied`]). The generic [`Follower`] of the definitions'
/// bucket, with consumers named `faas-<kind>-follower-<id>`.
pub type DefinitionFeed<T> = Follower<T>;
