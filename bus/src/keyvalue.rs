//! Functions' key-value data: the [`keyvalue`](protocol::JetStreamNames::keyvalue)
//! bucket `<p>-kv` that backs `wasi:keyvalue`, and its layout.
//!
//! Every platform bucket's data is under `<bucket>.`, each guest store
//! under `<bucket>.<store>.`, and each guest key is one token after that:
//! its bytes in unpadded base64url (`=` for the empty key, which no
//! encoding produces). So any guest string is a valid NATS key, and none
//! can add a token, a wildcard or a dot that would reach another store or
//! bucket: a bucket's data is exactly the subject filter `<bucket>.>`,
//! listed, checked and purged with it. Both the executor (the host
//! functions) and the dispatcher (bucket deletion) use this module, so
//! the layout is written once.
//!
//! The bucket keeps one revision per key (history 1), so a listing from a
//! stream sequence on sees each key once, and `increment` is a
//! compare-and-set on that revision, retried until it wins.

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, ReplayPolicy, push};
use async_nats::jetstream::{self, kv};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures::StreamExt as _;
use protocol::BucketName;

use crate::{Backoff, JetStreamLayout, StoreError};

/// Longest guest key, in bytes (its encoding is a third longer).
pub const MAX_KEY_BYTES: usize = 1024;

/// Longest store identifier other than the default.
pub const MAX_STORE_NAME: usize = 64;

/// Keys one `list-keys` page holds at most.
pub const LIST_PAGE: usize = 1000;

/// The store identifier that names a bucket's default store (as does `""`).
pub const DEFAULT_STORE: &str = "default";

/// The token of the empty key: never an unpadded base64url encoding.
const EMPTY_KEY: &str = "=";

/// A key-value request the guest can correct, or the store failing.
#[derive(Debug, thiserror::Error)]
pub enum KeyValueError {
    /// The store identifier is neither the default nor a token name.
    #[error(
        "no store {0:?}: a store is \"\" or \"default\" (the bucket's own), or a name of at most \
         {MAX_STORE_NAME} letters, digits, `_` and `-`"
    )]
    NoSuchStore(String),
    /// The key is longer than [`MAX_KEY_BYTES`].
    #[error("a key of {0} bytes is too long: at most {MAX_KEY_BYTES} bytes are allowed")]
    KeyTooLong(usize),
    /// `increment` met a value that is not a decimal u64.
    #[error("increment: the value of {0:?} is not a decimal unsigned 64-bit number")]
    NotANumber(String),
    /// `increment` would pass `u64::MAX`.
    #[error("increment: {0:?} would overflow an unsigned 64-bit number")]
    Overflow(String),
    /// JetStream failed (unreachable, or the bucket full).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One guest store of one platform bucket: where its keys live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpace {
    /// `<bucket>.<store>.`
    prefix: String,
}

impl KeySpace {
    /// The store `identifier` names in `bucket`: `""` and `"default"` are
    /// the bucket's default store, any other token name a store of its own.
    pub fn new(bucket: &BucketName, identifier: &str) -> Result<Self, KeyValueError> {
        let store = if identifier.is_empty() { DEFAULT_STORE } else { identifier };
        let token = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        if store.len() > MAX_STORE_NAME || !store.bytes().all(token) {
            return Err(KeyValueError::NoSuchStore(identifier.chars().take(80).collect()));
        }
        Ok(Self { prefix: format!("{bucket}.{store}.") })
    }

    /// The NATS key of the guest's `key` (any string).
    pub fn key(&self, key: &str) -> Result<String, KeyValueError> {
        if key.len() > MAX_KEY_BYTES {
            return Err(KeyValueError::KeyTooLong(key.len()));
        }
        let token = if key.is_empty() { EMPTY_KEY.to_owned() } else { URL_SAFE_NO_PAD.encode(key) };
        Ok(format!("{}{token}", self.prefix))
    }

    /// The guest key of a NATS key in this store, if it is one.
    fn guest_key(&self, key: &str) -> Option<String> {
        let token = key.strip_prefix(&self.prefix)?;
        if token == EMPTY_KEY {
            return Some(String::new());
        }
        String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()
    }
}

/// One page of a store's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// The guest keys, in the order they were last written.
    pub keys: Vec<String>,
    /// Where the next page starts (the stream sequence of the last key
    /// here); `None` on the last page.
    pub cursor: Option<u64>,
}

