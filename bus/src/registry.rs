//! The function registry on the bus: the current digest of each function.
//!
//! The dispatcher writes an entry after it stored an upload in S3 and
//! removes it with the function; executors follow the bucket with a
//! [`RegistryWatch`] and look digests up in memory, which they use as the key
//! of their compiled-component cache: no S3 request and no round trip on a
//! warm call.
//!
//! Deploys stay exact: each watch is a JetStream consumer that acks an entry
//! only after applying it, and the dispatcher answers a write only once every
//! live watch has acked it ([`FunctionRegistry::wait_for_watchers`]), so a
//! call that starts after an upload answered sees the new digest, whichever
//! executor takes it. An executor whose watch is not known to be current
//! (starting, or reconnected to NATS) reads the entry directly instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, push};
use async_nats::jetstream::{self, kv};
use futures::StreamExt as _;
use protocol::registry::{FUNCTION_REGISTRY, registry_bucket_filter, registry_key};
use protocol::{BucketName, FunctionRef, FunctionVersion};

use crate::acks::WaitError;

/// The registry could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// JetStream is not enabled or not reachable.
    #[error("the function registry is unavailable (is JetStream enabled?): {0}")]
    Unavailable(String),
    /// Some executors did not apply a write in time.
    #[error("executors have not applied registry revision {revision} yet: {}", watchers.join(", "))]
    WatchersBehind {
        /// The revision.
        revision: u64,
        /// Their watch consumers.
        watchers: Vec<String>,
    },
    /// An entry that does not parse: written by something else than a dispatcher.
    #[error("malformed registry entry for {key}: {reason}")]
    Malformed {
        /// The key.
        key: String,
        /// The parse error.
        reason: String,
    },
}

/// Handle on the registry bucket.
#[derive(Clone)]
pub struct FunctionRegistry {
    kv: kv::Store,
}

