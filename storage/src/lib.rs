//! Functions in S3, for the roles that may touch storage.
//!
//! The dispatcher (bucket and file commands) and the executor (loading
//! components) both talk to S3; this crate is the one place that knows how.
//! It builds the client with every setting explicit (endpoint, region,
//! credentials, path-style), because aws-sdk-s3 otherwise probes for cloud
//! credentials and regions, which stalls for seconds on a closed network. It
//! maps S3's error codes to [`StorageError`] variants a caller can act on.

mod client;
mod store;

pub use client::S3Config;
pub use store::{FunctionStore, StorageError};
