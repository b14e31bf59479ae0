//! `wasmcloud:messaging@0.2.0` (`consumer`): publish and request on the
//! subjects the function's grant allows, never the platform's own, with the
//! call's request id and hop count on every message.
//!
//! TODO(messaging helper): the bindings, the backend and the host functions.

use async_nats::Client;
use wasmtime::component::Linker;

use super::CapabilityView;

/// The NATS connection guests publish through.
pub struct MessagingBackend {
    #[allow(dead_code)]
    client: Client,
}

impl MessagingBackend {
    /// Publishes through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// Links `wasmcloud:messaging`.
pub fn add_to_linker<T: Send + 'static>(
    _linker: &mut Linker<T>,
    _view: fn(&mut T) -> CapabilityView<'_>,
) -> wasmtime::Result<()> {
    Ok(())
}
