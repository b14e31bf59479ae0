//! Api configuration: one struct, flags with environment fallbacks.

use std::path::PathBuf;
use std::time::Duration;

use crate::server::ServerLimits;
use crate::timeouts::BodyDeadlines;

/// Everything an api process needs to know.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "faas-api", about = "HTTP front door of wasm-faas")]
pub struct ApiConfig {
    /// How to reach NATS.
    #[command(flatten)]
    pub nats: bus::NatsOptions,
    /// Subject prefix shared by every role of one platform.
    #[arg(long, env = "FAAS_SUBJECT_PREFIX", default_value = protocol::subjects::DEFAULT_PREFIX)]
    pub subject_prefix: String,
    /// Address to serve HTTP on.
    #[arg(long, env = "API_LISTEN", default_value = "0.0.0.0:3000")]
    pub listen: String,
    /// Largest component upload, in bytes.
    #[arg(long, env = "FAAS_MAX_UPLOAD_BYTES", default_value_t = 64 << 20)]
    pub max_upload_bytes: usize,
    /// Largest request body of an HTTP function call (`/run`), in bytes
    /// (413 `payload_too_large` beyond, counted while it arrives). A body
    /// that does not fit in one NATS message is staged in the transfer
    /// store.
    #[arg(long, env = "FAAS_RUN_MAX_BODY_BYTES", default_value_t = 16 << 20)]
    pub run_max_body_bytes: usize,
    /// How long to wait for an executor's reply, in seconds; keep it above
    /// the executors' per-call timeout so theirs fires first.
    #[arg(long, env = "FAAS_EXEC_WAIT_SECS", default_value_t = 30)]
    pub exec_wait_secs: u64,
    /// How long to wait for a pipeline's final output, in seconds (all its
    /// steps together).
    #[arg(long, env = "FAAS_PIPELINE_WAIT_SECS", default_value_t = 120)]
    pub pipeline_wait_secs: u64,
    /// How long to wait for a dispatcher's reply, in seconds (uploads are
    /// compiled before they are stored).
    #[arg(long, env = "FAAS_ADMIN_WAIT_SECS", default_value_t = 120)]
    pub admin_wait_secs: u64,
    /// How long a client may take to send a request's headers, in seconds;
    /// past it the connection is closed. On a kept-alive connection the
    /// clock starts when the previous response is sent.
    #[arg(long, env = "FAAS_HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// How long a request body may go without a byte arriving, in seconds
    /// (408 `request_timeout`).
    #[arg(long, env = "FAAS_HTTP_BODY_IDLE_TIMEOUT_SECS", default_value_t = 10)]
    pub body_idle_timeout_secs: u64,
    /// How long reading a whole request body may take, in seconds (408
    /// `request_timeout`); 300 s lets a 64 MiB upload arrive at 2 Mbit/s.
    #[arg(long, env = "FAAS_HTTP_BODY_TIMEOUT_SECS", default_value_t = 300)]
    pub body_timeout_secs: u64,
    /// How long a kept-alive connection may sit with no request in progress
    /// before it is closed, in seconds.
    #[arg(long, env = "FAAS_HTTP_IDLE_TIMEOUT_SECS", default_value_t = 5)]
    pub idle_timeout_secs: u64,
    /// Most client connections served at once; further ones wait in the
    /// kernel's accept queue until one closes.
    #[arg(long, env = "FAAS_HTTP_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Threads that serve HTTP connections, each with a single-threaded
    /// runtime and a NATS connection of its own for the calls, so a call
    /// never wakes a second thread. `0`: one per CPU (the cgroup's quota
    /// counted). At most 256.
    #[arg(long, env = "FAAS_API_SERVE_THREADS", default_value_t = 0, value_parser = bus::thread_count_parser())]
    pub serve_threads: usize,
    /// `on`: every route but the probes needs `Authorization: Bearer
    /// <token>`. `off` lets anyone do anything: for tests of other
    /// features only.
    #[arg(long, env = "FAAS_AUTH", value_enum, default_value_t = AuthSetting::On)]
    pub auth: AuthSetting,
    /// The bootstrap admin token (at least 32 characters). Prefer
    /// `--admin-token-file`: a flag's value is visible to other users.
    #[arg(long, env = "FAAS_ADMIN_TOKEN", hide = true, hide_env_values = true)]
    pub admin_token: Option<String>,
    /// A file holding the bootstrap admin token (at least 32 characters).
    #[arg(long, env = "FAAS_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Whether `/ready` and `/metrics` answer without a token (`/health`
    /// always does); `false`: they need the `admin` scope.
    #[arg(long, env = "FAAS_PUBLIC_PROBES", default_value_t = true, action = clap::ArgAction::Set)]
    pub public_probes: bool,
    /// Seconds between writes of the tokens' last use to the shared
    /// `faas-token-usage` bucket (at most one write per token each time):
    /// how old a use seen by another api may be in `GET /tokens`.
    #[arg(long, env = "FAAS_TOKEN_USAGE_FLUSH_SECS", default_value_t = 60)]
    pub token_usage_flush_secs: u64,
    /// The platform key function secrets are sealed with: 32 bytes as 64
    /// hex digits or base64, the same on every api and executor. Unset: a
    /// configuration with secrets is refused (503 `unavailable`).
    #[arg(long, env = "FAAS_SECRETS_KEY", hide_env_values = true)]
    pub secrets_key: Option<bus::SecretsKey>,
}

