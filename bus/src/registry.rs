//! The function registry on the bus: the current digest of each function.
//!
//! The dispatcher writes an entry after it stored an upload in S3 and
//! removes it with the function; executors follow the bucket with a
//! [`RegistryWatch`] and look digests up in memory, which they use as the key
//! of their compiled-component cache: no S3 request and no round trip on a
//! warm call.
//!
//! The api keeps the same watch from its first job submission on, to
//! refuse a job for a function that is not deployed without a round trip
//! (`api/src/deployed.rs`).
//!
//! Deploys stay exact: each watch is an acked follower of the bucket
//! ([`crate::follower`]) that acks an entry only after applying it to its
//! map, and the dispatcher answers a write only once every live watch has
//! acked it ([`FunctionRegistry::wait_for_watchers`]), so a
//! call that starts after an upload answered sees the new digest, whichever
//! executor takes it. An executor whose watch is not known to be current
//! (starting, or reconnected to NATS) reads the entry directly instead.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt as _;
use protocol::registry::{registry_bucket_filter, registry_key};
use protocol::{BucketName, FunctionRef, FunctionVersion};

use crate::follower::{Change, FollowedBucket, Follower, FollowerError, FollowerStatus};

/// The registry could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// JetStream is not enabled or not reachable.
    #[error("the function registry is unavailable (is JetStream enabled?): {0}")]
    Unavailable(String),
    /// Some executors did not apply a write in time.
    #[error("registry watchers (executors, apis taking jobs) have not applied revision {revision} yet: {}", watchers.join(", "))]
    WatchersBehind {
        /// The revision.
        revision: u64,
        /// Their watch consumers.
        watchers: Vec<String>,
    },
    /// The registry is at its byte cap.
    #[error(transparent)]
    Full(crate::StoreError),
    /// Another write of the entry came between the read and this write
    /// ([`FunctionRegistry::replace`]): read again and redo the change.
    #[error("the registry entry {0} changed while it was being written")]
    Changed(String),
    /// An entry that does not parse: written by something else than a dispatcher.
    #[error("malformed registry entry for {key}: {reason}")]
    Malformed {
        /// The key.
        key: String,
        /// The parse error.
        reason: String,
    },
}

/// The revision a registry read saw (`None`: no entry), for
/// [`FunctionRegistry::replace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAt(Option<u64>);

/// Handle on the registry bucket.
#[derive(Clone)]
pub struct FunctionRegistry {
    bucket: FollowedBucket,
}

impl FunctionRegistry {
    /// Opens the registry, creating it on first use.
    pub async fn open(
        client: &async_nats::Client,
        layout: &crate::JetStreamLayout,
    ) -> Result<Self, RegistryError> {
        let config = kv::Config {
            bucket: layout.names.function_registry(),
            description: "wasm-faas: current component digest of each function".into(),
            history: 1,
            max_bytes: crate::StoreQuotas::DEFAULT.registry,
            ..Default::default()
        };
        let kv = crate::open_or_create(&jetstream::new(client.clone()), layout.replicas, config)
            .await
            .map_err(|e| RegistryError::Unavailable(e.reason))?;
        Ok(Self { bucket: FollowedBucket::new(kv, WATCH_PREFIX) })
    }

    /// Opens the registry, waiting for JetStream: when every service starts
    /// at once, NATS may not be up yet.
    pub async fn open_when_ready(client: &async_nats::Client, layout: &crate::JetStreamLayout) -> Self {
        crate::retry("function registry", || Self::open(client, layout)).await
    }

    /// The current version of `function`, if the registry has one.
    pub async fn get(&self, function: &FunctionRef) -> Result<Option<FunctionVersion>, RegistryError> {
        // Boxed: callers await this beside a followed copy that answers
        // almost always; inline, the KV read would size their futures.
        Ok(Box::pin(self.get_at(function)).await?.0)
    }

