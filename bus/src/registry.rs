//! The function registry on the bus: the current digest of each function.
//!
//! The dispatcher writes an entry after it stored an upload in S3 and
//! removes it with the function; executors read it on every call (one
//! JetStream direct get, no S3 request) and use the digest as the key of
//! their compiled-component cache. Reading per call, rather than following a
//! watch, keeps deploys exact: a call that starts after an upload answered
//! sees the new digest, whichever executor takes it.

use async_nats::jetstream::{self, kv};
use futures::StreamExt as _;
use protocol::registry::{FUNCTION_REGISTRY, registry_bucket_filter, registry_key};
use protocol::{BucketName, FunctionRef, FunctionVersion};

/// The registry could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// JetStream is not enabled or not reachable.
    #[error("the function registry is unavailable (is JetStream enabled?): {0}")]
    Unavailable(String),
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

    /// Records `version` as the current one of `function`.
    pub async fn set(&self, function: &FunctionRef, version: &FunctionVersion) -> Result<(), RegistryError> {
        let value = serde_json::to_vec(version).expect("versions always serialise");
        self.kv.put(registry_key(function), value.into()).await.map_err(unavailable)?;
        Ok(())
    }

    /// Forgets `function`.
    pub async fn remove(&self, function: &FunctionRef) -> Result<(), RegistryError> {
        self.kv.purge(registry_key(function)).await.map_err(unavailable)
    }

    /// Forgets every function of `bucket`.
    pub async fn remove_bucket(&self, bucket: &BucketName) -> Result<(), RegistryError> {
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
        Ok(())
    }
}

fn unavailable(err: impl std::fmt::Display) -> RegistryError {
    RegistryError::Unavailable(err.to_string())
}
