//! Where the executor gets a call's component.
//!
//! In production always from the [`ComponentLoader`] (registry digest, cache,
//! shared artifacts, S3 and a compile). The benchmark also measures the
//! original platform's path, which downloads and compiles on every call, to
//! show what the loader saves; that mode lives here, beside the loader rather
//! than inside it, so the production path carries no branch it never takes.

use std::sync::Arc;

use engine::CompilePool;
use protocol::FunctionRef;
use storage::FunctionStore;

use crate::error::ExecError;
use crate::loader::{ComponentLoader, Loaded, Source};
use crate::runtime::FunctionRuntime;

/// How this executor loads components.
pub enum Components {
    /// The platform's path.
    Loader(Box<ComponentLoader>),
    /// Download and compile on every call (`--compile-every-call`): for the
    /// benchmark's comparison only.
    CompileEveryCall(CompileEveryCall),
}

impl Components {
    /// The current version of `function`, prepared.
    pub async fn load(&self, function: &FunctionRef) -> Result<Loaded, ExecError> {
        match self {
            Self::Loader(loader) => loader.load(function).await,
            // Boxed: the original path's future (S3 and a compile) would
            // otherwise size every warm call's (issue 15).
            Self::CompileEveryCall(original) => Box::pin(original.load(function)).await,
        }
    }

    /// `function`'s kept version `digest`, prepared.
    pub async fn load_version(&self, function: &FunctionRef, digest: &str) -> Result<Loaded, ExecError> {
        match self {
            Self::Loader(loader) => loader.load_version(function, digest).await,
            Self::CompileEveryCall(original) => Box::pin(original.load_version(function, digest)).await,
        }
    }
}

/// The original platform's path: no registry, no cache, no artifacts.
pub struct CompileEveryCall {
    /// Where the bytes are read, on every call.
    pub store: FunctionStore,
    /// What compiles them.
    pub runtime: Arc<FunctionRuntime>,
    /// Where they are compiled.
    pub compiles: CompilePool,
}

impl CompileEveryCall {
    async fn load(&self, function: &FunctionRef) -> Result<Loaded, ExecError> {
        let bytes = self.store.get_function(function).await?;
        self.compile(bytes).await
    }

    async fn load_version(&self, function: &FunctionRef, digest: &str) -> Result<Loaded, ExecError> {
        let bytes = self.store.get_version(function, digest).await?;
        self.compile(bytes).await
    }

    async fn compile(&self, bytes: bytes::Bytes) -> Result<Loaded, ExecError> {
        let digest = engine::digest(&bytes);
        let runtime = self.runtime.clone();
        // CPU-bound for up to seconds: off the async workers, bounded.
        let size = bytes.len() as u64;
        let compiling = std::time::Instant::now();
        let component = self.compiles.run(size, move || runtime.prepare(&runtime.compile(&bytes)?)).await??;
        let compile = Some(compiling.elapsed());
        Ok(Loaded { component: Arc::new(component), digest, source: Source::Compiled, compile })
    }
}
