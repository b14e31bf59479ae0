//! The api tokens on the bus: one [`TokenRecord`] per token id in the
//! [`tokens`](protocol::JetStreamNames::tokens) key-value bucket.
//!
//! Every api follows the bucket with a [`TokenWatch`] (an acked follower,
//! [`crate::follower`]) and checks tokens against its in-memory copy, so
//! authentication costs no round trip. Only dispatchers write it (the
//! `create_token` and `revoke_token` admin commands), and they wait for
//! every live watch to apply a change ([`TokenStore::wait_for_watchers`]),
//! so once a revocation is answered no api accepts the token any more.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt as _;
use protocol::auth::TokenRecord;

use crate::follower::{Change, FollowedBucket, Follower, FollowerError, FollowerStatus};

/// The token bucket could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TokenStoreError {
    /// JetStream is not enabled or not reachable.
    #[error("the token store is unavailable (is JetStream enabled?): {0}")]
    Unavailable(String),
    /// The bucket is at its byte cap.
    #[error(transparent)]
    Full(crate::StoreError),
    /// Some apis did not apply a change in time.
    #[error("apis have not applied token revision {revision} yet: {}", watchers.join(", "))]
    WatchersBehind {
        /// The revision.
        revision: u64,
        /// Their watch consumers.
        watchers: Vec<String>,
    },
}

/// Name prefix of the watch consumers, so writers know which consumers of
/// the bucket's stream to wait for.
const WATCH_PREFIX: &str = "faas-tokens-watch-";

/// Handle on the token bucket.
#[derive(Clone)]
pub struct TokenStore {
    bucket: FollowedBucket,
}

impl TokenStore {
    /// Opens the bucket, creating it on first use: what its writer, a
    /// dispatcher, does.
    pub async fn open(
        client: &async_nats::Client,
        layout: &crate::JetStreamLayout,
    ) -> Result<Self, TokenStoreError> {
        let config = kv::Config {
            bucket: layout.names.tokens(),
            description: "wasm-faas: api tokens (secrets only as SHA-256)".into(),
            history: 1,
            max_bytes: crate::StoreQuotas::DEFAULT.definitions,
            ..Default::default()
        };
        let kv = crate::open_or_create(&jetstream::new(client.clone()), layout.replicas, config)
            .await
            .map_err(|e| TokenStoreError::Unavailable(e.reason))?;
        Ok(Self { bucket: FollowedBucket::new(kv, WATCH_PREFIX) })
    }

    /// Opens the bucket, waiting for JetStream.
    pub async fn open_when_ready(client: &async_nats::Client, layout: &crate::JetStreamLayout) -> Self {
        crate::retry("token store", || Self::open(client, layout)).await
    }

    /// Opens the bucket a dispatcher created; unavailable until one did.
    /// What the api does: its NATS user may not create the bucket.
    pub async fn open_existing(
        client: &async_nats::Client,
        layout: &crate::JetStreamLayout,
    ) -> Result<Self, TokenStoreError> {
        let kv =
            jetstream::new(client.clone()).get_key_value(layout.names.tokens()).await.map_err(unavailable)?;
        Ok(Self { bucket: FollowedBucket::new(kv, WATCH_PREFIX) })
    }

    /// The record of token `id`, read from the bucket (not from a watch).
    pub async fn get(&self, id: &str) -> Result<Option<TokenRecord>, TokenStoreError> {
        let Some(value) = self.kv().get(id).await.map_err(unavailable)? else { return Ok(None) };
        Ok(serde_json::from_slice(&value).ok())
    }

