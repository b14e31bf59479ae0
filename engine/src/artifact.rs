//! The shared store of precompiled component artifacts.
//!
//! Compiling a component takes from a hundred milliseconds to seconds;
//! loading a compiled artifact takes well under one. The dispatcher compiles
//! every upload anyway to check it, so it stores the result here and the
//! first call on any executor, new or old, loads instead of compiling. The
//! store is a JetStream object store, so it needs nothing beyond the NATS
//! cluster every role already uses; artifacts are signed (see
//! [`crate::ArtifactKey`]) because loading one runs its code unchecked.
//! An executor also keeps a bounded local copy of what it read or made
//! ([`crate::LocalArtifacts`]) and reads that first: checked the same way,
//! and no round trip or consumer on the server.

use std::sync::Arc;

use async_nats::jetstream::{self, object_store};
use protocol::JetStreamNames;
use protocol::registry::{ARTIFACTS_DEFAULT_MAX_BYTES, artifact_name};
use tokio::io::AsyncReadExt;
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::LocalArtifacts;
use crate::signature::{ArtifactKey, SignatureError};

/// Artifacts larger than this are neither stored nor read.
const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

/// A failure of the artifact store. Callers fall back to compiling.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The store could not be reached or written.
    #[error("artifact store unavailable: {0}")]
    Unavailable(String),
    /// The stored object is not signed with our key: refused, never loaded.
    #[error("refused artifact {name}: {reason}")]
    Refused {
        /// Object name.
        name: String,
        /// What was wrong.
        reason: SignatureError,
    },
    /// Signed, but this engine cannot load it (should not happen: the name
    /// carries the engine fingerprint).
    #[error("artifact {name} does not load: {reason}")]
    Incompatible {
        /// Object name.
        name: String,
        /// Wasmtime's message.
        reason: String,
    },
}

/// Handle on the artifact store, with the key that signs and checks.
#[derive(Clone)]
pub struct ArtifactStore {
    store: object_store::ObjectStore,
    key: ArtifactKey,
    fingerprint: String,
    local: Option<Arc<LocalArtifacts>>,
}