    /// The entry of `function` with the revision it was read at, which
    /// [`FunctionRegistry::replace`] writes over.
    pub async fn get_at(
        &self,
        function: &FunctionRef,
    ) -> Result<(Option<FunctionVersion>, ReadAt), RegistryError> {
        let key = registry_key(function);
        let entry = self.kv().entry(key.as_str()).await.map_err(unavailable)?;
        let Some(entry) = entry.filter(|entry| entry.operation == kv::Operation::Put) else {
            return Ok((None, ReadAt(None)));
        };
        let version = serde_json::from_slice(&entry.value)
            .map_err(|e| RegistryError::Malformed { key, reason: e.to_string() })?;
        Ok((Some(version), ReadAt(Some(entry.revision))))
    }

    /// Writes `version` as `function`'s entry if nothing was written since
    /// `seen` (read by [`FunctionRegistry::get_at`]); [`RegistryError::Changed`]
    /// otherwise, so that two dispatchers changing one function at once
    /// (an upload and an alias move) never lose one of the changes. Returns
    /// the revision to wait for.
    pub async fn replace(
        &self,
        function: &FunctionRef,
        version: &FunctionVersion,
        seen: ReadAt,
    ) -> Result<u64, RegistryError> {
        let key = registry_key(function);
        let value = serde_json::to_vec(version).expect("versions always serialise");
        match seen.0 {
            Some(revision) => self.kv().update(key.as_str(), value.into(), revision).await.map_err(|e| {
                if e.kind() == kv::UpdateErrorKind::WrongLastRevision {
                    return RegistryError::Changed(key.clone());
                }
                self.write_error(e)
            }),
            // `create` also takes over a deleted entry, at its revision.
            None => self.kv().create(key.as_str(), value.into()).await.map_err(|e| {
                if e.kind() == kv::CreateErrorKind::AlreadyExists {
                    return RegistryError::Changed(key.clone());
                }
                self.write_error(e)
            }),
        }
    }

    fn write_error(&self, err: impl std::fmt::Display) -> RegistryError {
        match crate::StoreError::from_reason(&self.kv().name, err) {
            full @ crate::StoreError::Full { .. } => RegistryError::Full(full),
            crate::StoreError::Unavailable { reason, .. } => RegistryError::Unavailable(reason),
        }
    }

    /// Forgets `function`; returns the revision to wait for.
    pub async fn remove(&self, function: &FunctionRef) -> Result<u64, RegistryError> {
        self.kv().purge(registry_key(function)).await.map_err(unavailable)?;
        self.bucket.last_revision().await.map_err(registry_error)
    }

    /// Waits until every live [`RegistryWatch`] has applied `revision`, so
    /// that no executor can run a call with an older view. A watch whose
    /// executor is gone has no subscriber and is skipped; one that is alive
    /// but does not catch up within `timeout` is named in the error.
    pub async fn wait_for_watchers(&self, revision: u64, timeout: Duration) -> Result<(), RegistryError> {
        self.bucket.wait_for_followers(revision, timeout).await.map_err(registry_error)
    }

    /// Forgets every function of `bucket`; returns the revision to wait for.
    pub async fn remove_bucket(&self, bucket: &BucketName) -> Result<u64, RegistryError> {
        let prefix = registry_bucket_filter(bucket);
        let prefix = prefix.trim_end_matches('*');
        let mut keys = self.kv().keys().await.map_err(unavailable)?;
        let mut doomed = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(unavailable)?;
            if key.starts_with(prefix) {
                doomed.push(key);
            }
        }
        for key in doomed {
            self.kv().purge(key).await.map_err(unavailable)?;
        }
        self.bucket.last_revision().await.map_err(registry_error)
    }

    /// Every digest some function is at now: what the artifact sweep keeps.
    pub async fn digests(&self) -> Result<std::collections::HashSet<String>, RegistryError> {
        let values = crate::snapshot::current_values(self.kv()).await.map_err(RegistryError::Unavailable)?;
        values
            .into_iter()
            .map(|(key, value)| {
                serde_json::from_slice::<FunctionVersion>(&value)
                    .map(|version| version.digest)
                    .map_err(|e| RegistryError::Malformed { key, reason: e.to_string() })
            })
            .collect()
    }

    /// Starts following the registry; see [`RegistryWatch`].
    pub async fn watch(&self, client: &async_nats::Client) -> Result<RegistryWatch, RegistryError> {
        let follower = self.bucket.follow(client).await.map_err(registry_error)?;
        Ok(RegistryWatch::start(follower))
    }

    fn kv(&self) -> &kv::Store {
        self.bucket.store()
    }
}

