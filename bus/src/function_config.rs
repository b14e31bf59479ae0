//! Per-function configuration on the bus: one
//! [`StoredFunctionConfig`] per function in the
//! [`function_config`](protocol::JetStreamNames::function_config)
//! key-value bucket, under the registry's key `<bucket>.<function>`.
//!
//! Dispatchers write it (admin commands) and wait for every live
//! [`FunctionConfigWatch`] to apply a write before they answer, so once
//! `PUT /config/{b}/{f}` answers, the next call on every executor runs
//! with it. Executors follow the bucket, so a call reads its function's
//! configuration from memory.

use std::sync::Arc;
use std::time::Duration;

use protocol::function_config::StoredFunctionConfig;
use protocol::registry::registry_key;
use protocol::{BucketName, FunctionRef};

use crate::definitions::{DefinitionError, DefinitionStore};
use crate::followed_map::{FollowedMap, MapLookup};

/// Every function's configuration that has one.
#[derive(Clone)]
pub struct FunctionConfigStore {
    definitions: DefinitionStore<StoredFunctionConfig>,
}

impl FunctionConfigStore {
    /// Opens the store, creating it on first use.
    pub async fn open(
        client: &async_nats::Client,
        layout: &crate::JetStreamLayout,
    ) -> Result<Self, DefinitionError> {
        let definitions =
            DefinitionStore::open(client, layout, &layout.names.function_config(), "function-config").await?;
        Ok(Self { definitions })
    }

    /// Opens the store, waiting for JetStream.
    pub async fn open_when_ready(client: &async_nats::Client, layout: &crate::JetStreamLayout) -> Self {
        crate::retry("function config store", || Self::open(client, layout)).await
    }

    /// `function`'s configuration, if it has one.
    pub async fn get(&self, function: &FunctionRef) -> Result<Option<StoredFunctionConfig>, DefinitionError> {
        match self.definitions.get(&registry_key(function)).await {
            Ok(config) => Ok(Some(config)),
            Err(DefinitionError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Stores `function`'s configuration; returns the revision to wait for.
    pub async fn put(
        &self,
        function: &FunctionRef,
        config: &StoredFunctionConfig,
    ) -> Result<u64, DefinitionError> {
        self.definitions.put(&registry_key(function), config).await
    }

    /// Forgets `function`'s configuration; the revision to wait for, if it had one.
    pub async fn remove(&self, function: &FunctionRef) -> Result<Option<u64>, DefinitionError> {
        match self.definitions.delete(&registry_key(function)).await {
            Ok(revision) => Ok(Some(revision)),
            Err(DefinitionError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Forgets the configuration of every function of `bucket`; the last
    /// revision to wait for, if any was removed.
    pub async fn remove_bucket(&self, bucket: &BucketName) -> Result<Option<u64>, DefinitionError> {
        let prefix = format!("{bucket}.");
        let mut last = None;
        for (key, _) in self.definitions.list().await? {
            if key.starts_with(&prefix) {
                match self.definitions.delete(&key).await {
                    Ok(revision) => last = Some(revision),
                    Err(DefinitionError::NotFound { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(last)
    }

    /// Waits until every live [`FunctionConfigWatch`] has applied `revision`.
    pub async fn wait_for_followers(&self, revision: u64, timeout: Duration) -> Result<(), DefinitionError> {
        self.definitions.wait_for_followers(revision, timeout).await
    }

    /// Starts following the configurations; see [`FunctionConfigWatch`].
    pub async fn watch(&self, client: &async_nats::Client) -> Result<FunctionConfigWatch, DefinitionError> {
        let map = FollowedMap::start(self.definitions.follow(client).await?);
        Ok(FunctionConfigWatch { map, store: self.clone() })
    }
}

/// An executor's live copy of every function's configuration.
#[derive(Clone)]
pub struct FunctionConfigWatch {
    map: FollowedMap<StoredFunctionConfig>,
    store: FunctionConfigStore,
}

impl FunctionConfigWatch {
    /// `function`'s configuration (`None`: the defaults): from memory, or
    /// from the store while the copy is not known current.
    pub async fn config(
        &self,
        function: &FunctionRef,
    ) -> Result<Option<Arc<StoredFunctionConfig>>, DefinitionError> {
        match self.map.lookup(&registry_key(function)) {
            MapLookup::Found(config) => Ok(Some(config)),
            MapLookup::Absent => Ok(None),
            // Boxed: the store's read would otherwise size every call's future.
            MapLookup::Unknown => Ok(Box::pin(self.store.get(function)).await?.map(Arc::new)),
        }
    }
}
