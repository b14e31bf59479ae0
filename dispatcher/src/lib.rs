//! The dispatcher: bucket and function commands against S3.
//!
//! Dispatchers serve `<prefix>.admin.>` in one queue group. They are the only
//! role that writes to S3: an upload is staged by the api in the NATS transfer
//! object store, checked here to be a real faas component
//! ([`validate::ComponentValidator`]), then stored. Downloads travel the other
//! way through the same object store (`bus::TransferStore`).
//!
//! Dispatchers also move work that is not one call: asynchronous jobs
//! ([`jobs`]), event triggers ([`triggers`]) and pipelines ([`pipelines`]),
//! all of it by calling executors over the bus ([`bus::ExecClient`]).

pub mod config;
mod definitions;
pub mod handler;
pub mod jobs;
pub mod metrics;
pub mod pipelines;
pub mod server;
pub mod triggers;
pub mod validate;

pub use config::{DispatcherConfig, FlowSettings, JobSettings};
pub use server::{DispatcherError, run};