/// Whether the api checks tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthSetting {
    /// Bearer tokens on every route but the probes.
    On,
    /// No checks: for tests of other features only.
    Off,
}

/// The configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The admin token file could not be read.
    #[error("cannot read the admin token file {path}: {source}")]
    AdminTokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bootstrap admin token is too short to be a secret.
    #[error(transparent)]
    WeakAdminToken(#[from] crate::auth::WeakAdminToken),
}

impl ApiConfig {
    /// Defaults, for tests and embedding.
    pub fn local(nats_url: impl Into<String>) -> Self {
        Self {
            nats: bus::NatsOptions::url(nats_url),
            subject_prefix: protocol::subjects::DEFAULT_PREFIX.into(),
            listen: "127.0.0.1:0".into(),
            max_upload_bytes: 64 << 20,
            run_max_body_bytes: 16 << 20,
            exec_wait_secs: 30,
            pipeline_wait_secs: 120,
            admin_wait_secs: 120,
            header_timeout_secs: 10,
            body_idle_timeout_secs: 10,
            body_timeout_secs: 300,
            idle_timeout_secs: 5,
            max_connections: 1024,
            serve_threads: 0,
            // Tests of other features and embedders choose auth themselves.
            auth: AuthSetting::Off,
            admin_token: None,
            admin_token_file: None,
            public_probes: true,
            token_usage_flush_secs: 60,
            secrets_key: None,
        }
    }

    /// How often the tokens' last use is shared (at least every second).
    pub fn token_usage_flush(&self) -> Duration {
        Duration::from_secs(self.token_usage_flush_secs.max(1))
    }

    /// Exec reply wait.
    pub fn exec_wait(&self) -> Duration {
        Duration::from_secs(self.exec_wait_secs)
    }

    /// Pipeline reply wait.
    pub fn pipeline_wait(&self) -> Duration {
        Duration::from_secs(self.pipeline_wait_secs)
    }

    /// How many serving threads to start: `serve_threads`, or one per CPU;
    /// at most [`bus::MAX_THREADS`].
    pub fn serve_threads(&self) -> usize {
        bus::thread_count(self.serve_threads)
    }

    /// What the accept loop enforces. A zero would close every connection
    /// at once, so each limit is at least 1.
    pub fn server_limits(&self) -> ServerLimits {
        let secs = |secs: u64| Duration::from_secs(secs.max(1));
        ServerLimits {
            max_connections: self.max_connections.max(1),
            header_timeout: secs(self.header_timeout_secs),
            idle_timeout: secs(self.idle_timeout_secs),
            body: BodyDeadlines {
                idle: secs(self.body_idle_timeout_secs),
                total: secs(self.body_timeout_secs),
            },
        }
    }

    /// The bootstrap admin token, from the file if one is named.
    pub fn admin_token(&self) -> Result<Option<String>, ConfigError> {
        match &self.admin_token_file {
            Some(path) => std::fs::read_to_string(path)
                .map(|token| Some(token.trim().to_owned()))
                .map_err(|source| ConfigError::AdminTokenFile { path: path.clone(), source }),
            None => Ok(self.admin_token.clone()),
        }
    }

    /// Admin reply wait.
    pub fn admin_wait(&self) -> Duration {
        Duration::from_secs(self.admin_wait_secs)
    }
}