/// The `<p>-kv` bucket.
#[derive(Clone)]
pub struct KeyValueData {
    client: async_nats::Client,
    kv: kv::Store,
}

impl KeyValueData {
    /// Opens the bucket, creating it with history 1 and `max_bytes` (the
    /// dispatcher's `FAAS_KV_MAX_BYTES`; other roles pass the default, and
    /// each dispatcher applies the configured cap at start).
    pub async fn open(
        client: &async_nats::Client,
        layout: &JetStreamLayout,
        max_bytes: i64,
    ) -> Result<Self, StoreError> {
        let config = kv::Config {
            bucket: layout.names.keyvalue(),
            description: "wasm-faas: functions' wasi:keyvalue data, <bucket>.<store>.<key>".into(),
            history: 1,
            max_bytes,
            ..Default::default()
        };
        let kv = crate::open_or_create(&jetstream::new(client.clone()), layout.replicas, config).await?;
        Ok(Self { client: client.clone(), kv })
    }

    /// Opens the bucket, waiting for JetStream.
    pub async fn open_when_ready(
        client: &async_nats::Client,
        layout: &JetStreamLayout,
        max_bytes: i64,
    ) -> Self {
        crate::retry("key-value data", || Self::open(client, layout, max_bytes)).await
    }

    fn failed(&self, err: impl std::fmt::Display) -> KeyValueError {
        KeyValueError::Store(StoreError::from_reason(&self.kv.name, err))
    }

    /// The value of `key`, if set.
    pub async fn get(&self, space: &KeySpace, key: &str) -> Result<Option<Bytes>, KeyValueError> {
        let key = space.key(key)?;
        self.kv.get(key).await.map_err(|e| self.failed(e))
    }

    /// Sets `key` to `value`.
    pub async fn put(&self, space: &KeySpace, key: &str, value: Bytes) -> Result<(), KeyValueError> {
        let key = space.key(key)?;
        self.kv.put(key, value).await.map_err(|e| self.failed(e))?;
        Ok(())
    }

    /// Deletes `key` (nothing if it is not set).
    pub async fn delete(&self, space: &KeySpace, key: &str) -> Result<(), KeyValueError> {
        let key = space.key(key)?;
        self.kv.delete(key).await.map_err(|e| self.failed(e))
    }

    /// Adds `delta` to the decimal number `key` holds (a missing key holds
    /// 0) and answers the sum. The write names the revision read, so the
    /// server refuses it if anyone wrote in between, and then this reads
    /// again after a short random pause: every increment counts exactly
    /// once, whichever executor makes it. It retries until it wins; the
    /// call's deadline bounds it.
    pub async fn increment(&self, space: &KeySpace, key: &str, delta: u64) -> Result<u64, KeyValueError> {
        let nats_key = space.key(key)?;
        let mut backoff = Backoff::new(Duration::from_millis(2), Duration::from_millis(50));
        loop {
            let entry = self.kv.entry(nats_key.as_str()).await.map_err(|e| self.failed(e))?;
            let live = entry.filter(|e| e.operation == kv::Operation::Put);
            let written = match live {
                Some(entry) => {
                    let current = std::str::from_utf8(&entry.value)
                        .ok()
                        .and_then(|text| text.parse::<u64>().ok())
                        .ok_or_else(|| KeyValueError::NotANumber(key.to_owned()))?;
                    let sum =
                        current.checked_add(delta).ok_or_else(|| KeyValueError::Overflow(key.to_owned()))?;
                    match self.kv.update(&nats_key, sum.to_string().into(), entry.revision).await {
                        Ok(_) => Ok(sum),
                        Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => Err(()),
                        Err(err) => return Err(self.failed(err)),
                    }
                }
                // `create` also takes over a deleted key, at its revision.
                None => match self.kv.create(&nats_key, delta.to_string().into()).await {
                    Ok(_) => Ok(delta),
                    Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => Err(()),
                    Err(err) => return Err(self.failed(err)),
                },
            };
            match written {
                Ok(sum) => return Ok(sum),
                Err(()) => backoff.wait().await,
            }
        }
    }

