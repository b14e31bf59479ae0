//! Opening the JetStream stores the platform keeps: key-value buckets,
//! streams and object stores, created by whichever process needs them first,
//! and the byte cap each of them has ([`StoreQuotas`]).
//!
//! No process sets the bus up beforehand, so every opener gets the store
//! and creates it with the platform's settings when it is missing. Two
//! processes starting together may both find it missing: the loser's
//! create fails (or succeeds, when the settings match), and it gets the
//! winner's store. Names and replicas come from [`JetStreamLayout`]; the
//! dispatcher changes existing stores to the configured replicas at start
//! (a clustered JetStream copies the data), or says clearly why it cannot.

use async_nats::jetstream::{self, kv, object_store, stream};
use protocol::registry::ARTIFACTS_DEFAULT_MAX_BYTES;
use protocol::versions::VERSIONS_DEFAULT_MAX_BYTES;
use protocol::{ErrorCode, JetStreamNames, Subjects};

/// Where the platform's JetStream state lives and how it is kept: the
/// names (from the subject prefix, [`JetStreamNames`]) and the replicas of
/// every stream, key-value bucket and object store it creates
/// (`FAAS_JS_REPLICAS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamLayout {
    /// The names of every store.
    pub names: JetStreamNames,
    /// Replicas of every store (1 on a single server, 3 on a cluster).
    pub replicas: usize,
}

impl Default for JetStreamLayout {
    fn default() -> Self {
        Self { names: JetStreamNames::default(), replicas: 1 }
    }
}

impl JetStreamLayout {
    /// The layout of the platform under `subjects`, with `replicas` copies
    /// of each store.
    pub fn new(subjects: &Subjects, replicas: usize) -> Self {
        Self { names: subjects.jetstream(), replicas: replicas.max(1) }
    }
}

/// A JetStream store could not be opened or created.
#[derive(Debug, thiserror::Error)]
#[error("the JetStream store {name} is unavailable (is JetStream enabled?): {reason}")]
pub struct StoreUnavailable {
    /// The bucket or stream.
    pub name: String,
    /// What JetStream said.
    pub reason: String,
}

/// The settings of a store [`open_or_create`] can open: its name says which
/// one to get, the rest how to create it.
pub trait StoreConfig: Send {
    /// The handle on the store.
    type Store;

    /// The bucket's or stream's name.
    fn name(&self) -> &str;

    /// The existing store named `name`.
    fn get(js: &jetstream::Context, name: &str) -> impl Future<Output = Result<Self::Store, String>> + Send;

    /// Creates the store with these settings.
    fn create(self, js: &jetstream::Context) -> impl Future<Output = Result<Self::Store, String>> + Send;

    /// These settings with `replicas` copies.
    fn with_replicas(self, replicas: usize) -> Self;
}

impl StoreConfig for kv::Config {
    type Store = kv::Store;

    fn name(&self) -> &str {
        &self.bucket
    }

    async fn get(js: &jetstream::Context, name: &str) -> Result<kv::Store, String> {
        js.get_key_value(name).await.map_err(|e| e.to_string())
    }

    async fn create(self, js: &jetstream::Context) -> Result<kv::Store, String> {
        js.create_key_value(self).await.map_err(|e| e.to_string())
    }

    fn with_replicas(self, num_replicas: usize) -> Self {
        Self { num_replicas, ..self }
    }
}

impl StoreConfig for object_store::Config {
    type Store = object_store::ObjectStore;

    fn name(&self) -> &str {
        &self.bucket
    }

    async fn get(js: &jetstream::Context, name: &str) -> Result<object_store::ObjectStore, String> {
        js.get_object_store(name).await.map_err(|e| e.to_string())
    }

    async fn create(self, js: &jetstream::Context) -> Result<object_store::ObjectStore, String> {
        js.create_object_store(self).await.map_err(|e| e.to_string())
    }

    fn with_replicas(self, num_replicas: usize) -> Self {
        Self { num_replicas, ..self }
    }
}

impl StoreConfig for stream::Config {
    type Store = stream::Stream;

