//! Host capabilities: key-value ([`keyvalue`]), blobs ([`blobstore`]) and
//! messaging ([`messaging`]) offered to guests through standard WIT
//! interfaces, each answered against the calling function's own bucket and
//! each off unless the function's configuration grants it
//! ([`protocol::capabilities`]).
//!
//! The backends (NATS, JetStream key-value, S3) are shared by every call
//! ([`CapabilityHosts`], built once per executor); what one call may still
//! do (its grants, what it has used of the per-call limits, the request id
//! and hops that travel on its publishes) is [`CallCapabilities`], which
//! lives in the call's store and dies with it. Every host call runs inside
//! the call's wall-clock limit: the runtime drops the whole call at its
//! deadline, a backend call included, so a slow backend holds no slot past
//! it.
//!
//! A component importing a capability it was not granted never starts: the
//! runtime refuses the call first ([`check_grants`],
//! `capability_not_granted`).

pub mod blobstore;
pub mod keyvalue;
pub mod messaging;
mod metrics;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use protocol::{Capability, CapabilityGrants, FunctionRef, Subjects};
use wasmtime::component::{Linker, ResourceTable};

pub use metrics::CapabilityMetrics;

use crate::error::ExecError;

/// Per-call limits on host capabilities: a call past one gets a
/// guest-visible error from the capability, not a failed call.
#[derive(Debug, Clone, clap::Args)]
pub struct CapabilityLimits {
    /// Distinct keys one call may read or write through `wasi:keyvalue`.
    #[arg(long = "kv-max-keys-per-call", env = "FAAS_KV_MAX_KEYS_PER_CALL", default_value_t = CapabilityLimits::DEFAULT.kv_max_keys_per_call)]
    pub kv_max_keys_per_call: usize,
    /// Largest value one key may hold, in bytes.
    #[arg(long = "kv-max-value-bytes", env = "FAAS_KV_MAX_VALUE_BYTES", default_value_t = CapabilityLimits::DEFAULT.kv_max_value_bytes)]
    pub kv_max_value_bytes: usize,
    /// Blob bytes one call may read, in total.
    #[arg(long = "blob-max-read-bytes", env = "FAAS_BLOB_MAX_READ_BYTES", default_value_t = CapabilityLimits::DEFAULT.blob_max_read_bytes)]
    pub blob_max_read_bytes: u64,
    /// Blob bytes one call may write, in total.
    #[arg(long = "blob-max-write-bytes", env = "FAAS_BLOB_MAX_WRITE_BYTES", default_value_t = CapabilityLimits::DEFAULT.blob_max_write_bytes)]
    pub blob_max_write_bytes: u64,
    /// Messages one call may publish (requests included).
    #[arg(long = "messaging-max-publishes", env = "FAAS_MESSAGING_MAX_PUBLISHES", default_value_t = CapabilityLimits::DEFAULT.messaging_max_publishes)]
    pub messaging_max_publishes: usize,
}

impl CapabilityLimits {
    /// The defaults, written once.
    pub const DEFAULT: Self = Self {
        kv_max_keys_per_call: 1_000,
        kv_max_value_bytes: 1 << 20,
        blob_max_read_bytes: 64 << 20,
        blob_max_write_bytes: 64 << 20,
        messaging_max_publishes: 100,
    };
}

impl Default for CapabilityLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The capability backends every call shares: built once per executor.
pub struct CapabilityHosts {
    /// The platform's subjects (messaging refuses them).
    pub subjects: Subjects,
    /// Per-call limits.
    pub limits: CapabilityLimits,
    /// Calls, errors and bytes per capability.
    pub metrics: Arc<CapabilityMetrics>,
    /// `wasi:keyvalue` over the `<p>-kv` JetStream bucket.
    pub keyvalue: keyvalue::KeyValueBackend,
    /// `wasi:blobstore` over S3.
    pub blobs: blobstore::BlobBackend,
    /// `wasmcloud:messaging` over NATS.
    pub messaging: messaging::MessagingBackend,
}

/// Who is calling: what a capability answers against and what travels on
/// its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallIdentity {
    /// The function running; its bucket scopes every capability.
    pub function: FunctionRef,
    /// The call's request id (`Faas-Request-Id` on publishes).
    pub request_id: String,
    /// `Faas-Hops` of the message that started the call.
    pub hops: u32,
}