impl ArtifactStore {
    /// Opens the store named by `names` (creating it on first use, with
    /// `replicas` copies: an existing store's replicas are the dispatcher's
    /// to change, with every other store's) for artifacts of `engine`.
    pub async fn open(
        client: &async_nats::Client,
        names: &JetStreamNames,
        replicas: usize,
        engine: &Engine,
        key: ArtifactKey,
    ) -> Result<Self, ArtifactError> {
        let js = jetstream::new(client.clone());
        let name = names.artifact_store();
        let store = match js.get_object_store(&name).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: name,
                    num_replicas: replicas,
                    description: Some("wasm-faas: signed precompiled components, by digest".into()),
                    // The dispatcher sets the configured cap at start.
                    max_bytes: ARTIFACTS_DEFAULT_MAX_BYTES,
                    ..Default::default()
                })
                .await
                .map_err(|e| ArtifactError::Unavailable(e.to_string()))?,
        };
        Ok(Self { store, key, fingerprint: crate::fingerprint(engine), local: None })
    }

    /// The store when `secret` (the configured key) is set and long enough
    /// and the store opens; otherwise `None`, with a log line saying why:
    /// the platform works without shared artifacts, only slower to warm.
    pub async fn open_configured(
        client: &async_nats::Client,
        names: &JetStreamNames,
        replicas: usize,
        engine: &Engine,
        secret: Option<&str>,
    ) -> Option<Self> {
        let key = match secret.map(ArtifactKey::new) {
            None => {
                tracing::info!("no artifact key configured: precompiled artifacts are not shared");
                return None;
            }
            Some(None) => {
                tracing::warn!(
                    "the artifact key is shorter than 16 characters: precompiled artifacts are not shared"
                );
                return None;
            }
            Some(Some(key)) => key,
        };
        match Self::open(client, names, replicas, engine, key).await {
            Ok(store) => Some(store),
            Err(err) => {
                tracing::warn!(%err, "artifact store unavailable: precompiled artifacts are not shared");
                None
            }
        }
    }

    /// Also keeps a copy of every artifact read or stored in `local`, and
    /// reads from there first.
    pub fn with_local(mut self, local: LocalArtifacts) -> Self {
        self.local = Some(Arc::new(local));
        self
    }

    fn name(&self, digest: &str) -> String {
        artifact_name(&self.fingerprint, digest)
    }

    /// Signs and stores the serialized artifact of the component with `digest`.
    pub async fn put(&self, digest: &str, serialized: &[u8]) -> Result<(), ArtifactError> {
        if serialized.len() as u64 > MAX_ARTIFACT_BYTES {
            return Err(ArtifactError::Unavailable(format!(
                "artifact of {} bytes is over the {MAX_ARTIFACT_BYTES} byte limit",
                serialized.len()
            )));
        }
        let sealed = self.key.seal(&self.fingerprint, digest, serialized);
        let name = self.name(digest);
        self.store
            .put(name.as_str(), &mut sealed.as_slice())
            .await
            .map_err(|e| ArtifactError::Unavailable(e.to_string()))?;
        if let Some(local) = self.local.clone() {
            let _ = tokio::task::spawn_blocking(move || local.write(&name, &sealed)).await;
        }
        Ok(())
    }

    /// The artifact of the component with `digest`, loaded into `engine`, or
    /// `None` when there is none. A refused artifact is deleted, so the next
    /// compile can replace it.
    pub async fn load(&self, engine: &Engine, digest: &str) -> Result<Option<Component>, ArtifactError> {
        let name = self.name(digest);
        if let Some(local) = self.local.clone() {
            let (key, fingerprint, engine, digest, name) =
                (self.key.clone(), self.fingerprint.clone(), engine.clone(), digest.to_owned(), name.clone());
            let found = tokio::task::spawn_blocking(move || {
                let sealed = local.read(&name, MAX_ARTIFACT_BYTES + crate::signature::TAG_LEN as u64)?;
                let loaded = key.open(&fingerprint, &digest, &sealed).map_err(|e| e.to_string());
                let loaded = loaded.and_then(|artifact| deserialize(&engine, artifact));
                if let Err(reason) = &loaded {
                    // Damaged, or not ours: the store's copy replaces it.
                    tracing::warn!(%reason, name, "local artifact copy refused; reading the store");
                    local.remove(&name);
                }
                loaded.ok()
            })
            .await
            .ok()
            .flatten();
            if let Some(component) = found {
                return Ok(Some(component));
            }
        }
        let mut object = match self.store.get(&name).await {
            Ok(object) => object,
            Err(err) if err.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(ArtifactError::Unavailable(err.to_string())),
        };
        let mut sealed = Vec::new();
        (&mut object)
            .take(MAX_ARTIFACT_BYTES + crate::signature::TAG_LEN as u64)
            .read_to_end(&mut sealed)
            .await
            .map_err(|e| ArtifactError::Unavailable(e.to_string()))?;
        let (key, fingerprint, engine, digest_owned) =
            (self.key.clone(), self.fingerprint.clone(), engine.clone(), digest.to_owned());
        let (local, local_name) = (self.local.clone(), name.clone());
        // Copying a large artifact into executable memory takes milliseconds:
        // not on an async worker.
        let loaded = tokio::task::spawn_blocking(move || {
            let artifact = key.open(&fingerprint, &digest_owned, &sealed).map_err(Err)?;
            let component = deserialize(&engine, artifact).map_err(Ok)?;
            if let Some(local) = local {
                // The copy is for the next miss: not on this caller's time.
                tokio::task::spawn_blocking(move || local.write(&local_name, &sealed));
            }
            Ok(component)
        })
        .await
        .map_err(|e| ArtifactError::Unavailable(format!("artifact load task: {e}")))?;
        match loaded {
            Ok(component) => Ok(Some(component)),
            Err(Err(reason)) => {
                let _ = self.store.delete(&name).await;
                Err(ArtifactError::Refused { name, reason })
            }
            Err(Ok(reason)) => {
                let _ = self.store.delete(&name).await;
                Err(ArtifactError::Incompatible { name, reason })
            }
        }
    }
}

impl ArtifactStore {
    /// Deletes every artifact (of any engine) whose digest is not in
    /// `referenced` and that was stored more than `grace` ago: an upload
    /// stores its artifact before the registry names the digest, and the
    /// grace keeps that window safe. Returns how many went.
    pub async fn sweep(
        &self,
        referenced: &std::collections::HashSet<String>,
        grace: std::time::Duration,
    ) -> Result<usize, ArtifactError> {
        use futures::StreamExt as _;
        let unavailable = |e: &dyn std::fmt::Display| ArtifactError::Unavailable(e.to_string());
        let mut listed = self.store.list().await.map_err(|e| unavailable(&e))?;
        let now = std::time::SystemTime::now();
        let mut doomed = Vec::new();
        while let Some(info) = listed.next().await {
            let info = info.map_err(|e| unavailable(&e))?;
            // `<fingerprint>-<digest>`: the digest is the last part.
            let digest = info.name.rsplit('-').next().unwrap_or_default();
            let age = info.modified.and_then(|at| now.duration_since(at.into()).ok()).unwrap_or_default();
            if !info.deleted && !referenced.contains(digest) && age >= grace {
                doomed.push(info.name);
            }
        }
        for name in &doomed {
            self.store.delete(name).await.map_err(|e| unavailable(&e))?;
        }
        Ok(doomed.len())
    }
}

/// Loads artifact bytes whose signature has been checked.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> Result<Component, String> {
    // SAFETY: Wasmtime requires the bytes to come from `Component::serialize`
    // of a trusted engine. They do: the caller checked the HMAC tag that only
    // the platform's roles can make, over exactly these bytes, this engine's
    // fingerprint and the component digest. Wasmtime itself still checks the
    // header, version and configuration before using them.
    unsafe { Component::deserialize(engine, artifact) }.map_err(|e| format!("{e:#}"))
}
