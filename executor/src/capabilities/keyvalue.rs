//! `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`, `batch`) over the
//! JetStream key-value bucket `<p>-kv`, every key under the calling
//! function's bucket.
//!
//! TODO(kv helper): the bindings, the backend and the host functions.

use async_nats::Client;
use bus::JetStreamLayout;
use wasmtime::component::Linker;

use super::CapabilityView;

/// The `<p>-kv` bucket, opened once per executor.
pub struct KeyValueBackend {}

impl KeyValueBackend {
    /// Opens (or creates) `<p>-kv`.
    pub async fn open_when_ready(_client: &Client, _layout: &JetStreamLayout) -> Self {
        Self {}
    }
}

/// Links `wasi:keyvalue`.
pub fn add_to_linker<T: Send + 'static>(
    _linker: &mut Linker<T>,
    _view: fn(&mut T) -> CapabilityView<'_>,
) -> wasmtime::Result<()> {
    Ok(())
}
