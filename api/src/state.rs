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

/// Shared state, cheap to clone: what every serving thread shares, and the
/// NATS connection this thread's calls and jobs go over.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Inner>,
    calls: Arc<CallConnection>,
}

/// The NATS connection a serving thread sends its exec, pipeline and HTTP
/// function calls and its jobs on (see `server/threads.rs`): opened on that
/// thread, so a call's request and its reply, or a job's stores and their
/// acks, never wake another thread. Everything else (stores, watches,
/// audit) goes over the shared [`Inner::client`].
pub struct CallConnection {
    /// The connection.
    pub client: async_nats::Client,
    /// Exec and pipeline calls over it.
    pub exec: ExecClient,
    /// Whether it is up, for requests in flight.
    pub watch: ConnectionWatch,
    /// The job queue over it, opened on first use.
    jobs: OnceCell<JobQueue>,
}

impl CallConnection {
    fn new(client: async_nats::Client, subjects: Subjects) -> Self {
        Self {
            exec: ExecClient::new(client.clone(), subjects),
            watch: ConnectionWatch::new(client.clone()),
            client,
            jobs: OnceCell::new(),
        }
    }
}

/// The fields behind [`AppState`].
pub struct Inner {
    /// The NATS connection of the shared parts: stores, watches, audit.
    pub client: async_nats::Client,
    /// Subject spellings.
    pub subjects: Subjects,
    /// Settings.
    pub config: ApiConfig,
    /// Request counters.
    pub metrics: Metrics,
    /// Who is calling.
    pub auth: Authenticator,
    /// Where the platform's JetStream state is.
    pub layout: bus::JetStreamLayout,
    /// Which functions are deployed, for job submissions.
    pub deployed: crate::deployed::Deployed,
    transfer: OnceCell<TransferStore>,
    registry: OnceCell<FunctionRegistry>,
    audit: OnceCell<AuditLog>,
    call_logs: OnceCell<CallLogs>,
    /// Set once the api stops: long-lived answers (a followed log) end.
    stopping: watch::Sender<bool>,
    /// The serving threads' connections ([`AppState::with_calls`]), for
    /// readiness.
    call_clients: std::sync::Mutex<Vec<async_nats::Client>>,
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
        let calls = Arc::new(CallConnection::new(client.clone(), subjects.clone()));
        let shared = Arc::new(Inner {
            auth,
            client,
            subjects,
            layout,
            deployed: crate::deployed::Deployed::default(),
            config,
            metrics: Metrics::default(),
            transfer: OnceCell::new(),
            registry: OnceCell::new(),
            audit: OnceCell::new(),
            call_logs: OnceCell::new(),
            stopping: watch::Sender::new(false),
            call_clients: std::sync::Mutex::default(),
        });
        Ok(Self { shared, calls })
    }

    /// The same state with calls and jobs going over `client`: a serving thread's
    /// own connection.
    pub fn with_calls(&self, client: async_nats::Client) -> Self {
        self.shared.call_clients.lock().expect("never poisoned").push(client.clone());
        let calls = Arc::new(CallConnection::new(client, self.subjects.clone()));
        Self { shared: self.shared.clone(), calls }
    }

    /// The connection this state's calls and jobs go over.
    pub fn calls(&self) -> &CallConnection {
        &self.calls
    }

    /// Whether every NATS connection of the api is up: the shared one and
    /// each serving thread's (each connects on its own, after a restart
    /// too).
    pub fn all_connected(&self) -> bool {
        // This state's own call connection is the shared one (`new`) or
        // one of the threads' (`with_calls`): both are counted here.
        let connected = crate::nats_guard::connected;
        connected(&self.client)
            && self.shared.call_clients.lock().expect("never poisoned").iter().all(connected)
    }

    /// The transfer store, opened on first use so the api can start (and
    /// report not-ready) before NATS and JetStream are up.
    pub async fn transfer(&self) -> Result<&TransferStore, bus::TransferError> {
        self.shared
            .transfer
            .get_or_try_init(|| TransferStore::open(&self.shared.client, &self.shared.layout))
            .await
    }
}

impl AppState {
    /// The job queue over this thread's connection, opened on first use:
    /// a dispatcher creates it.
    pub async fn jobs(&self) -> Result<&JobQueue, bus::JobError> {
        self.calls
            .jobs
            .get_or_try_init(|| JobQueue::open(&self.calls.client, self.shared.subjects.clone()))
            .await
    }
}

impl AppState {
    /// The function registry (which functions are deployed), opened on
    /// first use: a dispatcher creates it.
    pub async fn registry(&self) -> Result<&FunctionRegistry, bus::RegistryError> {
        self.shared
            .registry
            .get_or_try_init(|| FunctionRegistry::open(&self.shared.client, &self.shared.layout))
            .await
    }
}

impl AppState {
    /// The kept audit trail, opened on first use: a dispatcher creates it.
    pub async fn audit(&self) -> Result<&AuditLog, bus::StoreError> {
        self.shared.audit.get_or_try_init(|| AuditLog::open(&self.shared.client, &self.shared.layout)).await
    }
}

impl AppState {
    /// The kept call logs, opened on first use: a dispatcher creates them.
    pub async fn call_logs(&self) -> Result<&CallLogs, bus::StoreError> {
        self.shared
            .call_logs
            .get_or_try_init(|| {
                CallLogs::open(&self.shared.client, &self.shared.layout, self.shared.subjects.clone())
            })
            .await
    }

    /// Tells long-lived answers that the api stops, so that the server's
    /// graceful shutdown does not wait for them forever.
    pub fn stop(&self) {
        self.shared.stopping.send_replace(true);
    }

    /// Resolves once the api stops.
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stopping = self.shared.stopping.subscribe();
        async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.shared
    }
}