/// Name prefix of the watch consumers, so the dispatcher knows which
/// consumers of the registry stream it must wait for.
const WATCH_PREFIX: &str = "faas-registry-watch-";

/// What a watch knows about a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Its current digest.
    Digest(String),
    /// The registry has no entry: the function is missing, or was stored
    /// before the registry existed (S3 decides).
    Absent,
    /// The watch is not known to be current: read the registry directly.
    Unknown,
}

/// An executor's live copy of the registry.
///
/// A [`Follower`] of the registry bucket, applied into an in-memory map by
/// a task of its own (which ends when the last clone of the watch is
/// dropped); its acks are what [`FunctionRegistry::wait_for_watchers`]
/// waits for. The copy counts as current once the follower has nothing
/// pending, and stops counting when the NATS connection is re-established
/// (entries may have been missed meanwhile) until it is seen caught up
/// again.
#[derive(Clone)]
pub struct RegistryWatch {
    state: Arc<WatchState>,
}

struct WatchState {
    digests: Digests,
    status: FollowerStatus,
    /// Dropped with the last clone of the watch: stops the follower task.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Function key to its entry (digest and aliases), shared with the follower task.
type Digests = Arc<RwLock<HashMap<String, Arc<FunctionVersion>>>>;

impl RegistryWatch {
    fn start(follower: Follower<FunctionVersion>) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let digests = Digests::default();
        let state = Arc::new(WatchState { digests: digests.clone(), status: follower.status(), _stop: stop });
        tokio::spawn(apply(follower, digests, stopped));
        Self { state }
    }

    /// The digest of `function` as far as this executor knows.
    pub fn lookup(&self, function: &FunctionRef) -> Lookup {
        if !self.state.status.is_current() {
            return Lookup::Unknown;
        }
        match self.state.digests.read().expect("registry lock").get(&registry_key(function)) {
            Some(entry) => Lookup::Digest(entry.digest.clone()),
            None => Lookup::Absent,
        }
    }

    /// The whole registry entry of `function` (its aliases too), as far as
    /// this executor knows; `None` when the copy is not known current
    /// (read the registry directly), `Some(None)` when it has no entry.
    pub fn entry(&self, function: &FunctionRef) -> Option<Option<Arc<FunctionVersion>>> {
        if !self.state.status.is_current() {
            return None;
        }
        Some(self.state.digests.read().expect("registry lock").get(&registry_key(function)).cloned())
    }

    /// Whether lookups are answered from memory right now.
    pub fn is_current(&self) -> bool {
        self.state.status.is_current()
    }
}

/// Applies every change to `digests`, then acks it, until `stopped`.
async fn apply(
    mut follower: Follower<FunctionVersion>,
    digests: Digests,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let (change, applied) = tokio::select! {
            _ = &mut stopped => return,
            next = follower.next() => next,
        };
        {
            let mut digests = digests.write().expect("registry lock");
            match change {
                Change::Set { name, value } => {
                    digests.insert(name, Arc::new(value));
                }
                Change::Removed { name } => {
                    digests.remove(&name);
                }
                // Lookups answer Unknown until the replay is applied.
                Change::Restarted => digests.clear(),
            }
        }
        applied.done().await;
    }
}

fn registry_error(err: FollowerError) -> RegistryError {
    match err {
        FollowerError::Unavailable(reason) => RegistryError::Unavailable(reason),
        FollowerError::Behind { revision, followers } => {
            RegistryError::WatchersBehind { revision, watchers: followers }
        }
    }
}

fn unavailable(err: impl std::fmt::Display) -> RegistryError {
    RegistryError::Unavailable(err.to_string())
}
