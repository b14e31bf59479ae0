//! Executor configuration: one struct, flags with environment fallbacks.

use std::time::Duration;

use storage::S3Config;

/// Everything an executor process needs to know.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "faas-executor", about = "Runs wasm-faas functions from NATS exec subjects")]
pub struct ExecutorConfig {
    /// NATS server(s) to connect to.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Subject prefix shared by every role of one platform.
    #[arg(long, env = "FAAS_SUBJECT_PREFIX", default_value = protocol::subjects::DEFAULT_PREFIX)]
    pub subject_prefix: String,
    /// Where components are stored.
    #[command(flatten)]
    pub s3: S3Config,
    /// Per-call limits.
    #[command(flatten)]
    pub limits: ExecLimits,
    /// Calls run at once.
    #[arg(long, env = "FAAS_EXEC_CONCURRENCY", default_value_t = 16)]
    pub concurrency: usize,
    /// Requests accepted beyond `concurrency` that wait for a slot. With
    /// both full the executor leaves the queue group until one frees, so
    /// NATS hands new requests to other executors (or, when all are full,
    /// answers no-responders, which callers see as 503).
    #[arg(long, env = "FAAS_EXEC_BACKLOG", default_value_t = 64)]
    pub backlog: usize,
    /// Compiled components kept in memory (least recently used evicted).
    #[arg(long, env = "FAAS_EXEC_CACHE_ENTRIES", default_value_t = 128)]
    pub cache_entries: usize,
    /// Download and compile the component on every call, as the original
    /// platform did: for comparison only, never in production.
    #[arg(long, env = "FAAS_EXEC_COMPILE_EVERY_CALL", default_value_t = false)]
    pub compile_every_call: bool,
    /// Secret shared by dispatchers and executors (16+ characters) that signs
    /// precompiled artifacts. Unset: no shared artifacts; each executor
    /// compiles what it has not compiled before.
    #[arg(long, env = "FAAS_ARTIFACT_KEY", hide_env_values = true)]
    pub artifact_key: Option<String>,
}

/// Limits applied to every call.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecLimits {
    /// Wall-clock limit of one call, in milliseconds.
    #[arg(long = "exec-timeout-ms", env = "FAAS_EXEC_TIMEOUT_MS", default_value_t = ExecLimits::DEFAULT.timeout_ms)]
    pub timeout_ms: u64,
    /// Linear-memory cap of one call, in MiB.
    #[arg(long = "exec-memory-mib", env = "FAAS_EXEC_MEMORY_MIB", default_value_t = ExecLimits::DEFAULT.memory_mib)]
    pub memory_mib: usize,
    /// Largest output a function may return, in bytes (also capped by the
    /// NATS server's max_payload).
    #[arg(long = "exec-max-output", env = "FAAS_EXEC_MAX_OUTPUT", default_value_t = ExecLimits::DEFAULT.max_output)]
    pub max_output: usize,
    /// Most bytes of stdout, and of stderr, captured per call.
    #[arg(long = "exec-max-log", env = "FAAS_EXEC_MAX_LOG", default_value_t = ExecLimits::DEFAULT.max_log)]
    pub max_log: usize,
}

impl Default for ExecLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl ExecLimits {
    /// The defaults, written once: the flags' defaults and `Default` both
    /// read them.
    pub const DEFAULT: Self =
        Self { timeout_ms: 10_000, memory_mib: 128, max_output: 1 << 20, max_log: 256 << 10 };

    /// The wall-clock limit.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The memory cap in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory_mib << 20
    }
}
