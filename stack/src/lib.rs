//! Test helpers and the local stack for wasm-faas.
//!
//! The services talk to each other through NATS and keep functions in S3, so
//! every integration test, the benchmark and the local `faas-local` binary
//! need the same pieces: a throwaway nats-server (or a cluster of three), an in-process S3 server,
//! built guest components, the services' environment, readiness polling,
//! supervised child processes and the check of their `--help`. Keeping them here means the service crates
//! only dev-depend on one place, and this crate never depends on them.

pub mod guests;
pub mod help;
pub mod nats;
pub mod nats_cluster;
pub mod ports;
pub mod process;
pub mod s3;
pub mod services;
pub mod tracing;

pub use nats::NatsServer;
pub use nats_cluster::NatsCluster;

/// Makes ring the process's TLS crypto provider, which every `reqwest`
/// client of the workspace needs before it is built (reqwest is built with
/// `rustls-no-provider`, to keep a second crypto library out). Calling it
/// again, or after someone else installed one, changes nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
pub use s3::{ACCESS_KEY, S3Server, SECRET_KEY};
