//! Executor configuration: one struct, flags with environment fallbacks.

use std::time::Duration;

use engine::CompileLimits;
use storage::S3Config;

/// Everything an executor process needs to know.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "faas-executor", about = "Runs wasm-faas functions from NATS exec subjects")]
pub struct ExecutorConfig {
    /// How to reach NATS.
    #[command(flatten)]
    pub nats: bus::NatsOptions,
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
    /// Threads that take requests and run calls, each with a NATS
    /// connection and a single-threaded runtime of its own, so a call never
    /// wakes a second thread. `0`: one per CPU (the cgroup's quota counted).
    /// At most 256.
    #[arg(long, env = "FAAS_EXECUTOR_CALL_THREADS", default_value_t = 0, value_parser = bus::thread_count_parser())]
    pub call_threads: usize,
    /// Requests accepted beyond `concurrency` that wait for a slot. With
    /// both full the executor leaves the queue group until one frees, so
    /// NATS hands new requests to other executors (or, when all are full,
    /// answers no-responders, which callers see as 503).
    #[arg(long, env = "FAAS_EXEC_BACKLOG", default_value_t = 64)]
    pub backlog: usize,
    /// Shadow runs (`PUT /file/{b}/{f}/shadow`) at once on this executor,
    /// beside the `concurrency` live calls; a sampled call finding them all
    /// busy is not shadowed (counted as `skipped`).
    #[arg(long, env = "FAAS_SHADOW_CONCURRENCY", default_value_t = 2)]
    pub shadow_concurrency: usize,
    /// Most memory the compiled components kept in memory may weigh, in
    /// bytes (suffixes `KiB`, `MiB`, `GiB` allowed): each weighs its
    /// compiled image plus a fixed allowance; the least recently used are
    /// evicted past it, and one heavier than the whole budget is served but
    /// not kept. Unset: a quarter of the cgroup's memory limit, or of the
    /// machine's memory when there is none.
    #[arg(long, env = "FAAS_CACHE_MAX_BYTES", value_parser = parse_bytes)]
    pub cache_max_bytes: Option<u64>,
    /// Folder of this executor's local copies of the signed precompiled
    /// artifacts it read or made, read before the shared store (checked
    /// the same way). Unset: `faas-executor-artifacts` in the temporary
    /// folder.
    #[arg(long, env = "FAAS_ARTIFACT_CACHE_DIR")]
    pub artifact_cache_dir: Option<std::path::PathBuf>,
    /// Most bytes of local artifact copies kept (least recently used
    /// deleted); `0`: no local copies, every miss reads the shared store.
    #[arg(long, env = "FAAS_ARTIFACT_CACHE_MAX_BYTES", value_parser = parse_bytes, default_value = "1GiB")]
    pub artifact_cache_max_bytes: u64,
    /// Deprecated (use `FAAS_CACHE_MAX_BYTES`): most compiled components
    /// kept in memory whatever they weigh, a cap on top of the byte budget.
    /// Unset: no count cap.
    #[arg(long, env = "FAAS_EXEC_CACHE_ENTRIES")]
    pub cache_entries: Option<usize>,
    /// Download and compile the component on every call, as the original
    /// platform did: for comparison only, never in production.
    #[arg(long, env = "FAAS_EXEC_COMPILE_EVERY_CALL", default_value_t = false)]
    pub compile_every_call: bool,
    /// How compiles after a cache miss are bounded.
    #[command(flatten)]
    pub compile: CompileSettings,
    /// Secret shared by dispatchers and executors (16+ characters) that signs
    /// precompiled artifacts. Unset: no shared artifacts; each executor
    /// compiles what it has not compiled before.
    #[arg(long, env = "FAAS_ARTIFACT_KEY", hide_env_values = true)]
    pub artifact_key: Option<String>,
    /// The platform key function secrets are sealed with (32 bytes as 64
    /// hex digits or base64), the same as the apis'. Unset: calls of
    /// functions that have secrets fail (`unavailable`).
    #[arg(long, env = "FAAS_SECRETS_KEY", hide_env_values = true)]
    pub secrets_key: Option<bus::SecretsKey>,
    /// Prometheus metrics.
    #[command(flatten)]
    pub metrics: bus::metrics::MetricsOptions,
    /// What is published of each call on its log subject.
    #[command(flatten)]
    pub call_logs: CallLogSettings,
    /// Where HTTP functions' outgoing requests may go.
    #[command(flatten)]
    pub http_outgoing: HttpOutgoingSettings,

