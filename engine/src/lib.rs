//! Wasmtime as the platform compiles it, and the store of compiled artifacts.
//!
//! Two roles compile components: the dispatcher, to check an upload and to
//! precompile it once, and executors, when no precompiled artifact fits.
//! Their artifacts are only interchangeable if both engines are configured
//! identically, so the compile-relevant settings live here and nowhere else,
//! and every artifact is named by the engine's [`fingerprint`]. Runtime-only
//! settings (the pooling allocator, limits) stay with the executor.

mod artifact;
mod compile;
mod local_artifacts;
mod signature;
mod validate;

use std::hash::{DefaultHasher, Hash, Hasher};

use sha2::{Digest as _, Sha256};

pub use artifact::{ArtifactError, ArtifactStore};
pub use compile::{CompileLimits, CompilePool, CompileRefused};
pub use local_artifacts::LocalArtifacts;
pub use signature::{ArtifactKey, SignatureError};
pub use validate::{
    ComponentValidator, InvalidComponent, ValidComponent, capabilities_of, compile_checked, world_of,
};

/// The compile settings every role uses.
///
/// Epoch interruption is what lets executors time out and preempt guests; it
/// changes the generated code, so the dispatcher must enable it too.
pub fn config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    config
}

/// Core instances one component may hold (its modules plus the shims a
/// toolchain adds: a Rust wasip2 component has a handful).
pub const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Linear memories one component may hold.
pub const MAX_MEMORIES_PER_COMPONENT: u32 = 8;
/// Tables one component may hold.
pub const MAX_TABLES_PER_COMPONENT: u32 = 16;

/// The pooling allocator for `instances` component instances at once, each
/// of the largest shape a component may have (the `MAX_*_PER_COMPONENT`
/// limits). Wasmtime checks a component against these limits when it is
/// compiled or loaded, so the dispatcher's validator, configured with them,
/// refuses at upload what no executor could run.
pub fn pooling(instances: u32) -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_stacks(instances)
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .total_core_instances(instances.saturating_mul(MAX_CORE_INSTANCES_PER_COMPONENT))
        .total_memories(instances.saturating_mul(MAX_MEMORIES_PER_COMPONENT))
        .total_tables(instances.saturating_mul(MAX_TABLES_PER_COMPONENT));
    pool
}

/// Names the engine's compatibility class: the Wasmtime version, target and
/// every setting that changes generated code. Two engines with the same
/// fingerprint can load each other's artifacts.
pub fn fingerprint(engine: &wasmtime::Engine) -> String {
    // SipHash with fixed keys: stable for one build of the platform, which is
    // all that must agree (every role of a deployment runs the same build).
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The content digest that names a component everywhere: sha256, lowercase hex.
pub fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_hex() {
        assert_eq!(digest(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn fingerprints_ignore_runtime_only_settings_and_see_compile_ones() {
        let plain = wasmtime::Engine::new(&config()).unwrap();
        let mut pooled = config();
        pooled.allocation_strategy(wasmtime::PoolingAllocationConfig::default());
        let pooled = wasmtime::Engine::new(&pooled).unwrap();
        assert_eq!(fingerprint(&plain), fingerprint(&pooled), "the pooling allocator is runtime-only");

        let mut other = wasmtime::Config::new();
        other.epoch_interruption(false);
        let other = wasmtime::Engine::new(&other).unwrap();
        assert_ne!(fingerprint(&plain), fingerprint(&other), "epoch checks change the code");
    }
}
