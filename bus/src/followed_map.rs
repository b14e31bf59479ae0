//! A process's in-memory copy of a followed key-value bucket: the acked
//! follower ([`crate::follower`]) applied into a map by a task of its own,
//! so a read on a request path is a map read, and a writer's wait for the
//! followers means the copy has the write.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::de::DeserializeOwned;

use crate::follower::{Change, Follower, FollowerStatus};

/// What a [`FollowedMap`] knows about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapLookup<T> {
    /// Its current value.
    Found(Arc<T>),
    /// The bucket has no such key.
    Absent,
    /// The copy is not known to be current (starting, or reconnected to
    /// NATS and not yet caught up): read the bucket directly.
    Unknown,
}

/// Key to value, kept in step with a bucket by a task that ends when the
/// last clone of the map is dropped. The copy counts as current once the
/// follower has nothing pending, and stops counting when the NATS
/// connection is re-established until it is seen caught up again.
pub struct FollowedMap<T> {
    state: Arc<MapState<T>>,
}

impl<T> Clone for FollowedMap<T> {
    fn clone(&self) -> Self {
        Self { state: self.state.clone() }
    }
}

struct MapState<T> {
    entries: Entries<T>,
    status: FollowerStatus,
    /// Dropped with the last clone of the map: stops the follower task.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Key to value, shared with the follower task.
/// Ordered, so the keys under a prefix are one range.
type Entries<T> = Arc<RwLock<BTreeMap<String, Arc<T>>>>;

impl<T: DeserializeOwned + Send + Sync + 'static> FollowedMap<T> {
    /// Applies `follower`'s changes from now on.
    pub fn start(follower: Follower<T>) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let entries = Entries::default();
        let state = Arc::new(MapState { entries: entries.clone(), status: follower.status(), _stop: stop });
        tokio::spawn(apply(follower, entries, stopped));
        Self { state }
    }

    /// The value of `key`, as far as this copy knows.
    pub fn lookup(&self, key: &str) -> MapLookup<T> {
        if !self.state.status.is_current() {
            return MapLookup::Unknown;
        }
        match self.state.entries.read().expect("followed map lock").get(key) {
            Some(value) => MapLookup::Found(value.clone()),
            None => MapLookup::Absent,
        }
    }

    /// Every key starting with `prefix` and its value, in key order; `None`
    /// while the copy is not known current.
    pub fn under(&self, prefix: &str) -> Option<Vec<(String, Arc<T>)>> {
        if !self.state.status.is_current() {
            return None;
        }
        let entries = self.state.entries.read().expect("followed map lock");
        let found = entries
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Some(found)
    }
}

/// Applies every change to `entries`, then acks it, until `stopped`.
async fn apply<T: DeserializeOwned>(
    mut follower: Follower<T>,
    entries: Entries<T>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let (change, applied) = tokio::select! {
            _ = &mut stopped => return,
            next = follower.next() => next,
        };
        {
            let mut entries = entries.write().expect("followed map lock");
            match change {
                Change::Set { name, value } => {
                    entries.insert(name, Arc::new(value));
                }
                Change::Removed { name } => {
                    entries.remove(&name);
                }
                // Lookups answer Unknown until the replay is applied.
                Change::Restarted => entries.clear(),
            }
        }
        applied.done().await;
    }
}