    /// Keep the input of every failed sync call (at most 1 MiB) for
    /// `POST /calls/{id}/replay`, unless the function's configuration says
    /// otherwise (`keep_inputs`). Default off: inputs may hold personal data.
    #[arg(long, env = "FAAS_KEEP_FAILED_INPUTS", default_value_t = false)]
    pub keep_failed_inputs: bool,

    /// Per-call limits of key-value, blobs and messaging.
    #[command(flatten)]
    pub capabilities: crate::capabilities::CapabilityLimits,
}

impl ExecutorConfig {
    /// How many call threads to start: `call_threads`, or one per CPU; at
    /// most [`bus::MAX_THREADS`].
    pub fn call_threads(&self) -> usize {
        bus::thread_count(self.call_threads)
    }

    /// The component cache's limits: the configured budget, else the
    /// default share of the memory limit (logged with its basis).
    pub fn cache_limits(&self) -> crate::cache::CacheLimits {
        let max_bytes = match self.cache_max_bytes {
            Some(bytes) => bytes,
            None => {
                let (bytes, basis) = crate::memory_budget::default_budget();
                tracing::info!(bytes, ?basis, "component cache budget: the default share of memory");
                bytes
            }
        };
        if let Some(entries) = self.cache_entries {
            tracing::warn!(
                entries,
                "FAAS_EXEC_CACHE_ENTRIES is deprecated: the cache is bounded by FAAS_CACHE_MAX_BYTES; \
                 the count still caps it"
            );
        }
        crate::cache::CacheLimits { max_bytes, max_entries: self.cache_entries }
    }
}

impl ExecutorConfig {
    /// The local artifact folder, unless turned off or it cannot be opened
    /// (then logged: every miss reads the shared store, as without it).
    pub fn local_artifacts(&self) -> Option<engine::LocalArtifacts> {
        if self.artifact_cache_max_bytes == 0 {
            return None;
        }
        let dir = self
            .artifact_cache_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("faas-executor-artifacts"));
        match engine::LocalArtifacts::open(&dir, self.artifact_cache_max_bytes) {
            Ok(local) => Some(local),
            Err(err) => {
                tracing::warn!(%err, dir = %dir.display(), "no local artifact copies: the folder cannot be used");
                None
            }
        }
    }
}

/// A byte count: digits, optionally followed by `K`/`KiB`, `M`/`MiB` or
/// `G`/`GiB` (powers of 1024) or `B`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 =
        digits.parse().map_err(|_| format!("`{text}` is not a byte count such as 536870912 or 512MiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        other => return Err(format!("unknown byte unit `{other}`: use KiB, MiB or GiB")),
    };
    value.checked_mul(1 << shift).ok_or_else(|| format!("`{text}` is too large"))
}

/// Outgoing HTTP from HTTP functions: off unless the function's
/// configuration allows a host (`http_outgoing_allow`); these are the
/// operator's address rules every allowed request still passes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HttpOutgoingSettings {
    /// Addresses outgoing requests may reach although they are not public
    /// (loopback, private, link-local...): CIDRs, addresses or host names,
    /// comma-separated, as `FAAS_CALLBACK_ALLOW` for callbacks. Empty: only
    /// public addresses.
    #[arg(
        long = "http-outgoing-address-allow",
        env = "FAAS_HTTP_OUTGOING_ADDRESS_ALLOW",
        value_delimiter = ','
    )]
    pub address_allow: Vec<String>,
}

