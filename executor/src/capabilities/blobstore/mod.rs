//! `wasi:blobstore@0.2.0-draft` (the draft wasmCloud implements) over the
//! S3 store: a function's containers are prefixes under its own bucket's
//! [`protocol::capabilities::BLOB_PREFIX`], so it never reaches a function
//! component, the platform's other objects or another bucket.
//!
//! Layout in the S3 bucket of platform bucket `b`: object `<c>/<name>` is
//! `.faas/blobs/<c>/<name>`, container `<c>` exists while the empty marker
//! `.faas/blobs/.containers/<c>` does (`names.rs` decides what a name may
//! be). Bodies are buffered in memory within the call's caps
//! (`values.rs`); S3 is reached only through `store.rs`.
//!
//! Every failure (not granted for writes, a cap reached, a missing object,
//! a bad name, S3 down) is the interface's `error` string returned to the
//! guest, never a trap.

mod host;
mod names;
mod store;
mod values;

use storage::S3Config;
use wasmtime::component::Linker;

use super::{CapabilityData, CapabilityView};

/// Host bindings of `wasi:blobstore`, its `wasi:io` streams taken from WASI.
mod bindings {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasi:blobstore/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:blobstore/container.container": crate::capabilities::blobstore::names::Container,
            "wasi:blobstore/container.stream-object-names": crate::capabilities::blobstore::host::ObjectNames,
            "wasi:blobstore/types.incoming-value": crate::capabilities::blobstore::values::IncomingValue,
            "wasi:blobstore/types.outgoing-value": crate::capabilities::blobstore::values::OutgoingValue,
        },
    });
}

/// The S3 client blobs go through, shared by every call.
pub struct BlobBackend {
    s3: store::BlobS3,
}

impl BlobBackend {
    /// A backend on the executor's S3 store.
    pub fn new(s3: &S3Config) -> Self {
        Self { s3: store::BlobS3::new(s3.client()) }
    }
}

/// Links `wasi:blobstore` (`types`, `container`, `blobstore`); `wasi:io` is
/// WASI's, already linked.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> CapabilityView<'_>,
) -> wasmtime::Result<()> {
    use bindings::wasi::blobstore::{blobstore, container, types};
    types::add_to_linker::<T, CapabilityData>(linker, view)?;
    container::add_to_linker::<T, CapabilityData>(linker, view)?;
    blobstore::add_to_linker::<T, CapabilityData>(linker, view)?;
    Ok(())
}
