//! Api configuration: one struct, flags with environment fallbacks.

use std::time::Duration;

/// Everything an api process needs to know.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "faas-api", about = "HTTP front door of wasm-faas")]
pub struct ApiConfig {
    /// NATS server(s) to connect to.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Subject prefix shared by every role of one platform.
    #[arg(long, env = "FAAS_SUBJECT_PREFIX", default_value = protocol::subjects::DEFAULT_PREFIX)]
    pub subject_prefix: String,
    /// Address to serve HTTP on.
    #[arg(long, env = "API_LISTEN", default_value = "0.0.0.0:3000")]
    pub listen: String,
    /// Largest component upload, in bytes.
    #[arg(long, env = "FAAS_MAX_UPLOAD_BYTES", default_value_t = 64 << 20)]
    pub max_upload_bytes: usize,
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
}

impl ApiConfig {
    /// Defaults, for tests and embedding.
    pub fn local(nats_url: impl Into<String>) -> Self {
        Self {
            nats_url: nats_url.into(),
            subject_prefix: protocol::subjects::DEFAULT_PREFIX.into(),
            listen: "127.0.0.1:0".into(),
            max_upload_bytes: 64 << 20,
            exec_wait_secs: 30,
            pipeline_wait_secs: 120,
            admin_wait_secs: 120,
        }
    }

    /// Exec reply wait.
    pub fn exec_wait(&self) -> Duration {
        Duration::from_secs(self.exec_wait_secs)
    }

    /// Pipeline reply wait.
    pub fn pipeline_wait(&self) -> Duration {
        Duration::from_secs(self.pipeline_wait_secs)
    }

    /// Admin reply wait.
    pub fn admin_wait(&self) -> Duration {
        Duration::from_secs(self.admin_wait_secs)
    }
}