    fn name(&self) -> &str {
        &self.name
    }

    async fn get(js: &jetstream::Context, name: &str) -> Result<stream::Stream, String> {
        js.get_stream(name).await.map_err(|e| e.to_string())
    }

    async fn create(self, js: &jetstream::Context) -> Result<stream::Stream, String> {
        js.create_stream(self).await.map_err(|e| e.to_string())
    }

    fn with_replicas(self, num_replicas: usize) -> Self {
        Self { num_replicas, ..self }
    }
}

/// A stream that keeps what is published under one subject tree for a
/// while (audit events, call logs), the oldest dropped past its age or
/// byte cap.
pub(crate) struct KeptStream<'a> {
    /// The stream's name.
    pub name: &'a str,
    /// What it keeps, for `nats stream info`.
    pub description: &'a str,
    /// The subject tree it keeps (`<prefix>.audit.>`, `<prefix>.logs.>`).
    pub subjects: String,
    /// Byte cap.
    pub max_bytes: i64,
    /// Age cap, in seconds.
    pub max_age_secs: u64,
}

impl KeptStream<'_> {
    /// Creates the stream, or sets its caps and replicas: what a dispatcher
    /// does at start. What it keeps reaches it by being published (core
    /// NATS), so nobody needs a handle to write.
    pub(crate) async fn set_up(self, client: &async_nats::Client, replicas: usize) -> Result<(), StoreError> {
        jetstream::new(client.clone())
            .create_or_update_stream(stream::Config {
                name: self.name.to_owned(),
                num_replicas: replicas,
                description: Some(self.description.to_owned()),
                subjects: vec![self.subjects],
                max_bytes: self.max_bytes,
                max_age: std::time::Duration::from_secs(self.max_age_secs),
                discard: stream::DiscardPolicy::Old,
                ..Default::default()
            })
            .await
            .map_err(|e| StoreError::from_reason(self.name, e))?;
        Ok(())
    }
}

/// The store `config` names, created with `config` and `replicas` copies
/// if it does not exist yet. An existing store is taken as it is: the
/// dispatcher sets caps and replicas at start ([`StoreQuotas::apply`]), so
/// two roles configured differently never fight over a store.
pub async fn open_or_create<C: StoreConfig>(
    js: &jetstream::Context,
    replicas: usize,
    config: C,
) -> Result<C::Store, StoreUnavailable> {
    let name = config.name().to_owned();
    if let Ok(store) = C::get(js, &name).await {
        return Ok(store);
    }
    match config.with_replicas(replicas).create(js).await {
        Ok(store) => Ok(store),
        // Another process created it meanwhile, with other settings.
        Err(reason) => C::get(js, &name).await.map_err(|_| StoreUnavailable {
            reason: if replicas > 1 { replicas_hint(&reason, replicas) } else { reason },
            name,
        }),
    }
}

/// JetStream's refusal of `replicas` copies, with what the operator can do.
fn replicas_hint(reason: &str, replicas: usize) -> String {
    format!(
        "{reason} (FAAS_JS_REPLICAS is {replicas}: that needs a JetStream cluster of at least {replicas} nodes; \
         on a single server set FAAS_JS_REPLICAS=1)"
    )
}

impl From<StoreUnavailable> for StoreError {
    fn from(err: StoreUnavailable) -> Self {
        Self::Unavailable { store: err.name, reason: err.reason }
    }
}

/// Reading or writing a JetStream store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// JetStream is not enabled or not reachable.
    #[error("the JetStream store {store} is unavailable (is JetStream enabled?): {reason}")]
    Unavailable {
        /// The bucket or stream.
        store: String,
        /// What JetStream said.
        reason: String,
    },
    /// The store is at its byte cap (or the server out of room): writes
    /// are refused until entries expire or are deleted, or the cap is raised.
    #[error("the JetStream store {store} is full ({reason}); raise its byte cap or free room")]
    Full {
        /// The bucket or stream.
        store: String,
        /// What JetStream said.
        reason: String,
    },
}

