//! `wasi:blobstore@0.2.0-draft` over the S3 store: a function's containers
//! are prefixes under its own bucket's [`protocol::capabilities::BLOB_PREFIX`].
//!
//! TODO(blobs helper): the bindings, the backend and the host functions.

use storage::S3Config;
use wasmtime::component::Linker;

use super::CapabilityView;

/// The S3 client blobs go through.
pub struct BlobBackend {}

impl BlobBackend {
    /// A backend on the executor's S3 store.
    pub fn new(_s3: &S3Config) -> Self {
        Self {}
    }
}

/// Links `wasi:blobstore`.
pub fn add_to_linker<T: Send + 'static>(
    _linker: &mut Linker<T>,
    _view: fn(&mut T) -> CapabilityView<'_>,
) -> wasmtime::Result<()> {
    Ok(())
}
