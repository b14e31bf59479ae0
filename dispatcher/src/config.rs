//! Dispatcher configuration: one struct, flags with environment fallbacks.

use storage::S3Config;

/// Everything a dispatcher process needs to know.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "faas-dispatcher",
    about = "Serves wasm-faas admin commands, asynchronous jobs, event triggers and pipelines"
)]
pub struct DispatcherConfig {
    /// How to reach NATS.
    #[command(flatten)]
    pub nats: bus::NatsOptions,
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
    /// Uploads compiled at once; more wait for a slot (up to the validate
    /// timeout, then 503).
    #[arg(long, env = "FAAS_COMPILE_CONCURRENCY", default_value_t = 2)]
    pub compile_concurrency: usize,
    /// Secret shared with the executors (16+ characters) that signs the
    /// precompiled artifact stored at each upload. Unset: nothing is shared.
    #[arg(long, env = "FAAS_ARTIFACT_KEY", hide_env_values = true)]
    pub artifact_key: Option<String>,
    /// How often unreferenced precompiled artifacts are deleted, in
    /// seconds; 0: never.
    #[arg(long, env = "FAAS_ARTIFACT_SWEEP_SECS", default_value_t = 3600)]
    pub artifact_sweep_secs: u64,
    /// How long an artifact is kept after it was stored, referenced or not,
    /// in seconds.
    #[arg(long, env = "FAAS_ARTIFACT_GRACE_SECS", default_value_t = 3600)]
    pub artifact_grace_secs: u64,
    /// Versions kept per function (the newest uploads); older ones are
    /// deleted at upload, the current one never.
    #[arg(long, env = "FAAS_KEEP_VERSIONS", default_value_t = protocol::versions::DEFAULT_KEEP_VERSIONS)]
    pub keep_versions: usize,
    /// Asynchronous jobs.
    #[command(flatten)]
    pub jobs: JobSettings,
    /// Triggers and pipelines.
    #[command(flatten)]
    pub flows: FlowSettings,
    /// Byte caps of the JetStream stores.
    #[command(flatten)]
    pub stores: bus::StoreQuotas,
    /// Prometheus metrics.
    #[command(flatten)]
    pub metrics: bus::metrics::MetricsOptions,
}

/// How trigger events and pipeline steps are run.
#[derive(Debug, Clone, clap::Args)]
pub struct FlowSettings {
    /// How long a trigger event or a pipeline step waits for an executor's
    /// answer, in seconds; keep it above the executors' per-call timeout.
    #[arg(long, env = "FAAS_CALL_WAIT_SECS", default_value_t = FlowSettings::DEFAULT.call_wait_secs)]
    pub call_wait_secs: u64,
    /// Trigger events this dispatcher handles at once, all triggers together;
    /// more wait in NATS (and beyond its limits are dropped by the server).
    #[arg(long, env = "FAAS_TRIGGER_CONCURRENCY", default_value_t = FlowSettings::DEFAULT.trigger_concurrency)]
    pub trigger_concurrency: usize,
    /// Trigger events this dispatcher keeps waiting for a slot, beyond the
    /// running ones; further events are refused at once (`unavailable` on
    /// the trigger's errors subject and reply inbox), never dropped unseen.
    #[arg(long, env = "FAAS_TRIGGER_BACKLOG", default_value_t = FlowSettings::DEFAULT.trigger_backlog)]
    pub trigger_backlog: usize,
    /// Trigger links an event may pass before it is refused as a cycle.
    #[arg(long, env = "FAAS_MAX_HOPS", default_value_t = FlowSettings::DEFAULT.max_hops)]
    pub max_hops: u32,
    /// Functions one event may run across its chain of triggers, fan-out
    /// counted (per root request id, within `--event-budget-window-secs`).
    #[arg(long, env = "FAAS_EVENT_BUDGET", default_value_t = FlowSettings::DEFAULT.event_budget)]
    pub event_budget: u32,
    /// How long an event's budget counter is kept after its last use, in seconds.
    #[arg(long, env = "FAAS_EVENT_BUDGET_WINDOW_SECS", default_value_t = FlowSettings::DEFAULT.event_budget_window_secs)]
    pub event_budget_window_secs: u64,
    /// Subject patterns triggers may listen and publish on, comma-separated
    /// (e.g. `orders.>,audit.*`); empty: any subject outside the reserved ones.
    #[arg(long, env = "FAAS_TRIGGER_SUBJECTS", value_delimiter = ',')]
    pub trigger_subjects: Vec<String>,
    /// Triggers defined at most, all together.
    #[arg(long, env = "FAAS_MAX_TRIGGERS", default_value_t = FlowSettings::DEFAULT.max_triggers)]
    pub max_triggers: usize,
    /// Triggers at most whose subjects can match the same event.
    #[arg(long, env = "FAAS_MAX_TRIGGERS_PER_SUBJECT", default_value_t = FlowSettings::DEFAULT.max_triggers_per_subject)]
    pub max_triggers_per_subject: usize,
}

impl FlowSettings {
    /// The defaults, written once: the flags' defaults and `Default` both
    /// read them.
    pub const DEFAULT: Self = Self {
        call_wait_secs: 30,
        trigger_concurrency: 256,
        trigger_backlog: 1024,
        max_hops: protocol::triggers::DEFAULT_MAX_HOPS,
        event_budget: protocol::triggers::DEFAULT_EVENT_BUDGET,
        event_budget_window_secs: 600,
        trigger_subjects: Vec::new(),
        max_triggers: 1000,
        max_triggers_per_subject: 8,
    };
}

