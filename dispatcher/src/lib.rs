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
//! [`run`] starts both and stops both, and serves the dispatcher's
//! Prometheus metrics ([`flows::metrics`]) on `--metrics-listen`.

pub mod admin;
pub mod config;
pub mod flows;
pub mod health;

use std::future::Future;
use std::sync::Arc;

use async_nats::Client;
use bus::JobQueue;
use flows::metrics::FlowMetrics;
use futures::FutureExt as _;
use protocol::Subjects;
use tokio::sync::OnceCell;

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
    /// The metrics address could not be bound.
    #[error("cannot serve metrics on {address}: {source}")]
    Metrics {
        /// `--metrics-listen`.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
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
    let health = Arc::new(health::Health::default());
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Arc::new(FlowMetrics::new(&mut registry, config.metrics.metrics_max_functions));
    // Dropped when `run` returns, which stops the metrics server.
    let (_stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(address) = config.metrics.metrics_listen {
        let exposition = bus::metrics::Exposition {
            registry: Arc::new(registry),
            refresh: Some(refresh(&config, &client, health.clone(), metrics.clone())),
        };
        let stopped = async move {
            let _ = metrics_stopped.await;
        };
        bus::metrics::spawn_server(address, exposition, stopped)
            .await
            .map_err(|source| DispatcherError::Metrics { address, source })?;
    }
    let reporting =
        admin::Reporting { instance: uuid::Uuid::new_v4().simple().to_string(), health: health.clone() };
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

/// What a scrape reads first: the job stores' depths from JetStream (the
/// queue is opened on the first scrape that finds it set up) and whether a
/// part of this dispatcher stopped.
fn refresh(
    config: &DispatcherConfig,
    client: &Client,
    health: Arc<health::Health>,
    metrics: Arc<FlowMetrics>,
) -> bus::metrics::Refresh {
    let queue = Arc::new(OnceCell::<JobQueue>::new());
    let (client, subjects) = (client.clone(), Subjects::new(&config.subject_prefix));
    Arc::new(move || {
        let (queue, client, subjects) = (queue.clone(), client.clone(), subjects.clone());
        let (health, metrics) = (health.clone(), metrics.clone());
        async move {
            metrics.degraded.set(i64::from(health.ping_answer() != protocol::subjects::PONG));
            let Ok(queue) = queue.get_or_try_init(|| JobQueue::open(&client, subjects)).await else { return };
            match queue.depths().await {
                Ok(depths) => metrics.set_depths(&depths),
                Err(err) => tracing::debug!(%err, "job store depths unreadable for this scrape"),
            }
        }
        .boxed()
    })
}
