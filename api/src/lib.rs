//! The HTTP front door.
//!
//! The api turns HTTP calls into NATS requests and NATS replies into HTTP
//! responses. It never touches S3 or Wasmtime: exec requests go to executors
//! on `<prefix>.exec.<bucket>.<function>`, bucket and file commands go to
//! dispatchers on `<prefix>.admin.<command>`, and component bytes travel
//! through the transfer object store. So it stays thin, and any number of api
//! processes can front one platform.

pub mod auth;
pub mod bus_client;
pub mod config;
pub mod deployed;
pub mod error;
pub mod metrics;
pub mod nats_guard;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod state;
pub mod timeouts;

use std::future::Future;

pub use config::ApiConfig;
pub use error::ApiError;
pub use state::AppState;

/// Why the api could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A serving thread's NATS connection could not be set up (e.g. its
    /// credentials file is unreadable).
    #[error("a serving thread cannot connect to NATS: {0}")]
    Connect(#[from] bus::ConnectError),
    /// A serving thread or its runtime could not be started.
    #[error("cannot start a serving thread: {0}")]
    ServeThread(std::io::Error),
    /// A serving thread ended while the api was serving (it panicked).
    #[error("a serving thread ended unexpectedly")]
    ServeThreadEnded,
}

/// Serves HTTP on `config.listen` until `shutdown` resolves.
pub async fn run(
    config: ApiConfig,
    client: async_nats::Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|source| ServeError::Bind { addr: config.listen.clone(), source })?;
    serve(listener, config, client, shutdown).await
}

/// Serves HTTP on an already bound listener (tests bind port 0 first).
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ApiConfig,
    client: async_nats::Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let limits = config.server_limits();
    let (nats, thread_count) = (config.nats.clone(), config.serve_threads());
    let state = AppState::new(config, client)?;
    let threads = server::ServeThreads::start(&state, &nats, thread_count, limits).await?;
    tracing::info!(addr = ?listener.local_addr().ok(), serve_threads = thread_count, "api listening");
    let shutdown = async move {
        shutdown.await;
        state.stop();
    };
    server::serve(listener, threads, limits, shutdown).await
}
