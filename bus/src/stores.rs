//! Opening the JetStream stores the platform keeps: key-value buckets,
//! streams and object stores, created by whichever process needs them first.
//!
//! No process sets the bus up beforehand, so every opener gets the store
//! and creates it with the platform's settings when it is missing. Two
//! processes starting together may both find it missing: the loser's
//! create fails (or succeeds, when the settings match), and it gets the
//! winner's store.

use async_nats::jetstream::{self, kv, object_store, stream};

/// A JetStream store could not be opened or created.
#[derive(Debug, thiserror::Error)]
#[error("the JetStream store {name} is unavailable (is JetStream enabled?): {reason}")]
pub struct StoreUnavailable {
    /// The bucket or stream.
    pub name: String,
    /// What JetStream said.
    pub reason: String,
}

/// The settings of a store [`open_or_create`] can open: its name says which
/// one to get, the rest how to create it.
pub trait StoreConfig: Send {
    /// The handle on the store.
    type Store;

    /// The bucket's or stream's name.
    fn name(&self) -> &str;

    /// The existing store named `name`.
    fn get(js: &jetstream::Context, name: &str) -> impl Future<Output = Result<Self::Store, String>> + Send;

    /// Creates the store with these settings.
    fn create(self, js: &jetstream::Context) -> impl Future<Output = Result<Self::Store, String>> + Send;
}

impl StoreConfig for kv::Config {
    type Store = kv::Store;

    fn name(&self) -> &str {
        &self.bucket
    }

    async fn get(js: &jetstream::Context, name: &str) -> Result<kv::Store, String> {
        js.get_key_value(name).await.map_err(|e| e.to_string())
    }

    async fn create(self, js: &jetstream::Context) -> Result<kv::Store, String> {
        js.create_key_value(self).await.map_err(|e| e.to_string())
    }
}

impl StoreConfig for object_store::Config {
    type Store = object_store::ObjectStore;

    fn name(&self) -> &str {
        &self.bucket
    }

    async fn get(js: &jetstream::Context, name: &str) -> Result<object_store::ObjectStore, String> {
        js.get_object_store(name).await.map_err(|e| e.to_string())
    }

    async fn create(self, js: &jetstream::Context) -> Result<object_store::ObjectStore, String> {
        js.create_object_store(self).await.map_err(|e| e.to_string())
    }
}

impl StoreConfig for stream::Config {
    type Store = stream::Stream;

    fn name(&self) -> &str {
        &self.name
    }

    async fn get(js: &jetstream::Context, name: &str) -> Result<stream::Stream, String> {
        js.get_stream(name).await.map_err(|e| e.to_string())
    }

    async fn create(self, js: &jetstream::Context) -> Result<stream::Stream, String> {
        js.create_stream(self).await.map_err(|e| e.to_string())
    }
}

/// The store `config` names, created with `config` if it does not exist
/// yet. An existing store is taken as it is: its settings are not updated.
pub async fn open_or_create<C: StoreConfig>(
    js: &jetstream::Context,
    config: C,
) -> Result<C::Store, StoreUnavailable> {
    let name = config.name().to_owned();
    if let Ok(store) = C::get(js, &name).await {
        return Ok(store);
    }
    match config.create(js).await {
        Ok(store) => Ok(store),
        // Another process created it meanwhile, with other settings.
        Err(reason) => C::get(js, &name).await.map_err(|_| StoreUnavailable { name, reason }),
    }
}