    /// A page of the keys of `space`, from `cursor` on (`None`: the first).
    pub async fn list(&self, space: &KeySpace, cursor: Option<u64>) -> Result<KeyPage, KeyValueError> {
        let mut page = KeyPage::default();
        let filter = format!("{}{}>", self.kv.prefix, space.prefix);
        self.scan(filter, cursor, |key, sequence| {
            if let Some(key) = space.guest_key(key) {
                page.keys.push(key);
            }
            if page.keys.len() >= LIST_PAGE {
                page.cursor = Some(sequence);
                return false;
            }
            true
        })
        .await?;
        Ok(page)
    }

    /// Whether any key of `bucket` is set.
    pub async fn holds_data(&self, bucket: &BucketName) -> Result<bool, KeyValueError> {
        let mut found = false;
        let filter = format!("{}{bucket}.>", self.kv.prefix);
        self.scan(filter, None, |_, _| {
            found = true;
            false
        })
        .await?;
        Ok(found)
    }

    /// Removes every key of `bucket`, with its history.
    pub async fn purge_bucket(&self, bucket: &BucketName) -> Result<u64, KeyValueError> {
        let filter = format!("{}{bucket}.>", self.kv.prefix);
        let purged = self.kv.stream.purge().filter(filter).await.map_err(|e| self.failed(e))?;
        Ok(purged.purged)
    }

    /// Walks the set keys under `filter` (headers only, one ordered
    /// consumer) after stream sequence `after`, calling `visit(key,
    /// sequence)` until it answers `false` or the keys end.
    async fn scan(
        &self,
        filter: String,
        after: Option<u64>,
        mut visit: impl FnMut(&str, u64) -> bool,
    ) -> Result<(), KeyValueError> {
        let deliver_policy = match after {
            None => DeliverPolicy::All,
            Some(sequence) => DeliverPolicy::ByStartSequence { start_sequence: sequence.saturating_add(1) },
        };
        let consumer = self
            .kv
            .stream
            .create_consumer(push::OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                description: Some("wasm-faas key-value listing".into()),
                filter_subject: filter,
                headers_only: true,
                replay_policy: ReplayPolicy::Instant,
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| self.failed(e))?;
        if consumer.cached_info().num_pending == 0 {
            return Ok(());
        }
        let mut messages = consumer.messages().await.map_err(|e| self.failed(e))?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| self.failed(e))?;
            let info = message.info().map_err(|e| self.failed(e))?;
            let (sequence, pending) = (info.stream_sequence, info.pending);
            let operation = message
                .headers
                .as_ref()
                .and_then(|h| h.get(protocol::headers::KV_OPERATION))
                .and_then(|v| v.as_str().parse::<kv::Operation>().ok());
            let set = matches!(operation, None | Some(kv::Operation::Put));
            let key = message.subject.as_str().strip_prefix(self.kv.prefix.as_str()).unwrap_or_default();
            if set && !visit(key, sequence) {
                return Ok(());
            }
            if pending == 0 {
                return Ok(());
            }
        }
        Err(self.failed("the listing ended early"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(name: &str) -> BucketName {
        BucketName::new(name).unwrap()
    }

    #[test]
    fn any_guest_key_is_one_token_inside_its_store() {
        let space = KeySpace::new(&bucket("bka"), "").unwrap();
        assert_eq!(space, KeySpace::new(&bucket("bka"), "default").unwrap());
        for key in ["", "visits", "../bkb.default.x", "*", ">", ".", "a.b", "bkb.default.eA", "ü ñ \u{0}"] {
            let nats = space.key(key).unwrap();
            let token = nats.strip_prefix("bka.default.").unwrap();
            assert!(
                !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)),
                "{key:?} -> {nats}"
            );
            assert_eq!(space.guest_key(&nats).as_deref(), Some(key));
        }
        assert!(matches!(space.key(&"k".repeat(10_000)), Err(KeyValueError::KeyTooLong(10_000))));
        space.key(&"k".repeat(MAX_KEY_BYTES)).unwrap();
    }

    #[test]
    fn stores_are_token_names_and_separate() {
        let other = KeySpace::new(&bucket("bka"), "cache_2-x").unwrap();
        assert_eq!(other.key("k").unwrap(), "bka.cache_2-x.aw");
        assert_eq!(other.guest_key("bka.default.aw"), None);
        for bad in ["../bkb", "a.b", "*", ">", "bkb.default", " ", &"s".repeat(65)] {
            assert!(
                matches!(KeySpace::new(&bucket("bka"), bad), Err(KeyValueError::NoSuchStore(_))),
                "{bad:?}"
            );
        }
    }
}