impl StoreError {
    /// The error JetStream's `err` means for `store`: full or unavailable.
    pub fn from_reason(store: &str, err: impl std::fmt::Display) -> Self {
        let reason = err.to_string();
        if is_full(&reason) {
            Self::Full { store: store.to_owned(), reason }
        } else {
            Self::Unavailable { store: store.to_owned(), reason }
        }
    }

    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unavailable { .. } => ErrorCode::Unavailable,
            Self::Full { .. } => ErrorCode::StorageFull,
        }
    }
}

/// Whether JetStream refused a write because a stream (or the account or
/// server) is out of room: its words for a store at its byte cap with
/// discard-new, and for exhausted storage.
pub fn is_full(reason: &str) -> bool {
    ["maximum bytes", "insufficient resources", "resource limits exceeded"]
        .iter()
        .any(|words| reason.contains(words))
}

/// The byte cap of one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreQuota {
    /// Bytes the store may hold at most.
    pub max_bytes: i64,
}

/// The byte cap of every store the platform creates: what its creator
/// sets, and what a dispatcher applies to the existing stores at start
/// ([`StoreQuotas::apply`]), so the operator's settings win; and how long
/// the audit trail and the call logs are kept.
///
/// JetStream reserves each cap against its storage limit (`max_file_store`,
/// by default 75% of the free disk) when the store is created: the caps
/// together (about 2.9 GiB by default) must fit, or creating a store fails
/// with "insufficient storage resources".
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct StoreQuotas {
    /// Bytes the job queue (stream `FAAS_JOBS`) may hold; beyond, submissions get 507.
    #[arg(long, env = "FAAS_JOBS_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.jobs)]
    pub jobs: i64,
    /// Bytes the dead letters (stream `FAAS_JOBS_DEAD`) may hold; beyond, the oldest go.
    #[arg(long, env = "FAAS_DEAD_LETTERS_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.dead_letters)]
    pub dead_letters: i64,
    /// Bytes the kept inputs for replay (stream `FAAS_INPUTS`: every job's,
    /// failed sync calls' where kept) may hold; beyond, the oldest go.
    #[arg(long, env = "FAAS_INPUTS_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.inputs)]
    pub inputs: i64,
    /// Bytes the job records (`faas-jobs`) may hold; beyond, submissions get 507.
    #[arg(long, env = "FAAS_JOB_RECORDS_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.job_records)]
    pub job_records: i64,
    /// Bytes the transfer store (`faas-transfer`) may hold; beyond, uploads and downloads get 507.
    #[arg(long, env = "FAAS_TRANSFER_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.transfer)]
    pub transfer: i64,
    /// Bytes the function registry (`faas-functions`) may hold.
    #[arg(long, env = "FAAS_REGISTRY_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.registry)]
    pub registry: i64,
    /// Bytes each definition store (`faas-triggers`, `faas-pipelines`, `faas-tokens`,
    /// `faas-token-usage`, `faas-buckets`, `faas-function-config`, `faas-shadow`) may hold.
    #[arg(long, env = "FAAS_DEFINITIONS_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.definitions)]
    pub definitions: i64,
    /// Bytes the version records (`faas-versions`) may hold; beyond, uploads get 507.
    #[arg(long, env = "FAAS_VERSIONS_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.versions)]
    pub versions: i64,
    /// Bytes the shared precompiled artifacts (`faas-artifacts`) may hold.
    #[arg(long, env = "FAAS_ARTIFACTS_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.artifacts)]
    pub artifacts: i64,
    /// Bytes the event budget counters (`faas-event-budgets`) may hold.
    #[arg(long, env = "FAAS_EVENT_BUDGETS_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.event_budgets)]
    pub event_budgets: i64,
    /// Bytes the callback deliveries waiting to be sent (stream `FAAS_CALLBACKS`) may hold.
    #[arg(long, env = "FAAS_CALLBACKS_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.callbacks)]
    pub callbacks: i64,
    /// Bytes the claims on scheduled triggers' ticks (`faas-schedule-ticks`) may hold.
    #[arg(long, env = "FAAS_SCHEDULE_TICKS_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.schedule_ticks)]
    pub schedule_ticks: i64,
    /// Bytes the leases of running calls of functions with a
    /// `max_concurrency` (`faas-concurrency`) may hold.
    #[arg(long, env = "FAAS_CONCURRENCY_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.concurrency)]
    pub concurrency: i64,
    /// Bytes the functions' key-value data (`faas-kv`, every bucket's keys
    /// together) may hold; beyond, writes fail and the guest is told so.
    #[arg(long, env = "FAAS_KV_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.keyvalue)]
    pub keyvalue: i64,
    /// Bytes the audit trail (stream `FAAS_AUDIT`) may hold; beyond, the oldest events go.
    #[arg(long, env = "FAAS_AUDIT_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.audit)]
    pub audit: i64,
    /// Seconds an audit event is kept (stream `FAAS_AUDIT`).
    #[arg(long, env = "FAAS_AUDIT_MAX_AGE_SECS", default_value_t = StoreQuotas::DEFAULT.audit_max_age_secs)]
    pub audit_max_age_secs: u64,
    /// Bytes the per-call logs (stream `FAAS_LOGS`) may hold; beyond, the oldest logs go.
    #[arg(long, env = "FAAS_LOGS_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.logs)]
    pub logs: i64,
    /// Seconds a call log is kept (stream `FAAS_LOGS`).
    #[arg(long, env = "FAAS_LOGS_MAX_AGE_SECS", default_value_t = StoreQuotas::DEFAULT.logs_max_age_secs)]
    pub logs_max_age_secs: u64,
    /// Bytes the shadow traffic outcomes (stream `FAAS_SHADOW_OUTCOMES`) may hold; beyond, the oldest go.
    #[arg(long, env = "FAAS_SHADOW_OUTCOMES_MAX_BYTES", default_value_t = StoreQuotas::DEFAULT.shadow_outcomes)]
    pub shadow_outcomes: i64,
    /// Seconds a shadow outcome is kept (stream `FAAS_SHADOW_OUTCOMES`).
    #[arg(
        long,
        env = "FAAS_SHADOW_OUTCOMES_MAX_AGE_SECS",
        default_value_t = StoreQuotas::DEFAULT.shadow_outcomes_max_age_secs
    )]
    pub shadow_outcomes_max_age_secs: u64,
}