    /// Every stored record.
    pub async fn list(&self) -> Result<Vec<TokenRecord>, TokenStoreError> {
        let mut keys = self.kv().keys().await.map_err(unavailable)?;
        let mut ids = Vec::new();
        while let Some(key) = keys.next().await {
            ids.push(key.map_err(unavailable)?);
        }
        let mut records = Vec::new();
        for id in ids {
            if let Some(record) = self.get(&id).await? {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// Stores `record`; returns the revision to wait for.
    pub async fn put(&self, record: &TokenRecord) -> Result<u64, TokenStoreError> {
        let value = serde_json::to_vec(record).expect("records always serialise");
        self.kv().put(&record.id, value.into()).await.map_err(|e| {
            match crate::StoreError::from_reason(&self.kv().name, e) {
                full @ crate::StoreError::Full { .. } => TokenStoreError::Full(full),
                crate::StoreError::Unavailable { reason, .. } => TokenStoreError::Unavailable(reason),
            }
        })
    }

    /// Forgets token `id`; returns the revision to wait for.
    pub async fn remove(&self, id: &str) -> Result<u64, TokenStoreError> {
        self.kv().purge(id).await.map_err(unavailable)?;
        self.bucket.last_revision().await.map_err(store_error)
    }

    /// Waits until every live [`TokenWatch`] has applied `revision`.
    pub async fn wait_for_watchers(&self, revision: u64, timeout: Duration) -> Result<(), TokenStoreError> {
        self.bucket.wait_for_followers(revision, timeout).await.map_err(store_error)
    }

    /// Starts following the bucket; see [`TokenWatch`].
    pub async fn watch(&self, client: &async_nats::Client) -> Result<TokenWatch, TokenStoreError> {
        let follower = self.bucket.follow(client).await.map_err(store_error)?;
        Ok(TokenWatch::start(follower))
    }

    fn kv(&self) -> &kv::Store {
        self.bucket.store()
    }
}

/// What a watch knows about a token id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLookup {
    /// Its record.
    Found(Arc<TokenRecord>),
    /// No such token (never created, or revoked).
    Absent,
    /// The watch is not known to be current: read the bucket directly.
    Unknown,
}

/// An api's live copy of the token bucket, applied by a task of its own
/// (which ends when the last clone of the watch is dropped).
#[derive(Clone)]
pub struct TokenWatch {
    state: Arc<WatchState>,
}

struct WatchState {
    records: Records,
    status: FollowerStatus,
    /// Dropped with the last clone of the watch: stops the follower task.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Token id to record, shared with the follower task.
type Records = Arc<RwLock<HashMap<String, Arc<TokenRecord>>>>;

impl TokenWatch {
    fn start(follower: Follower<TokenRecord>) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let records = Records::default();
        let state = Arc::new(WatchState { records: records.clone(), status: follower.status(), _stop: stop });
        tokio::spawn(apply(follower, records, stopped));
        Self { state }
    }

    /// The record of token `id`, as far as this api knows.
    pub fn lookup(&self, id: &str) -> TokenLookup {
        if !self.state.status.is_current() {
            return TokenLookup::Unknown;
        }
        match self.state.records.read().expect("token lock").get(id) {
            Some(record) => TokenLookup::Found(record.clone()),
            None => TokenLookup::Absent,
        }
    }
}

/// Applies every change to `records`, then acks it, until `stopped`.
async fn apply(
    mut follower: Follower<TokenRecord>,
    records: Records,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let (change, applied) = tokio::select! {
            _ = &mut stopped => return,
            next = follower.next() => next,
        };
        {
            let mut records = records.write().expect("token lock");
            match change {
                // A record under another key than its id could let one
                // token pass for another: keep only consistent ones.
                Change::Set { name, value } if name == value.id => {
                    records.insert(name, Arc::new(value));
                }
                Change::Set { name, .. } | Change::Removed { name } => {
                    records.remove(&name);
                }
                Change::Restarted => records.clear(),
            }
        }
        applied.done().await;
    }
}

fn store_error(err: FollowerError) -> TokenStoreError {
    match err {
        FollowerError::Unavailable(reason) => TokenStoreError::Unavailable(reason),
        FollowerError::Behind { revision, followers } => {
            TokenStoreError::WatchersBehind { revision, watchers: followers }
        }
    }
}

fn unavailable(err: impl std::fmt::Display) -> TokenStoreError {
    TokenStoreError::Unavailable(err.to_string())
}
