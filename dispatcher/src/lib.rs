//! The dispatcher: everything on the platform that is not the HTTP front door
//! and not running a function.
//!
//! It is two services in one process, each in its own module:
//! - [`admin`]: bucket, function, trigger and pipeline commands. The only
//!   role that writes to S3; it checks every upload is a runnable component
//!   (`engine::compile_checked`) and precompiles it before storing it.
//! - [`flows`]: work that is more than one call: asynchronous jobs, event
//!   triggers and pipelines, all run by calling executors over the bus.
//!
//! [`run`] starts both and stops both.

pub mod admin;
pub mod config;
pub mod flows;
pub mod health;

use std::future::Future;

use async_nats::Client;
use futures::FutureExt as _;

pub use config::{CallbackSettings, DispatcherConfig, FlowSettings, JobSettings};

/// Why the dispatcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum DispatcherError {
    /// Subscribing on NATS failed.
    #[error("NATS subscription failed: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    /// A setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The trigger store could not be followed.
    #[error("cannot follow the triggers: {0}")]
    Triggers(#[from] bus::DefinitionError),
    /// The callback settings are unusable.
    #[error("callbacks: {0}")]
    Callbacks(#[from] flows::callbacks::CallbackSetupError),
    /// The NATS micro service could not be registered.
    #[error(transparent)]
    Service(#[from] bus::ServiceError),
}

/// Serves admin commands, jobs, triggers and pipelines until `shutdown`
/// resolves, then lets what is running finish.
///
/// Both halves subscribe before either serves, so once a dispatcher answers
/// the readiness ping (the admin half does) its pipeline subscription exists
/// too.
pub async fn run(
    config: DispatcherConfig,
    client: Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DispatcherError> {
    let shutdown = shutdown.shared();
    let health = std::sync::Arc::new(health::Health::default());
    let metrics = std::sync::Arc::new(flows::metrics::FlowMetrics::default());
    let reporting = admin::Reporting {
        instance: uuid::Uuid::new_v4().simple().to_string(),
        health: health.clone(),
        metrics: metrics.clone(),
    };
    let Some(admin) = admin::Admin::start(&config, &client, reporting, shutdown.clone()).await? else {
        return Ok(());
    };
    let Some(flows) = flows::Flows::start(&config, &client, health, metrics, shutdown.clone()).await? else {
        return Ok(());
    };
    // Every store exists by now (created by whoever came first, with the
    // default caps): the operator's caps win.
    let layout =
        bus::JetStreamLayout::new(&protocol::Subjects::new(&config.subject_prefix), config.nats.js_replicas);
    config.stores.apply(&client, &layout).await;
    futures::join!(admin.serve(shutdown.clone()), flows.serve(shutdown));
    Ok(())
}