impl Default for StoreQuotas {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl StoreQuotas {
    /// The defaults, written once: the flags, `Default` and every creator
    /// of a store read them.
    pub const DEFAULT: Self = Self {
        jobs: 256 << 20,
        dead_letters: 256 << 20,
        inputs: 64 << 20,
        job_records: 256 << 20,
        transfer: 512 << 20,
        registry: 16 << 20,
        definitions: 16 << 20,
        versions: VERSIONS_DEFAULT_MAX_BYTES,
        artifacts: ARTIFACTS_DEFAULT_MAX_BYTES,
        event_budgets: 16 << 20,
        callbacks: 128 << 20,
        schedule_ticks: 4 << 20,
        concurrency: 4 << 20,
        keyvalue: 128 << 20,
        audit: 64 << 20,
        audit_max_age_secs: 90 * 24 * 3600,
        logs: 64 << 20,
        logs_max_age_secs: 24 * 3600,
        shadow_outcomes: protocol::shadow::OUTCOMES_DEFAULT_MAX_BYTES,
        shadow_outcomes_max_age_secs: protocol::shadow::OUTCOMES_DEFAULT_MAX_AGE_SECS,
    };

    /// Each store's stream and its cap.
    fn streams(&self, names: &JetStreamNames) -> [(String, i64); 23] {
        let kv = |bucket: String| JetStreamNames::kv_stream(&bucket);
        let obj = |store: String| JetStreamNames::object_stream(&store);
        [
            (names.jobs_stream(), self.jobs),
            (names.dead_letters_stream(), self.dead_letters),
            (names.inputs_stream(), self.inputs),
            (kv(names.job_records()), self.job_records),
            (obj(names.transfer_store()), self.transfer),
            (kv(names.function_registry()), self.registry),
            (kv(names.triggers()), self.definitions),
            (kv(names.pipelines()), self.definitions),
            (kv(names.tokens()), self.definitions),
            (kv(names.token_usage()), self.definitions),
            (kv(names.bucket_settings()), self.definitions),
            (kv(names.function_config()), self.definitions),
            (kv(names.versions()), self.versions),
            (kv(names.concurrency()), self.concurrency),
            (kv(names.keyvalue()), self.keyvalue),
            (obj(names.artifact_store()), self.artifacts),
            (kv(names.event_budgets()), self.event_budgets),
            (names.callbacks_stream(), self.callbacks),
            (kv(names.schedule_ticks()), self.schedule_ticks),
            (names.audit_stream(), self.audit),
            (names.logs_stream(), self.logs),
            (kv(names.shadow()), self.definitions),
            (names.shadow_outcomes_stream(), self.shadow_outcomes),
        ]
    }

