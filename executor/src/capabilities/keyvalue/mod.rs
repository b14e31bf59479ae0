//! `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`, `batch`) over the
//! JetStream key-value bucket `<p>-kv`, every key under the calling
//! function's bucket ([`bus::keyvalue`] has the layout and the backend
//! calls; this module is the guest's side: grants, per-call limits,
//! metrics, and every failure turned into the interface's `error`).
//!
//! A guest never names a bucket: `open` takes a store identifier inside
//! the function's own bucket, and keys are encoded into one NATS token, so
//! no identifier or key reaches another bucket's data. A read-only grant
//! answers writes `access-denied`; everything else the guest did wrong
//! (bad store name, key too long, value or keys-per-call over the limit,
//! a non-number under `increment`) and a failing backend are
//! `error::other` with a message, never a trap.

use std::sync::Arc;

use async_nats::Client;
use bus::{JetStreamLayout, KeySpace, KeyValueData, KeyValueError};
use protocol::Capability;
use wasmtime::component::{Linker, Resource};

use self::bindings::wasi::keyvalue::{atomics, batch, store};
use super::{CapabilityData, CapabilityHosts, CapabilityView};

mod host;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/deps/keyvalue",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::OpenStore,
        },
    });
}

use store::Error;

/// The `<p>-kv` bucket, opened once per executor.
pub struct KeyValueBackend {
    data: KeyValueData,
}

impl KeyValueBackend {
    /// Opens (or creates) `<p>-kv`, waiting for JetStream.
    pub async fn open_when_ready(client: &Client, layout: &JetStreamLayout) -> Self {
        Self { data: KeyValueData::open_when_ready(client, layout, bus::StoreQuotas::DEFAULT.keyvalue).await }
    }
}

/// A guest's `bucket` resource: one store of the function's bucket.
#[derive(Debug, Clone)]
pub struct OpenStore {
    space: KeySpace,
    /// The store's name, for the keys-per-call count.
    name: String,
}

/// Links `wasi:keyvalue` (`store`, `atomics`, `batch`).
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> CapabilityView<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, CapabilityData>(linker, view)?;
    atomics::add_to_linker::<T, CapabilityData>(linker, view)?;
    batch::add_to_linker::<T, CapabilityData>(linker, view)?;
    Ok(())
}

/// A guest's request: its metric name and whether it writes.
#[derive(Clone, Copy)]
enum Op {
    Open,
    Get,
    Set,
    Delete,
    Exists,
    ListKeys,
    Increment,
    GetMany,
    SetMany,
    DeleteMany,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Get => "get",
            Self::Set => "set",
            Self::Delete => "delete",
            Self::Exists => "exists",
            Self::ListKeys => "list_keys",
            Self::Increment => "increment",
            Self::GetMany => "get_many",
            Self::SetMany => "set_many",
            Self::DeleteMany => "delete_many",
        }
    }

    fn writes(self) -> bool {
        matches!(self, Self::Set | Self::Delete | Self::Increment | Self::SetMany | Self::DeleteMany)
    }
}

fn other(message: impl Into<String>) -> Error {
    Error::Other(message.into())
}

fn guest_error(err: KeyValueError) -> Error {
    match err {
        KeyValueError::NoSuchStore(_) => Error::NoSuchStore,
        err => other(err.to_string()),
    }
}

impl CapabilityView<'_> {
    /// Counts one `op` and checks the grant: the shared backends to use.
    fn begin_kv(&mut self, op: Op) -> Result<Arc<CapabilityHosts>, Error> {
        let Some(hosts) = self.call.hosts.clone() else {
            return Err(other("wasi:keyvalue is not available in this runtime"));
        };
        hosts.metrics.call(Capability::KeyValue, op.name());
        let access = self.call.grants.keyvalue;
        if !access.granted() || (op.writes() && !access.writes()) {
            return Err(Error::AccessDenied);
        }
        Ok(hosts)
    }

    /// Counts an error answer of `op`.
    fn finish<R>(&self, op: Op, outcome: Result<R, Error>) -> Result<R, Error> {
        if outcome.is_err()
            && let Some(hosts) = &self.call.hosts
        {
            hosts.metrics.error(Capability::KeyValue, op.name());
        }
        outcome
    }

    /// Records `keys` of `store` as touched by this call, refusing them
    /// all if that passes the call's limit of distinct keys.
    fn touch<'k>(
        &mut self,
        hosts: &CapabilityHosts,
        store: &OpenStore,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<(), Error> {
        let mut new = std::collections::BTreeSet::new();
        for key in keys {
            store.space.key(key).map_err(guest_error)?;
            let touched = format!("{}/{key}", store.name);
            if !self.call.usage.keys.contains(&touched) {
                new.insert(touched);
            }
        }
        let limit = hosts.limits.kv_max_keys_per_call;
        if self.call.usage.keys.len() + new.len() > limit {
            return Err(other(format!(
                "this call may touch at most {limit} distinct keys (FAAS_KV_MAX_KEYS_PER_CALL); \
                 it has touched {} and asks for {} more",
                self.call.usage.keys.len(),
                new.len()
            )));
        }
        self.call.usage.keys.extend(new);
        Ok(())
    }

    /// Refuses a value over the per-key limit.
    fn check_value(hosts: &CapabilityHosts, key: &str, value: &[u8]) -> Result<(), Error> {
        let limit = hosts.limits.kv_max_value_bytes;
        if value.len() > limit {
            let key: String = key.chars().take(64).collect();
            return Err(other(format!(
                "the value of {key:?} is {} bytes; at most {limit} are allowed (FAAS_KV_MAX_VALUE_BYTES)",
                value.len()
            )));
        }
        Ok(())
    }

    fn store(&self, bucket: &Resource<OpenStore>) -> wasmtime::Result<OpenStore> {
        Ok(self.table.get(bucket)?.clone())
    }

    async fn get_value(&mut self, bucket: &OpenStore, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let hosts = self.begin_kv(Op::Get)?;
        self.touch(&hosts, bucket, [key])?;
        let value = hosts.keyvalue.data.get(&bucket.space, key).await.map_err(guest_error)?;
        if let Some(value) = &value {
            hosts.metrics.bytes(Capability::KeyValue, "read", value.len() as u64);
        }
        Ok(value.map(|value| value.to_vec()))
    }

    async fn set_value(&mut self, bucket: &OpenStore, key: &str, value: Vec<u8>) -> Result<(), Error> {
        let hosts = self.begin_kv(Op::Set)?;
        Self::check_value(&hosts, key, &value)?;
        self.touch(&hosts, bucket, [key])?;
        let size = value.len() as u64;
        hosts.keyvalue.data.put(&bucket.space, key, value.into()).await.map_err(guest_error)?;
        hosts.metrics.bytes(Capability::KeyValue, "written", size);
        Ok(())
    }
}
