//! Claims on scheduled triggers' ticks, so each tick runs once however many
//! dispatchers compute it.
//!
//! Every dispatcher follows every scheduled trigger and wakes at each of its
//! ticks; the first to create the key `<trigger>.<tick in ms>` in
//! [`schedule_ticks`](protocol::JetStreamNames::schedule_ticks) publishes the tick, the others see
//! the key exists and stand down. Creation is atomic on the server, so no
//! start, stop or crash of a dispatcher makes a tick run twice; keys expire
//! after [`CLAIM_TTL`], well past any clock skew between dispatchers.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use protocol::TriggerName;

use crate::stores::{JetStreamLayout, StoreError, StoreQuota};

/// How long a claim is kept: longer than dispatchers' clocks may differ.
pub const CLAIM_TTL: Duration = Duration::from_secs(600);

/// Handle on the tick claims.
#[derive(Clone)]
pub struct ScheduleTicks {
    kv: kv::Store,
}

impl ScheduleTicks {
    /// Opens the claims (created on first use).
    pub async fn open(
        client: &async_nats::Client,
        layout: &JetStreamLayout,
        quota: StoreQuota,
    ) -> Result<Self, StoreError> {
        let config = kv::Config {
            bucket: layout.names.schedule_ticks(),
            description: "wasm-faas: which dispatcher runs each tick of a scheduled trigger".into(),
            history: 1,
            max_age: CLAIM_TTL,
            max_bytes: quota.max_bytes,
            ..Default::default()
        };
        let kv = crate::open_or_create(&jetstream::new(client.clone()), layout.replicas, config).await?;
        Ok(Self { kv })
    }

    /// Claims `trigger`'s tick at `tick_ms` (milliseconds since the epoch)
    /// for `claimant`: `true` for the one caller that got it.
    pub async fn claim(
        &self,
        trigger: &TriggerName,
        tick_ms: i64,
        claimant: &str,
    ) -> Result<bool, StoreError> {
        let key = format!("{trigger}.{tick_ms}");
        match self.kv.create(key.as_str(), claimant.to_owned().into()).await {
            Ok(_) => Ok(true),
            Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(err) => Err(StoreError::from_reason(&self.kv.name, err)),
        }
    }
}