/// What one call has used of its per-call limits.
#[derive(Debug, Default)]
pub struct CallUsage {
    /// Distinct keys touched (`<store>/<key>`).
    pub keys: BTreeSet<String>,
    /// Blob bytes read.
    pub blob_read: u64,
    /// Blob bytes written: charged by the output streams of the call's
    /// outgoing values as the guest writes (they live outside the store),
    /// hence shared.
    pub blob_written: Arc<AtomicU64>,
    /// Messages published or requested.
    pub publishes: usize,
}

/// One call's capability state, in its store.
#[derive(Default)]
pub struct CallCapabilities {
    /// The shared backends; `None` where the runtime runs without them (unit
    /// tests, the in-process benchmark): every capability call then fails.
    pub hosts: Option<Arc<CapabilityHosts>>,
    /// Who calls; `None` with `hosts`.
    pub identity: Option<CallIdentity>,
    /// What the call may use.
    pub grants: CapabilityGrants,
    /// What it has used.
    pub usage: CallUsage,
    /// When the call's wall-clock limit ends: a host call that waits (a
    /// messaging request) waits no longer. `None`: no limit known.
    pub deadline: Option<std::time::Instant>,
}

/// What a capability's host functions see of the call's store: its
/// capability state and the resource table it shares with WASI.
pub struct CapabilityView<'a> {
    /// The call's capability state.
    pub call: &'a mut CallCapabilities,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

/// The `wasmtime` data marker for host functions over [`CapabilityView`].
pub struct CapabilityData;

impl wasmtime::component::HasData for CapabilityData {
    type Data<'a> = CapabilityView<'a>;
}

/// Links every capability's interfaces into `linker`; `view` takes a call's
/// [`CapabilityView`] out of its store state.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> CapabilityView<'_>,
) -> Result<(), ExecError> {
    let failed = |what: &str, e: wasmtime::Error| ExecError::Internal(format!("linking {what}: {e:#}"));
    keyvalue::add_to_linker(linker, view).map_err(|e| failed("wasi:keyvalue", e))?;
    blobstore::add_to_linker(linker, view).map_err(|e| failed("wasi:blobstore", e))?;
    messaging::add_to_linker(linker, view).map_err(|e| failed("wasmcloud:messaging", e))?;
    Ok(())
}

/// Refuses a call whose component imports a capability `grants` do not
/// grant, naming the interface and how to grant it.
pub fn check_grants(
    imports: &BTreeSet<Capability>,
    grants: &CapabilityGrants,
    function: Option<&FunctionRef>,
) -> Result<(), ExecError> {
    let Some(missing) = imports.iter().find(|capability| !grants.grants(**capability)) else {
        return Ok(());
    };
    let (name, path) = match function {
        Some(f) => (f.to_string(), format!("/config/{}/{}", f.bucket, f.function)),
        None => ("the function".to_owned(), "/config/{bucket}/{function}".to_owned()),
    };
    let how = match missing {
        Capability::Messaging => r#"{"capabilities": {"messaging": {"publish": ["<subject>"]}}}"#.to_owned(),
        other => format!(r#"{{"capabilities": {{"{other}": "write"}}}}"#),
    };
    Err(ExecError::CapabilityNotGranted {
        capability: *missing,
        message: format!(
            "{name} imports {} but is not granted {missing}; grant it with PUT {path} {how} \
             (or a bucket-wide default)",
            missing.package()
        ),
    })
}

#[cfg(test)]
mod tests {
    use protocol::Access;

    use super::*;

    #[test]
    fn a_call_is_refused_naming_the_first_capability_not_granted() {
        let function = FunctionRef::new("bk1", "counter").unwrap();
        let imports: BTreeSet<Capability> = [Capability::KeyValue, Capability::Messaging].into();
        let err = check_grants(&imports, &CapabilityGrants::default(), Some(&function)).unwrap_err();
        assert_eq!(err.code(), protocol::ErrorCode::CapabilityNotGranted);
        let message = err.to_string();
        assert!(
            message.contains("wasi:keyvalue") && message.contains("PUT /config/bk1/counter"),
            "{message}"
        );
        let kv = CapabilityGrants { keyvalue: Access::Read, ..Default::default() };
        let err = check_grants(&imports, &kv, Some(&function)).unwrap_err().to_string();
        assert!(err.contains("wasmcloud:messaging"), "{err}");
        check_grants(&BTreeSet::from([Capability::KeyValue]), &kv, Some(&function)).unwrap();
        check_grants(&BTreeSet::new(), &CapabilityGrants::default(), None).unwrap();
    }
}
