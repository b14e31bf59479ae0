//! Dispatcher configuration: one struct, flags with environment fallbacks.

use storage::S3Config;

/// Everything a dispatcher process needs to know.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "faas-dispatcher", about = "Serves wasm-faas bucket and function commands")]
pub struct DispatcherConfig {
    /// NATS server(s) to connect to.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Subject prefix shared by every role of one platform.
    #[arg(long, env = "FAAS_SUBJECT_PREFIX", default_value = protocol::subjects::DEFAULT_PREFIX)]
    pub subject_prefix: String,
    /// Where components are stored.
    #[command(flatten)]
    pub s3: S3Config,
    /// Largest component accepted, in bytes.
    #[arg(long, env = "FAAS_MAX_COMPONENT_BYTES", default_value_t = 64 << 20)]
    pub max_component_bytes: u64,
    /// How long validating (compiling) an upload may take, in seconds.
    #[arg(long, env = "FAAS_VALIDATE_TIMEOUT_SECS", default_value_t = 60)]
    pub validate_timeout_secs: u64,
    /// Secret shared with the executors (16+ characters) that signs the
    /// precompiled artifact stored at each upload. Unset: nothing is shared.
    #[arg(long, env = "FAAS_ARTIFACT_KEY", hide_env_values = true)]
    pub artifact_key: Option<String>,
}
