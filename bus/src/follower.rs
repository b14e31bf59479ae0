//! The acked key-value follower: how a process keeps something in step with
//! a JetStream key-value bucket, and how a writer knows every process has.
//!
//! The function registry (executors' digests) and the trigger definitions
//! (dispatchers' subscriptions) are followed this way, and so is whatever
//! the platform adds next. A [`FollowedBucket`] is the bucket plus the name
//! prefix of its followers' consumers. Each [`Follower`] is a JetStream push
//! consumer on the bucket's stream that replays the last value of every key
//! and then every change, and acks an entry only once its owner applied it
//! ([`Applied::done`]). A writer waits for every live follower's ack floor
//! to pass its revision ([`FollowedBucket::wait_for_followers`]), so its
//! answer means the write is applied everywhere.
//!
//! Outages: a follower whose connection was re-established is not known
//! complete ([`FollowerStatus`]) until its consumer has nothing pending
//! again. A consumer stays away no longer than [`INACTIVE_THRESHOLD`]
//! without a subscriber before the server removes it (so a dead process's
//! follower goes by itself); a follower that finds its consumer gone starts
//! over with a new one and says so ([`Change::Restarted`]), so the owner
//! forgets what the replay does not repeat.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PushConsumer, push};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::{self, kv};
use futures::{StreamExt as _, TryStreamExt as _};
use serde::de::DeserializeOwned;

use crate::Backoff;

/// How long a follower's consumer survives without a subscriber: a dead
/// process's follower disappears after this, and a live one cut off for
/// longer starts over.
const INACTIVE_THRESHOLD: Duration = Duration::from_secs(60);

/// Deliveries of one entry at most. An entry is redelivered only while its
/// owner does not ack it (it acks every entry, applied or malformed, once
/// handled), i.e. while the process is stuck; a bound keeps even that from
/// looping forever, and is far beyond any hiccup (one redelivery per ack
/// wait, 30 s).
const MAX_DELIVER: i64 = 100;

/// Nothing delivered for this long: time to check the consumer.
const QUIET: Duration = Duration::from_secs(1);

/// A follower known current still checks its consumer this often, in case
/// it was removed without the connection dropping.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Following or waiting for followers failed.
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    /// JetStream is not enabled or not reachable.
    #[error("the key-value bucket is unavailable (is JetStream enabled?): {0}")]
    Unavailable(String),
    /// These followers had not applied `revision` by the deadline.
    #[error("followers have not applied revision {revision} yet: {}", followers.join(", "))]
    Behind {
        /// The revision.
        revision: u64,
        /// Their consumers.
        followers: Vec<String>,
    },
}

/// A key-value bucket that processes follow, and that writers wait on.
#[derive(Clone)]
pub struct FollowedBucket {
    kv: kv::Store,
    consumer_prefix: String,
}

impl FollowedBucket {
    /// `kv`, followed by consumers named `<consumer_prefix><random id>`:
    /// the prefix tells a writer which consumers of the stream to wait for.
    pub fn new(kv: kv::Store, consumer_prefix: impl Into<String>) -> Self {
        Self { kv, consumer_prefix: consumer_prefix.into() }
    }

    /// The bucket, to read and write.
    pub fn store(&self) -> &kv::Store {
        &self.kv
    }

    /// The bucket's last revision: after a delete or purge (which do not
    /// say theirs), the revision to wait for.
    pub async fn last_revision(&self) -> Result<u64, FollowerError> {
        let info = self.kv.stream.get_info().await.map_err(unavailable)?;
        Ok(info.state.last_sequence)
    }

    /// Starts following the bucket, values parsed as JSON `T`; see [`Follower`].
    pub async fn follow<T: DeserializeOwned>(
        &self,
        client: &async_nats::Client,
    ) -> Result<Follower<T>, FollowerError> {
        let status = FollowerStatus(Arc::new(StatusState {
            client: client.clone(),
            current: AtomicBool::new(false),
            connects_when_current: AtomicU64::new(0),
        }));
        let mut follower = Follower {
            client: client.clone(),
            bucket: self.clone(),
            consumer: None,
            messages: None,
            status,
            last_check: Instant::now(),
            backoff: Backoff::default(),
            _values: PhantomData,
        };
        follower.subscribe().await?;
        Ok(follower)
    }

