//! Where a call gets its compiled component from.
//!
//! Today every call downloads the component from S3 and compiles it, as the
//! original platform did, so an upload takes effect on the very next call.
//! This type is the seam where a compiled-component cache keyed by content
//! digest goes: callers ask for a function and get a `Component`, and do not
//! care whether it came from S3, memory or a precompiled artifact.

use std::sync::Arc;

use protocol::FunctionRef;
use storage::FunctionStore;
use wasmtime::component::Component;

use crate::error::ExecError;
use crate::runtime::FunctionRuntime;

/// Loads functions' components, ready to instantiate.
#[derive(Clone)]
pub struct ComponentLoader {
    store: FunctionStore,
    runtime: Arc<FunctionRuntime>,
}

impl ComponentLoader {
    /// A loader reading from `store` and compiling for `runtime`'s engine.
    pub fn new(store: FunctionStore, runtime: Arc<FunctionRuntime>) -> Self {
        Self { store, runtime }
    }

    /// The current version of `function`, compiled.
    pub async fn load(&self, function: &FunctionRef) -> Result<Component, ExecError> {
        let bytes = self.store.get_function(function).await?;
        let runtime = self.runtime.clone();
        // Compiling is CPU-bound for up to seconds: keep it off the async
        // workers so it cannot stall other calls' replies.
        tokio::task::spawn_blocking(move || runtime.compile(&bytes))
            .await
            .map_err(|e| ExecError::Internal(format!("compile task: {e}")))?
    }
}
