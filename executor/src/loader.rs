//! Where a call gets its prepared component from.
//!
//! The normal path looks the function's current digest up in the executor's
//! live copy of the function registry ([`RegistryWatch`]; a direct registry
//! read while that copy is not known current) and finds the prepared
//! component in the [`ComponentCache`]: no S3 request, no round trip, no
//! compile. On a miss it loads the
//! signed precompiled artifact the dispatcher stored at upload, and only
//! when there is none does it download the bytes from S3 and compile them
//! (then shares the artifact for the other executors). A function missing
//! from the registry (stored before the registry existed, or the registry
//! unreachable) is read from S3, which stays the source of truth.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::{FunctionRegistry, Lookup, RegistryWatch};
use engine::{ArtifactStore, CompilePool};
use protocol::{FunctionRef, headers};
use storage::FunctionStore;
use tracing::{debug, warn};

use crate::cache::ComponentCache;
use crate::error::ExecError;
use crate::runtime::{FunctionRuntime, PreparedComponent};

/// Where a loaded component came from; reported in the `Faas-Cache` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// This executor's cache.
    Memory,
    /// The shared precompiled-artifact store.
    Artifact,
    /// Compiled from the bytes in S3.
    Compiled,
}

impl Source {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => headers::CACHE_MEMORY,
            Self::Artifact => headers::CACHE_ARTIFACT,
            Self::Compiled => headers::CACHE_COMPILED,
        }
    }
}

/// A component ready to instantiate, and which version it is.
pub struct Loaded {
    /// The prepared component.
    pub component: Arc<PreparedComponent>,
    /// sha256 of its bytes.
    pub digest: String,
    /// Where it came from.
    pub source: Source,
    /// How long compiling it took, if this call compiled it.
    pub compile: Option<Duration>,
}

/// Loads functions' components, ready to instantiate.
pub struct ComponentLoader {
    store: FunctionStore,
    registry: FunctionRegistry,
    watch: RegistryWatch,
    artifacts: Option<ArtifactStore>,
    cache: ComponentCache,
    runtime: Arc<FunctionRuntime>,
    compiles: CompilePool,
}

impl ComponentLoader {
    /// A loader over these stores, compiling for `runtime`'s engine on
    /// the bounded pool `compiles`, keeping what it loads in `cache`.
    pub fn new(
        store: FunctionStore,
        (registry, watch): (FunctionRegistry, RegistryWatch),
        artifacts: Option<ArtifactStore>,
        (runtime, compiles): (Arc<FunctionRuntime>, CompilePool),
        cache: ComponentCache,
    ) -> Self {
        Self { store, registry, watch, artifacts, cache, runtime, compiles }
    }

    /// The current version of `function`, prepared.
    pub async fn load(&self, function: &FunctionRef) -> Result<Loaded, ExecError> {
        let known = match self.watch.lookup(function) {
            Lookup::Digest(digest) => Some(digest),
            Lookup::Absent => None,
            // Starting or reconnected: ask the registry itself. Its read is boxed in the
            // bus, and the cold paths below here, so a warm call's future
            // holds none of them (issue 15: moving it cost memcpys of 8 KiB).
            Lookup::Unknown => match self.registry.get(function).await {
                Ok(version) => version.map(|v| v.digest),
                Err(err) => {
                    warn!(%err, %function, "function registry unreadable; reading S3");
                    None
                }
            },
        };
        let (digest, bytes) = match known {
            Some(digest) => (digest, None),
            None => {
                // S3 answers 404 for a missing bucket or function here.
                let bytes = Box::pin(self.store.get_function(function)).await?;
                (engine::digest(&bytes), Some(bytes))
            }
        };
        let (component, how) = self
            .cache
            .get_or_load(&digest, || Box::pin(self.load_uncached(function, &digest, bytes, false)))
            .await?;
        let (source, compile) = how.unwrap_or((Source::Memory, None));
        Ok(Loaded { component, digest, source, compile })
    }

    /// `function`'s kept version `digest` (resolved from the request's
    /// `Faas-Version`), prepared: the same cache and artifacts as the
    /// current one, else its bytes kept under `.faas/versions/` in S3.
    pub async fn load_version(&self, function: &FunctionRef, digest: &str) -> Result<Loaded, ExecError> {
        let (component, how) = self
            .cache
            .get_or_load(digest, || Box::pin(self.load_uncached(function, digest, None, true)))
            .await?;
        let (source, compile) = how.unwrap_or((Source::Memory, None));
        Ok(Loaded { component, digest: digest.to_owned(), source, compile })
    }

    /// Artifact store first, else S3 (the function's object, or with
    /// `version` the kept version's) and compile. Returns the digest of
    /// what it loaded, which differs from `digest` only when an upload
    /// replaced the bytes since the registry was read.
    async fn load_uncached(
        &self,
        function: &FunctionRef,
        digest: &str,
        bytes: Option<bytes::Bytes>,
        version: bool,
    ) -> Result<(String, PreparedComponent, (Source, Option<Duration>)), ExecError> {
        if let Some(artifacts) = &self.artifacts {
            match artifacts.load(self.runtime.engine(), digest).await {
                Ok(Some(component)) => {
                    debug!(digest, "loaded the precompiled artifact");
                    let prepared = self.runtime.prepare(&component)?;
                    return Ok((digest.to_owned(), prepared, (Source::Artifact, None)));
                }
                Ok(None) => debug!(digest, "no precompiled artifact; compiling"),
                Err(err) => warn!(%err, digest, "precompiled artifact unusable; compiling"),
            }
        }
        let bytes = match bytes {
            Some(bytes) => bytes,
            None if version => self.store.get_version(function, digest).await.map_err(|err| {
                match err {
                    // The record outlived its bytes (deleted meanwhile).
                    storage::StorageError::FunctionNotFound(_) => {
                        ExecError::Version(protocol::versions::not_found(function, digest))
                    }
                    err => ExecError::Storage(err),
                }
            })?,
            None => self.store.get_function(function).await?,
        };
        let loaded_digest = engine::digest(&bytes);
        let runtime = self.runtime.clone();
        let compiling = Instant::now();
        let (component, serialized) = self
            .compiles
            .run(bytes.len() as u64, move || {
                let component = runtime.compile(&bytes)?;
                let serialized = component.serialize().ok();
                Ok::<_, ExecError>((component, serialized))
            })
            .await??;
        let compile_time = compiling.elapsed();
        if let (Some(artifacts), Some(serialized)) = (self.artifacts.clone(), serialized) {
            // Sharing is an optimisation for the next executor: not on the
            // caller's time.
            let shared_digest = loaded_digest.clone();
            tokio::spawn(async move {
                if let Err(err) = artifacts.put(&shared_digest, &serialized).await {
                    warn!(%err, digest = shared_digest, "could not share the compiled artifact");
                }
            });
        }
        Ok((loaded_digest, self.runtime.prepare(&component)?, (Source::Compiled, Some(compile_time))))
    }
}
