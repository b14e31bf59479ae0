//! What every handler shares.

use std::sync::Arc;

use bus::audit::AuditLog;
use bus::logs::CallLogs;
use bus::{ExecClient, FunctionRegistry, JobQueue, TransferStore};
use protocol::Subjects;
use tokio::sync::{OnceCell, watch};

use crate::auth::Authenticator;
use crate::config::{ApiConfig, AuthSetting, ConfigError};
use crate::metrics::Metrics;
use crate::nats_guard::ConnectionWatch;

/// Shared state, cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The fields behind [`AppState`].
pub struct Inner {
    /// The NATS connection.
    pub client: async_nats::Client,
    /// Subject spellings.
    pub subjects: Subjects,
    /// Exec and pipeline calls.
    pub exec: ExecClient,
    /// Settings.
    pub config: ApiConfig,
    /// Request counters.
    pub metrics: Metrics,
    /// Who is calling.
    pub auth: Authenticator,
    /// Whether NATS is reachable, for requests in flight.
    pub connection: ConnectionWatch,
    /// Where the platform's JetStream state is.
    pub layout: bus::JetStreamLayout,
    /// Which functions are deployed, for job submissions.
    pub deployed: crate::deployed::Deployed,
    transfer: OnceCell<TransferStore>,
    jobs: OnceCell<JobQueue>,
    registry: OnceCell<FunctionRegistry>,
    audit: OnceCell<AuditLog>,
    call_logs: OnceCell<CallLogs>,
    /// Set once the api stops: long-lived answers (a followed log) end.
    stopping: watch::Sender<bool>,
}

impl AppState {
    /// State over a NATS connection.
    pub fn new(config: ApiConfig, client: async_nats::Client) -> Result<Self, ConfigError> {
        let subjects = Subjects::new(&config.subject_prefix);
        let layout = bus::JetStreamLayout::new(&subjects, config.nats.js_replicas);
        let admin_token = config.admin_token()?;
        let auth = Authenticator::new(
            config.auth == AuthSetting::On,
            admin_token.as_deref(),
            client.clone(),
            layout.clone(),
            config.token_usage_flush(),
        )?;
        Ok(Self(Arc::new(Inner {
            auth,
            exec: ExecClient::new(client.clone(), subjects.clone()),
            connection: ConnectionWatch::new(client.clone()),
            client,
            subjects,
            layout,
            deployed: crate::deployed::Deployed::default(),
            config,
            metrics: Metrics::default(),
            transfer: OnceCell::new(),
            jobs: OnceCell::new(),
            registry: OnceCell::new(),
            audit: OnceCell::new(),
            call_logs: OnceCell::new(),
            stopping: watch::Sender::new(false),
        })))
    }

    /// The transfer store, opened on first use so the api can start (and
    /// report not-ready) before NATS and JetStream are up.
    pub async fn transfer(&self) -> Result<&TransferStore, bus::TransferError> {
        self.0.transfer.get_or_try_init(|| TransferStore::open(&self.0.client, &self.0.layout)).await
    }
}

impl AppState {
    /// The job queue, opened on first use: a dispatcher creates it.
    pub async fn jobs(&self) -> Result<&JobQueue, bus::JobError> {
        self.0.jobs.get_or_try_init(|| JobQueue::open(&self.0.client, self.0.subjects.clone())).await
    }
}

impl AppState {
    /// The function registry (which functions are deployed), opened on
    /// first use: a dispatcher creates it.
    pub async fn registry(&self) -> Result<&FunctionRegistry, bus::RegistryError> {
        self.0.registry.get_or_try_init(|| FunctionRegistry::open(&self.0.client, &self.0.layout)).await
    }
}

impl AppState {
    /// The kept audit trail, opened on first use: a dispatcher creates it.
    pub async fn audit(&self) -> Result<&AuditLog, bus::StoreError> {
        self.0.audit.get_or_try_init(|| AuditLog::open(&self.0.client, &self.0.layout)).await
    }
}

impl AppState {
    /// The kept call logs, opened on first use: a dispatcher creates them.
    pub async fn call_logs(&self) -> Result<&CallLogs, bus::StoreError> {
        self.0
            .call_logs
            .get_or_try_init(|| CallLogs::open(&self.0.client, &self.0.layout, self.0.subjects.clone()))
            .await
    }

    /// Tells long-lived answers that the api stops, so that the server's
    /// graceful shutdown does not wait for them forever.
    pub fn stop(&self) {
        self.0.stopping.send_replace(true);
    }

    /// Resolves once the api stops.
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stopping = self.0.stopping.subscribe();
        async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