impl Default for FlowSettings {
    fn default() -> Self {
        Self::DEFAULT.clone()
    }
}

/// How the job queue is sized and how jobs are run and retried.
#[derive(Debug, Clone, clap::Args)]
pub struct JobSettings {
    /// Jobs this dispatcher runs at once.
    #[arg(long, env = "FAAS_JOB_CONCURRENCY", default_value_t = JobSettings::DEFAULT.job_concurrency)]
    pub job_concurrency: usize,
    /// Attempts per job before it fails for good.
    #[arg(long, env = "FAAS_JOB_MAX_ATTEMPTS", default_value_t = JobSettings::DEFAULT.job_max_attempts)]
    pub job_max_attempts: u32,
    /// Delay before the second attempt, in ms; doubles per attempt.
    #[arg(long, env = "FAAS_JOB_RETRY_DELAY_MS", default_value_t = JobSettings::DEFAULT.job_retry_delay_ms)]
    pub job_retry_delay_ms: u64,
    /// Also retry jobs whose function trapped or ran out of time or memory.
    #[arg(long, env = "FAAS_JOB_RETRY_TRAPS", default_value_t = JobSettings::DEFAULT.job_retry_traps)]
    pub job_retry_traps: bool,
    /// How long one attempt may wait for an executor's answer, in seconds.
    #[arg(long, env = "FAAS_JOB_EXEC_WAIT_SECS", default_value_t = JobSettings::DEFAULT.job_exec_wait_secs)]
    pub job_exec_wait_secs: u64,
    /// How long JetStream waits for a worker's ack before handing the job to
    /// another worker, in seconds; keep it above the exec wait.
    #[arg(long, env = "FAAS_JOB_ACK_WAIT_SECS", default_value_t = JobSettings::DEFAULT.job_ack_wait_secs)]
    pub job_ack_wait_secs: u64,
    /// Jobs waiting at most, all functions together (then 429).
    #[arg(long, env = "FAAS_MAX_JOBS", default_value_t = JobSettings::DEFAULT.max_jobs)]
    pub max_jobs: i64,
    /// Jobs waiting at most per function (then 429).
    #[arg(long, env = "FAAS_MAX_JOBS_PER_FUNCTION", default_value_t = JobSettings::DEFAULT.max_jobs_per_function)]
    pub max_jobs_per_function: i64,
    /// How long job records and dead letters are kept, in seconds.
    #[arg(long, env = "FAAS_JOB_RECORD_TTL_SECS", default_value_t = JobSettings::DEFAULT.job_record_ttl_secs)]
    pub job_record_ttl_secs: u64,
    /// Job callbacks (`X-Callback-Url`).
    #[command(flatten)]
    pub callbacks: CallbackSettings,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl JobSettings {
    /// The defaults, written once: the flags' defaults and `Default` both
    /// read them.
    pub const DEFAULT: Self = Self {
        job_concurrency: 64,
        job_max_attempts: 3,
        job_retry_delay_ms: 1000,
        job_retry_traps: false,
        job_exec_wait_secs: 30,
        job_ack_wait_secs: 60,
        max_jobs: 100_000,
        max_jobs_per_function: 10_000,
        job_record_ttl_secs: 7 * 24 * 3600,
        callbacks: CallbackSettings::DEFAULT,
    };
}

/// Where job callbacks may go, how many are sent at once, how often they
/// are tried and what they are signed with. Retries back off like jobs
/// (`FAAS_JOB_RETRY_DELAY_MS`, doubling).
#[derive(Debug, Clone, clap::Args)]
pub struct CallbackSettings {
    /// Destinations callbacks may reach although they are loopback, private,
    /// link-local or otherwise internal: comma-separated CIDRs or addresses
    /// (`127.0.0.0/8,::1`) and host names (`hooks.internal`).
    #[arg(long, env = "FAAS_CALLBACK_ALLOW", value_delimiter = ',')]
    pub callback_allow: Vec<String>,
    /// Callback deliveries this dispatcher sends at once; more wait in the
    /// callbacks stream.
    #[arg(long, env = "FAAS_CALLBACK_CONCURRENCY", default_value_t = CallbackSettings::DEFAULT.callback_concurrency)]
    pub callback_concurrency: usize,
    /// Attempts per callback delivery before it is given up.
    #[arg(long, env = "FAAS_CALLBACK_MAX_ATTEMPTS", default_value_t = CallbackSettings::DEFAULT.callback_max_attempts)]
    pub callback_max_attempts: u32,
    /// PEM file of extra CA certificates trusted for https callbacks, on
    /// top of the system's (for receivers with a private CA).
    #[arg(long, env = "FAAS_CALLBACK_CA_FILE")]
    pub callback_ca_file: Option<std::path::PathBuf>,
    /// The secret callbacks are signed with (Standard Webhooks: `whsec_` and
    /// the base64 of 24 to 64 random bytes), the same on every dispatcher.
    /// Unset: a random one per process, which no receiver can verify.
    #[arg(long, env = "FAAS_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
}

impl CallbackSettings {
    /// The defaults, written once.
    pub const DEFAULT: Self = Self {
        callback_allow: Vec::new(),
        callback_concurrency: 64,
        callback_max_attempts: 10,
        callback_ca_file: None,
        webhook_secret: None,
    };
}

impl Default for CallbackSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}