impl FunctionRegistry {
    /// Opens the registry, creating it on first use.
    pub async fn open(client: &async_nats::Client) -> Result<Self, RegistryError> {
        let js = jetstream::new(client.clone());
        let kv = match js.get_key_value(FUNCTION_REGISTRY).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: FUNCTION_REGISTRY.to_owned(),
                    description: "wasm-faas: current component digest of each function".into(),
                    history: 1,
                    ..Default::default()
                })
                .await
                .map_err(unavailable)?,
        };
        Ok(Self { kv })
    }

    /// Opens the registry, waiting for JetStream: when every service starts
    /// at once, NATS may not be up yet.
    pub async fn open_when_ready(client: &async_nats::Client) -> Self {
        loop {
            match Self::open(client).await {
                Ok(registry) => return registry,
                Err(err) => {
                    tracing::warn!(%err, "function registry not ready; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// The current version of `function`, if the registry has one.
    pub async fn get(&self, function: &FunctionRef) -> Result<Option<FunctionVersion>, RegistryError> {
        let key = registry_key(function);
        let Some(value) = self.kv.get(key.as_str()).await.map_err(unavailable)? else {
            return Ok(None);
        };
        serde_json::from_slice(&value)
            .map(Some)
            .map_err(|e| RegistryError::Malformed { key, reason: e.to_string() })
    }

    /// Records `version` as the current one of `function`; returns the
    /// revision to wait for.
    pub async fn set(&self, function: &FunctionRef, version: &FunctionVersion) -> Result<u64, RegistryError> {
        let value = serde_json::to_vec(version).expect("versions always serialise");
        self.kv.put(registry_key(function), value.into()).await.map_err(unavailable)
    }

    /// Forgets `function`; returns the revision to wait for.
    pub async fn remove(&self, function: &FunctionRef) -> Result<u64, RegistryError> {
        self.kv.purge(registry_key(function)).await.map_err(unavailable)?;
        self.last_revision().await
    }

    async fn last_revision(&self) -> Result<u64, RegistryError> {
        Ok(self.kv.stream.get_info().await.map_err(unavailable)?.state.last_sequence)
    }

    /// Waits until every live [`RegistryWatch`] has applied `revision`, so
    /// that no executor can run a call with an older view. A watch whose
    /// executor is gone has no subscriber and is skipped; one that is alive
    /// but does not catch up within `timeout` is named in the error.
    pub async fn wait_for_watchers(&self, revision: u64, timeout: Duration) -> Result<(), RegistryError> {
        crate::acks::wait_for_acks(&self.kv.stream, WATCH_PREFIX, revision, timeout).await.map_err(|err| {
            match err {
                WaitError::Unavailable(reason) => RegistryError::Unavailable(reason),
                WaitError::Behind(watchers) => RegistryError::WatchersBehind { revision, watchers },
            }
        })
    }

    /// Forgets every function of `bucket`; returns the revision to wait for.
    pub async fn remove_bucket(&self, bucket: &BucketName) -> Result<u64, RegistryError> {
        let prefix = registry_bucket_filter(bucket);
        let prefix = prefix.trim_end_matches('*');
        let mut keys = self.kv.keys().await.map_err(unavailable)?;
        let mut doomed = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(unavailable)?;
            if key.starts_with(prefix) {
                doomed.push(key);
            }
        }
        for key in doomed {
            self.kv.purge(key).await.map_err(unavailable)?;
        }
        self.last_revision().await
    }

    /// Starts following the registry; see [`RegistryWatch`].
    pub async fn watch(&self, client: &async_nats::Client) -> Result<RegistryWatch, RegistryError> {
        RegistryWatch::start(client, self.kv.clone()).await
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
/// A JetStream push consumer on the registry's stream that starts from the
/// last entry of every key and acks each entry after applying it; the acks
/// are what [`FunctionRegistry::wait_for_watchers`] waits for. The copy
/// counts as current once the consumer has nothing pending, and stops
/// counting when the NATS connection is re-established (entries may have
/// been missed meanwhile) until the consumer is seen caught up again.
#[derive(Clone)]
pub struct RegistryWatch {
    state: Arc<WatchState>,
}

struct WatchState {
    digests: RwLock<HashMap<String, String>>,
    current: AtomicBool,
    /// `Statistics::connects` when the copy was last known current.
    connects_when_current: AtomicU64,
    client: async_nats::Client,
    kv: kv::Store,
}

impl RegistryWatch {
    async fn start(client: &async_nats::Client, kv: kv::Store) -> Result<Self, RegistryError> {
        let state = Arc::new(WatchState {
            digests: RwLock::new(HashMap::new()),
            current: AtomicBool::new(false),
            connects_when_current: AtomicU64::new(0),
            client: client.clone(),
            kv,
        });
        let consumer = create_watch_consumer(&state).await?;
        tokio::spawn(follow(Arc::downgrade(&state), consumer));
        Ok(Self { state })
    }

    /// The digest of `function` as far as this executor knows.
    pub fn lookup(&self, function: &FunctionRef) -> Lookup {
        if !self.state.is_current() {
            return Lookup::Unknown;
        }
        match self.state.digests.read().expect("registry lock").get(&registry_key(function)) {
            Some(digest) => Lookup::Digest(digest.clone()),
            None => Lookup::Absent,
        }
    }

    /// Whether lookups are answered from memory right now.
    pub fn is_current(&self) -> bool {
        self.state.is_current()
    }
}

impl WatchState {
    /// Known complete, on the connection it was confirmed on: a reconnect
    /// may have missed entries until the consumer says nothing is pending.
    fn is_current(&self) -> bool {
        let connects = self.client.statistics().connects.load(Ordering::Acquire);
        self.current.load(Ordering::Acquire) && connects == self.connects_when_current.load(Ordering::Acquire)
    }
}

async fn create_watch_consumer(
    state: &WatchState,
) -> Result<jetstream::consumer::PushConsumer, RegistryError> {
    let name = format!("{WATCH_PREFIX}{}", uuid::Uuid::new_v4().simple());
    state
        .kv
        .stream
        .create_consumer(push::Config {
            name: Some(name),
            deliver_subject: state.client.new_inbox(),
            deliver_policy: DeliverPolicy::LastPerSubject,
            ack_policy: AckPolicy::Explicit,
            filter_subject: format!("{}>", state.kv.prefix),
            // A dead executor's watch disappears by itself.
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .map_err(unavailable)
}

/// Applies entries as they come, acks them, and keeps `current` true only
/// while the copy is known complete. Ends when the watch is dropped.
async fn follow(state: std::sync::Weak<WatchState>, mut consumer: jetstream::consumer::PushConsumer) {
    loop {
        let Some(strong) = state.upgrade() else { return };
        let messages = match consumer.messages().await {
            Ok(messages) => messages,
            Err(err) => {
                tracing::warn!(%err, "registry watch failed; retrying in 1 s");
                strong.current.store(false, Ordering::Release);
                drop(strong);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        drop(strong);
        tokio::pin!(messages);
        loop {
            let next = tokio::time::timeout(Duration::from_secs(1), messages.next()).await;
            let Some(state) = state.upgrade() else { return };
            match next {
                Ok(Some(Ok(message))) => apply(&state, &message).await,
                Ok(Some(Err(err))) => {
                    tracing::warn!(%err, "registry watch interrupted");
                    state.current.store(false, Ordering::Release);
                }
                Ok(None) => break,
                // Quiet: after a reconnect nothing may arrive, so ask.
                Err(_) => {
                    if confirm_current(&state, &mut consumer).await == Consumer::Gone {
                        break;
                    }
                }
            }
        }
        // The consumer is gone (an outage longer than its inactivity limit):
        // start over from the last entry of every key.
        let Some(strong) = state.upgrade() else { return };
        strong.current.store(false, Ordering::Release);
        match create_watch_consumer(&strong).await {
            Ok(fresh) => {
                strong.digests.write().expect("registry lock").clear();
                consumer = fresh;
            }
            Err(err) => {
                tracing::warn!(%err, "could not recreate the registry watch; retrying in 1 s");
                drop(strong);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn apply(state: &WatchState, message: &jetstream::Message) {
    let connects = state.client.statistics().connects.load(Ordering::Acquire);
    let Some(key) = message.subject.as_str().strip_prefix(state.kv.prefix.as_str()) else { return };
    let operation =
        message.headers.as_ref().and_then(|h| h.get("KV-Operation")).map(|v| v.as_str().to_owned());
    {
        let mut digests = state.digests.write().expect("registry lock");
        match operation.as_deref() {
            Some("DEL" | "PURGE") => {
                digests.remove(key);
            }
            _ => match serde_json::from_slice::<FunctionVersion>(&message.payload) {
                Ok(version) => {
                    digests.insert(key.to_owned(), version.digest);
                }
                Err(err) => {
                    tracing::warn!(%err, key, "malformed registry entry ignored");
                    digests.remove(key);
                }
            },
        }
    }
    let pending = message.info().map(|info| info.pending).unwrap_or(u64::MAX);
    if let Err(err) = message.ack().await {
        tracing::warn!(%err, key, "could not ack a registry entry");
    }
    if pending == 0 {
        state.connects_when_current.store(connects, Ordering::Release);
        state.current.store(true, Ordering::Release);
    }
}

/// Marks the copy current if the consumer has nothing left to deliver and
/// nothing delivered unacked.
async fn confirm_current(state: &WatchState, consumer: &mut jetstream::consumer::PushConsumer) -> Consumer {
    if state.is_current() {
        return Consumer::Alive;
    }
    let connects = state.client.statistics().connects.load(Ordering::Acquire);
    match consumer.info().await {
        Ok(info) => {
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                state.connects_when_current.store(connects, Ordering::Release);
                state.current.store(true, Ordering::Release);
            }
            Consumer::Alive
        }
        // Removed by the server after an outage longer than its inactivity
        // limit: the subscription lives on but will never deliver again.
        Err(err) if err.to_string().contains("not found") => Consumer::Gone,
        Err(_) => Consumer::Alive,
    }
}

/// Whether the watch's consumer still exists on the server.
#[derive(Debug, PartialEq, Eq)]
enum Consumer {
    Alive,
    Gone,
}

fn unavailable(err: impl std::fmt::Display) -> RegistryError {
    RegistryError::Unavailable(err.to_string())
}
