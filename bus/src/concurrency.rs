//! `max_concurrency` across executors: leases in the
//! [`concurrency`](protocol::JetStreamNames::concurrency) key-value bucket.
//!
//! A function allowed `n` calls at once has slots `<bucket>.<function>.0`
//! to `.<n-1>`. A call takes a free one with a key-value *create*, which
//! the server grants to one creator only (and grants again over a deleted
//! key), and gives it back with a delete when it ends, however it ends.
//! The bucket's entries expire (`max_age`, longer than any call may run),
//! so the slots of an executor that died holding them free themselves. No
//! free slot: the call is refused (`concurrency_limited`, 429), never
//! queued. Functions without a limit never touch the bucket.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use protocol::FunctionRef;
use protocol::registry::registry_key;

use crate::StoreError;

/// The slots of every function with a `max_concurrency`.
#[derive(Clone)]
pub struct ConcurrencyLeases {
    kv: kv::Store,
    /// Written into each slot taken: which executor holds it.
    holder: String,
}

impl ConcurrencyLeases {
    /// Opens the bucket, creating it with entries that expire after
    /// `max_age` (keep it above the longest call), for slots held by `holder`.
    pub async fn open(
        client: &async_nats::Client,
        layout: &crate::JetStreamLayout,
        max_age: Duration,
        holder: String,
    ) -> Result<Self, StoreError> {
        let config = kv::Config {
            bucket: layout.names.concurrency(),
            description: "wasm-faas: running calls of functions with a max_concurrency".into(),
            history: 1,
            max_age,
            max_bytes: crate::StoreQuotas::DEFAULT.concurrency,
            ..Default::default()
        };
        let kv = crate::open_or_create(&jetstream::new(client.clone()), layout.replicas, config).await?;
        Ok(Self { kv, holder })
    }

    /// Opens the bucket, waiting for JetStream.
    pub async fn open_when_ready(
        client: &async_nats::Client,
        layout: &crate::JetStreamLayout,
        max_age: Duration,
        holder: String,
    ) -> Self {
        crate::retry("concurrency leases", || Self::open(client, layout, max_age, holder.clone())).await
    }

    /// Takes a free slot of `function`'s `max` slots; `None` when all are held.
    pub async fn acquire(&self, function: &FunctionRef, max: u32) -> Result<Option<Lease>, StoreError> {
        let base = registry_key(function);
        for slot in 0..max {
            let key = format!("{base}.{slot}");
            match self.kv.create(&key, self.holder.clone().into()).await {
                Ok(_) => return Ok(Some(Lease { kv: Some(self.kv.clone()), key })),
                Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => continue,
                Err(err) => return Err(StoreError::from_reason(&self.kv.name, err)),
            }
        }
        Ok(None)
    }
}

/// One slot, held until [`Lease::release`] or drop (which releases it in
/// the background: a cancelled or panicking call gives its slot back too).
pub struct Lease {
    kv: Option<kv::Store>,
    key: String,
}

impl Lease {
    /// Gives the slot back, and waits until the server has it: the next
    /// call may take it at once.
    pub async fn release(mut self) {
        if let Some(kv) = self.kv.take() {
            free(&kv, &self.key).await;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(kv) = self.kv.take() else { return };
        let key = std::mem::take(&mut self.key);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { free(&kv, &key).await });
        }
    }
}

async fn free(kv: &kv::Store, key: &str) {
    if let Err(err) = kv.delete(key).await {
        // The entry expires with the bucket's max_age anyway.
        tracing::warn!(%err, key, "could not release a concurrency slot; it frees when it expires");
    }
}