    /// Waits until every follower with a live subscriber has applied
    /// `revision`. Followers without a subscriber belong to dead processes
    /// and are skipped; live ones still behind at `timeout` are named.
    pub async fn wait_for_followers(&self, revision: u64, timeout: Duration) -> Result<(), FollowerError> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            let consumers: Vec<_> = self.kv.stream.consumers().try_collect().await.map_err(unavailable)?;
            let behind: Vec<String> = consumers
                .into_iter()
                .filter(|c| c.name.starts_with(&self.consumer_prefix) && c.push_bound)
                .filter(|c| c.ack_floor.stream_sequence < revision)
                .map(|c| c.name)
                .collect();
            if behind.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(FollowerError::Behind { revision, followers: behind });
            }
            tokio::time::sleep(pause).await;
            // Followers usually ack within a millisecond; a slow one is not
            // worth a consumer listing per millisecond.
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// One change to the bucket, to apply and then [`Applied::done`].
#[derive(Debug)]
pub enum Change<T> {
    /// `name` now has this value (new, changed, or replayed).
    Set {
        /// The key.
        name: String,
        /// The value.
        value: T,
    },
    /// `name` is gone (deleted, purged, or its value no longer parses).
    Removed {
        /// The key.
        name: String,
    },
    /// The follower started over (its consumer was lost in an outage):
    /// every current value follows as `Set` (and keys whose delete marker
    /// is still stored as `Removed`); forget the ones that do not.
    Restarted,
}

/// Acknowledges an applied [`Change`]; writers waiting on it go on.
pub struct Applied {
    message: Option<jetstream::Message>,
    /// Set when this was the last entry pending: once it is applied, the
    /// owner's copy is complete as of the connection it came on (its
    /// `connects` count).
    completes: Option<(FollowerStatus, u64)>,
}

impl Applied {
    /// Tells the bucket the change is applied.
    pub async fn done(self) {
        if let Some(message) = self.message
            && let Err(err) = message.ack().await
        {
            tracing::warn!(%err, "could not ack a key-value change");
        }
        if let Some((status, connects)) = self.completes {
            status.mark_current(connects);
        }
    }
}

/// Whether a follower's owner has applied everything the bucket holds;
/// cheap to clone and ask from any task.
#[derive(Clone)]
pub struct FollowerStatus(Arc<StatusState>);

struct StatusState {
    client: async_nats::Client,
    current: AtomicBool,
    /// `Statistics::connects` when the copy was last known current.
    connects_when_current: AtomicU64,
}

impl FollowerStatus {
    /// Known complete, on the connection it was confirmed on: after a
    /// reconnect, entries may have been missed until the consumer says
    /// nothing is pending.
    pub fn is_current(&self) -> bool {
        self.0.current.load(Ordering::Acquire)
            && self.connects() == self.0.connects_when_current.load(Ordering::Acquire)
    }

    fn connects(&self) -> u64 {
        self.0.client.statistics().connects.load(Ordering::Acquire)
    }

    fn mark_current(&self, connects: u64) {
        self.0.connects_when_current.store(connects, Ordering::Release);
        self.0.current.store(true, Ordering::Release);
    }

    fn mark_behind(&self) {
        self.0.current.store(false, Ordering::Release);
    }
}

