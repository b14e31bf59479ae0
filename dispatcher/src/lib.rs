//! The dispatcher: bucket and function commands against S3.
//!
//! Dispatchers serve `<prefix>.admin.>` in one queue group. They are the only
//! role that writes to S3: an upload is staged by the api in the NATS transfer
//! object store, checked here to be a real faas component
//! ([`validate::ComponentValidator`]), then stored. Downloads travel the other
//! way through the same object store (`bus::TransferStore`).

pub mod config;
pub mod handler;
pub mod jobs;
pub mod server;
pub mod validate;

pub use config::{DispatcherConfig, JobSettings};
pub use server::{DispatcherError, run};