/// Whether to publish a log of every call on `<prefix>.logs.<b>.<f>`, and
/// how much of its output.
#[derive(Debug, Clone, clap::Args)]
pub struct CallLogSettings {
    /// `on`: publish a log of every call (outcome, duration, stdout,
    /// stderr) for `GET /logs`; `off`: publish nothing.
    #[arg(long = "call-logs", env = "FAAS_CALL_LOGS", value_enum, default_value_t = CallLogs::On)]
    pub mode: CallLogs,
    /// Most bytes of stdout, and of stderr, kept in a call's log (cut from
    /// the end, and marked `truncated`).
    #[arg(long = "call-log-max-bytes", env = "FAAS_CALL_LOG_MAX_BYTES", default_value_t = CallLogSettings::DEFAULT.max_bytes)]
    pub max_bytes: usize,
    /// Longest a log waits, in milliseconds, to be published with the other
    /// logs of its function as one message (a message per call cost the
    /// server and the executor CPU on every call). 0: published as soon as
    /// the batcher takes it. At most 1000: the queue holds 4,096 logs, emptied
    /// once per interval, so a longer one would drop logs at modest rates.
    #[arg(long = "call-log-flush-ms", env = "FAAS_CALL_LOG_FLUSH_MS", default_value_t = CallLogSettings::DEFAULT.flush_ms,
          value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub flush_ms: u64,
}

/// The two settings of `FAAS_CALL_LOGS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CallLogs {
    /// Publish a log of every call.
    On,
    /// Publish none.
    Off,
}

impl Default for CallLogSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl CallLogSettings {
    /// The defaults, written once: the flags' defaults and `Default` both
    /// read them.
    pub const DEFAULT: Self = Self { mode: CallLogs::On, max_bytes: 16 << 10, flush_ms: 20 };

    /// [`Self::flush_ms`] as a duration.
    pub fn flush_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.flush_ms)
    }
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
    /// Largest request or response body of an HTTP function, in bytes
    /// (bodies larger than one NATS message travel through the transfer
    /// store).
    #[arg(long = "http-max-body-bytes", env = "FAAS_HTTP_MAX_BODY_BYTES", default_value_t = ExecLimits::DEFAULT.max_http_body)]
    pub max_http_body: usize,
}

impl Default for ExecLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl ExecLimits {
    /// The defaults, written once: the flags' defaults and `Default` both
    /// read them.
    pub const DEFAULT: Self = Self {
        timeout_ms: 10_000,
        memory_mib: 128,
        max_output: 1 << 20,
        max_log: 256 << 10,
        max_http_body: 32 << 20,
    };

    /// The wall-clock limit.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The memory cap in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory_mib << 20
    }
}

/// How compiles after a cache miss (no precompiled artifact) are bounded.
#[derive(Debug, Clone, clap::Args)]
pub struct CompileSettings {
    /// Compiles running at once; more wait for a slot up to the compile
    /// timeout, then the call fails as `unavailable`.
    #[arg(long, env = "FAAS_EXEC_COMPILE_CONCURRENCY", default_value_t = CompileSettings::DEFAULT.compile_concurrency)]
    pub compile_concurrency: usize,
    /// How long one compile may take, in seconds (keep it at least the
    /// dispatchers' validate timeout, or an accepted upload may never run).
    #[arg(long, env = "FAAS_EXEC_COMPILE_TIMEOUT_SECS", default_value_t = CompileSettings::DEFAULT.compile_timeout_secs)]
    pub compile_timeout_secs: u64,
    /// Largest component read from S3 and compiled, in bytes.
    #[arg(long, env = "FAAS_MAX_COMPONENT_BYTES", default_value_t = CompileSettings::DEFAULT.max_component_bytes)]
    pub max_component_bytes: u64,
}

impl Default for CompileSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl CompileSettings {
    /// The defaults, written once: the flags' defaults and `Default` both
    /// read them.
    pub const DEFAULT: Self =
        Self { compile_concurrency: 2, compile_timeout_secs: 60, max_component_bytes: 64 << 20 };

    /// The pool's limits.
    pub fn limits(&self) -> CompileLimits {
        CompileLimits {
            concurrency: self.compile_concurrency,
            timeout: Duration::from_secs(self.compile_timeout_secs),
            max_bytes: self.max_component_bytes,
            timeout_setting: "FAAS_EXEC_COMPILE_TIMEOUT_SECS",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_take_binary_suffixes_and_refuse_the_rest() {
        assert_eq!(parse_bytes("536870912"), Ok(512 << 20));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("2 GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("64k"), Ok(64 << 10));
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("1.5GiB").is_err());
        assert!(parse_bytes("10MB").unwrap_err().contains("MiB"));
        assert!(parse_bytes("99999999999999GiB").is_err());
    }
}