/// A process's acked view of a [`FollowedBucket`]: the last value of every
/// key first, then every change, each acked only once applied. Values are
/// JSON `T`; one that does not parse counts as removed.
///
/// Drive it with [`Self::next`], apply the change, then [`Applied::done`]
/// before asking for the next one.
pub struct Follower<T> {
    client: async_nats::Client,
    bucket: FollowedBucket,
    consumer: Option<PushConsumer>,
    messages: Option<push::Messages>,
    status: FollowerStatus,
    /// When the consumer was last asked whether it still exists.
    last_check: Instant,
    backoff: Backoff,
    _values: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Follower<T> {
    /// The next change. Waits as long as nothing changes; recovers by
    /// itself from outages (with [`Change::Restarted`]).
    pub async fn next(&mut self) -> (Change<T>, Applied) {
        loop {
            let Some(messages) = self.messages.as_mut() else {
                match self.subscribe().await {
                    Ok(()) => return (Change::Restarted, Applied { message: None, completes: None }),
                    Err(err) => {
                        let pause = self.backoff.next_pause();
                        tracing::warn!(
                            %err,
                            bucket = %self.bucket.kv.name,
                            "could not follow the bucket; retrying in {} ms",
                            pause.as_millis()
                        );
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                }
            };
            match tokio::time::timeout(QUIET, messages.next()).await {
                Ok(Some(Ok(message))) => {
                    self.backoff.reset();
                    return self.change(message);
                }
                Ok(Some(Err(err))) => {
                    tracing::warn!(%err, bucket = %self.bucket.kv.name, "key-value follower interrupted");
                    self.status.mark_behind();
                    self.backoff.wait().await;
                }
                // The subscription ended: start over.
                Ok(None) => self.messages = None,
                // Quiet: after an outage nothing may arrive, so ask.
                Err(_) => {
                    if self.check_consumer().await == Consumer::Gone {
                        self.messages = None;
                    }
                }
            }
        }
    }

    /// Whether the owner has applied everything the bucket holds; a handle
    /// that stays valid across restarts.
    pub fn status(&self) -> FollowerStatus {
        self.status.clone()
    }

    fn change(&self, message: jetstream::Message) -> (Change<T>, Applied) {
        let connects = self.status.connects();
        let kv = &self.bucket.kv;
        let name = message.subject.as_str().strip_prefix(kv.prefix.as_str()).unwrap_or_default().to_owned();
        let operation = message
            .headers
            .as_ref()
            .and_then(|h| h.get(protocol::headers::KV_OPERATION))
            .and_then(|v| v.as_str().parse::<kv::Operation>().ok());
        let change = match operation {
            Some(kv::Operation::Delete | kv::Operation::Purge) => Change::Removed { name },
            Some(kv::Operation::Put) | None => match serde_json::from_slice::<T>(&message.payload) {
                Ok(value) => Change::Set { name, value },
                Err(err) => {
                    tracing::warn!(%err, bucket = %kv.name, key = name, "malformed value ignored");
                    Change::Removed { name }
                }
            },
        };
        let last_pending = message.info().is_ok_and(|info| info.pending == 0);
        let completes = last_pending.then(|| (self.status.clone(), connects));
        (change, Applied { message: Some(message), completes })
    }

    /// Marks the owner current if the consumer has nothing left to deliver
    /// and nothing delivered unacked; reports a consumer the server removed.
    async fn check_consumer(&mut self) -> Consumer {
        if self.status.is_current() && self.last_check.elapsed() < CHECK_EVERY {
            return Consumer::Alive;
        }
        self.last_check = Instant::now();
        let connects = self.status.connects();
        let Some(consumer) = self.consumer.as_mut() else { return Consumer::Gone };
        match consumer.info().await {
            Ok(info) => {
                if info.num_pending == 0 && info.num_ack_pending == 0 {
                    self.status.mark_current(connects);
                }
                Consumer::Alive
            }
            // Removed after an outage longer than its inactivity limit: the
            // subscription lives on but will never deliver again.
            Err(err)
                if matches!(
                    err.kind(),
                    ConsumerInfoErrorKind::NotFound | ConsumerInfoErrorKind::StreamNotFound
                ) =>
            {
                Consumer::Gone
            }
            Err(_) => Consumer::Alive,
        }
    }

    /// A fresh consumer from the last value of every key. The owner's copy
    /// is not current until its replay has been applied.
    async fn subscribe(&mut self) -> Result<(), FollowerError> {
        self.status.mark_behind();
        let kv = &self.bucket.kv;
        let consumer = kv
            .stream
            .create_consumer(push::Config {
                name: Some(format!("{}{}", self.bucket.consumer_prefix, uuid::Uuid::new_v4().simple())),
                deliver_subject: self.client.new_inbox(),
                deliver_policy: DeliverPolicy::LastPerSubject,
                ack_policy: AckPolicy::Explicit,
                filter_subject: format!("{}>", kv.prefix),
                inactive_threshold: INACTIVE_THRESHOLD,
                max_deliver: MAX_DELIVER,
                // As many copies as the bucket: an ephemeral consumer has one
                // by default, and would vanish with its node on a cluster
                // (the follower would then start over, late).
                num_replicas: kv.stream.cached_info().config.num_replicas,
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        let messages = consumer.messages().await.map_err(unavailable)?;
        self.consumer = Some(consumer);
        self.messages = Some(messages);
        self.last_check = Instant::now();
        self.backoff.reset();
        Ok(())
    }
}

/// Whether a follower's consumer still exists on the server.
#[derive(Debug, PartialEq, Eq)]
enum Consumer {
    Alive,
    Gone,
}

fn unavailable(err: impl std::fmt::Display) -> FollowerError {
    FollowerError::Unavailable(err.to_string())
}
