//! The artifact sweep: deletes the precompiled artifacts no function is at
//! any more.
//!
//! Every upload of a new version stores a new artifact and leaves the old
//! one behind, so without a sweep `faas-artifacts` only grows. Each
//! dispatcher sweeps every `interval`: it reads the digests the registry
//! and the kept versions (`faas-versions`) name, so an artifact lives as
//! long as a version of its digest is kept, and deletes the artifacts of
//! other digests stored more than
//! `grace` ago (an upload stores its artifact just before the registry
//! names it). Sweeps are idempotent, so dispatchers sweeping at once do no
//! harm, and a wrongly deleted artifact costs one compile, never a call.

use std::time::Duration;

use bus::{FunctionRegistry, VersionStore};
use engine::ArtifactStore;
use tracing::{info, warn};

/// What a sweep needs.
#[derive(Clone)]
pub struct Sweep {
    /// Names the digests to keep.
    pub registry: FunctionRegistry,
    /// Names the digests of the kept versions, kept too.
    pub versions: VersionStore,
    /// Where the artifacts are.
    pub artifacts: ArtifactStore,
    /// How long an artifact is kept whatever the registry says.
    pub grace: Duration,
}

impl Sweep {
    /// Sweeps now and every `interval` after, forever (the caller aborts it).
    pub async fn run(self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match self.once().await {
                Ok(0) => {}
                Ok(deleted) => info!(deleted, "unreferenced precompiled artifacts deleted"),
                Err(err) => warn!(%err, "artifact sweep failed; next one in {} s", interval.as_secs()),
            }
        }
    }

    /// One sweep; returns how many artifacts went.
    pub async fn once(&self) -> Result<usize, String> {
        let mut referenced = self.registry.digests().await.map_err(|e| e.to_string())?;
        referenced.extend(self.versions.digests().await.map_err(|e| e.to_string())?);
        self.artifacts.sweep(&referenced, self.grace).await.map_err(|e| e.to_string())
    }
}