    /// Sets each existing store's cap to this one and its replicas to the
    /// layout's (stores are created by whichever process needs them first,
    /// with the defaults; a store made with 1 replica before the platform
    /// moved to a cluster gets 3 here, a clustered JetStream copying its
    /// data). A store that does not exist yet is skipped; one the server
    /// refuses to change is reported (an error naming both replica counts)
    /// and left as it is.
    pub async fn apply(&self, client: &async_nats::Client, layout: &JetStreamLayout) {
        let js = jetstream::new(client.clone());
        for (name, max_bytes) in self.streams(&layout.names) {
            let Ok(mut stream) = js.get_stream(&name).await else { continue };
            let Ok(info) = stream.info().await else { continue };
            if info.config.max_bytes == max_bytes && info.config.num_replicas.max(1) == layout.replicas {
                continue;
            }
            let config = stream::Config { max_bytes, num_replicas: layout.replicas, ..info.config.clone() };
            let from = info.config.num_replicas.max(1);
            match js.update_stream(config).await {
                Ok(_) => {
                    tracing::info!(store = %name, max_bytes, from, replicas = layout.replicas, "store cap and replicas set")
                }
                Err(err) if from != layout.replicas => tracing::error!(
                    store = %name, from, replicas = layout.replicas, %err,
                    "the store has {from} replica(s) but FAAS_JS_REPLICAS is {}, and JetStream refused to change it: \
                     it stays at {from} (set FAAS_JS_REPLICAS={from}, or run a JetStream cluster of at least {} nodes)",
                    layout.replicas, layout.replicas
                ),
                Err(err) => tracing::warn!(store = %name, max_bytes, %err, "could not set the store's cap"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_store_is_told_from_an_unreachable_one_by_jetstream_s_words() {
        let names = JetStreamNames::default();
        let full = StoreError::from_reason(&names.job_records(), "publish failed: maximum bytes exceeded");
        assert_eq!(full.code(), ErrorCode::StorageFull);
        assert!(full.to_string().contains("faas-jobs is full"), "{full}");
        let account = StoreError::from_reason(&names.jobs_stream(), "insufficient resources (code 503)");
        assert_eq!(account.code(), ErrorCode::StorageFull);
        assert_eq!(StoreError::from_reason(&names.jobs_stream(), "timed out").code(), ErrorCode::Unavailable);
    }

    #[test]
    fn every_store_has_a_cap() {
        let names = JetStreamNames::default();
        let streams = StoreQuotas::DEFAULT.streams(&names);
        let mut all = names.all_streams();
        let mut capped: Vec<String> = streams.iter().map(|(name, _)| name.clone()).collect();
        all.sort();
        capped.sort();
        assert_eq!(all, capped, "every store the platform keeps has a cap");
        assert!(streams.iter().all(|(_, max_bytes)| *max_bytes > 0), "{streams:?}");
        let total: i64 = streams.iter().map(|(_, max_bytes)| max_bytes).sum();
        assert!(total < 3 << 30, "JetStream reserves every cap: keep the sum small ({total})");
    }
}
