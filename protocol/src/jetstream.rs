//! The one place that names the platform's JetStream state: every stream,
//! key-value bucket, object store and durable consumer.
//!
//! Names derive from the subject prefix, like subjects do, so two platforms
//! with different prefixes on one NATS account keep independent state. The
//! default prefix `faas` gives the names the platform always had
//! (`faas-functions`, `FAAS_JOBS`, ...), so a default deployment needs no
//! migration. JetStream names may not hold `.`, `*`, `>`, whitespace or
//! path separators (and bucket names only `[A-Za-z0-9_-]`), so a prefix of
//! several subject tokens (`team1.faas`) is folded: every other character
//! becomes `-` in bucket and consumer names (`team1-faas-functions`) and
//! `_` in stream names, which are upper case (`TEAM1_FAAS_JOBS`). Two
//! prefixes that fold to the same name (`team1.faas`, `team1-faas`) share
//! their state: give platforms on one account prefixes that differ in
//! letters or digits.

/// The JetStream names of one platform, derived from its subject prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamNames {
    /// The prefix folded for bucket, object store and consumer names.
    lower: String,
    /// The prefix folded for stream names (upper case).
    upper: String,
}

impl Default for JetStreamNames {
    fn default() -> Self {
        Self::new(crate::subjects::DEFAULT_PREFIX)
    }
}

impl JetStreamNames {
    /// The names of the platform whose subjects are under `prefix`.
    pub fn new(prefix: &str) -> Self {
        let fold = |replacement: char| -> String {
            prefix
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { replacement })
                .collect()
        };
        Self { lower: fold('-'), upper: fold('_').to_ascii_uppercase() }
    }

    /// The prefix as bucket names start with it (`<p>` of `<p>-functions`).
    pub fn store_prefix(&self) -> &str {
        &self.lower
    }

    fn bucket(&self, name: &str) -> String {
        format!("{}-{name}", self.lower)
    }

    fn stream(&self, name: &str) -> String {
        format!("{}_{name}", self.upper)
    }

    /// Key-value bucket `<p>-functions`: `<bucket>.<function>` →
    /// [`crate::FunctionVersion`] (the function registry).
    pub fn function_registry(&self) -> String {
        self.bucket("functions")
    }

    /// Object store `<p>-artifacts` of precompiled, signed component
    /// artifacts, named by [`crate::registry::artifact_name`]. Only the
    /// platform's roles write it.
    pub fn artifact_store(&self) -> String {
        self.bucket("artifacts")
    }

    /// Object store `<p>-transfer` through which components travel between
    /// the api and the dispatcher, so that uploads and downloads larger than
    /// the server's `max_payload` never have to fit in one message.
    pub fn transfer_store(&self) -> String {
        self.bucket("transfer")
    }

    /// Key-value bucket `<p>-triggers`: trigger name → [`crate::TriggerSpec`].
    pub fn triggers(&self) -> String {
        self.bucket("triggers")
    }

    /// Key-value bucket `<p>-pipelines`: pipeline name → [`crate::PipelineSpec`].
    pub fn pipelines(&self) -> String {
        self.bucket("pipelines")
    }

    /// Key-value bucket `<p>-tokens`: token id → [`crate::auth::TokenRecord`].
    pub fn tokens(&self) -> String {
        self.bucket("tokens")
    }

    /// Key-value bucket `<p>-token-usage`: token id → when it was last used
    /// (Unix milliseconds, in decimal), written by the apis at most once per
    /// token per flush interval.
    pub fn token_usage(&self) -> String {
        self.bucket("token-usage")
    }

    /// Key-value bucket `<p>-buckets`: bucket name →
    /// [`crate::buckets::BucketSettings`]. A bucket without an entry has the
    /// defaults.
    pub fn bucket_settings(&self) -> String {
        self.bucket("buckets")
    }

    /// Key-value bucket `<p>-function-config`: `<bucket>.<function>` →
    /// [`crate::function_config::StoredFunctionConfig`] (secrets sealed).
    /// Only the dispatcher writes it; every executor follows it.
    pub fn function_config(&self) -> String {
        self.bucket("function-config")
    }

    /// Key-value bucket `<p>-shadow`: `<bucket>.<function>` →
    /// [`crate::shadow::ShadowConfig`], the functions being shadowed. Only
    /// the dispatcher writes it; every executor follows it.
    pub fn shadow(&self) -> String {
        self.bucket("shadow")
    }

    /// Stream `<P>_SHADOW_OUTCOMES` keeping shadow pairs' outcomes (every
    /// `<prefix>.shadow.>` message), capped per function, by age and
    /// bytes; `GET /file/{b}/{f}/shadow/report` summarises it.
    pub fn shadow_outcomes_stream(&self) -> String {
        self.stream("SHADOW_OUTCOMES")
    }

    /// Key-value bucket `<p>-versions`: `<bucket>.<function>.<digest>` →
    /// [`crate::versions::VersionRecord`], one per version kept. Only the
    /// dispatcher writes it; every executor follows it.
    pub fn versions(&self) -> String {
        self.bucket("versions")
    }

    /// Key-value bucket `<p>-concurrency`: the leases of the running calls
    /// of functions with a `max_concurrency`, `<bucket>.<function>.<slot>`
    /// → the executor holding it (created to take a slot, deleted to give
    /// it back, expired if its executor died).
    pub fn concurrency(&self) -> String {
        self.bucket("concurrency")
    }

    /// Key-value bucket `<p>-kv`: the data of functions granted
    /// `wasi:keyvalue` ([`crate::capabilities`]), every platform bucket's
    /// keys under `<bucket>.` (the guest's store and key encoded into
    /// NATS key tokens below that), so a bucket's data is one subject
    /// filter: listed, counted and purged with its bucket.
    pub fn keyvalue(&self) -> String {
        self.bucket("kv")
    }

    /// Key-value bucket `<p>-event-budgets`: root request id → functions its
    /// chain of trigger events has run so far (see
    /// [`crate::triggers::DEFAULT_EVENT_BUDGET`]).
    pub fn event_budgets(&self) -> String {
        self.bucket("event-budgets")
    }

    /// Key-value bucket `<p>-schedule-ticks`: `<trigger>.<tick in ms>` → the
    /// dispatcher that claimed that tick of a scheduled trigger (created
    /// once, so one dispatcher runs each tick; entries expire).
    pub fn schedule_ticks(&self) -> String {
        self.bucket("schedule-ticks")
    }

    /// Key-value bucket `<p>-jobs`: job id → [`crate::JobRecord`].
    pub fn job_records(&self) -> String {
        self.bucket("jobs")
    }

    /// Stream `<P>_JOBS` holding queued jobs, on subjects
    /// [`crate::Subjects::jobs_all`] (work queue).
    pub fn jobs_stream(&self) -> String {
        self.stream("JOBS")
    }

    /// Durable pull consumer `<p>-job-workers` on [`Self::jobs_stream`],
    /// shared by every dispatcher's job worker.
    pub fn job_workers(&self) -> String {
        self.bucket("job-workers")
    }

    /// Stream `<P>_JOBS_DEAD` of the dead letters: the input of every job
    /// that failed for good, on [`crate::Subjects::dead_letter`], kept as
    /// long as records.
    pub fn dead_letters_stream(&self) -> String {
        self.stream("JOBS_DEAD")
    }

    /// Stream `<P>_INPUTS` of kept inputs, for replay: every job's input
    /// ([`crate::Subjects::kept_job_input`]) and failed sync calls' inputs
    /// where keeping is on ([`crate::Subjects::kept_call_input`]), kept as
    /// long as job records.
    pub fn inputs_stream(&self) -> String {
        self.stream("INPUTS")
    }

    /// Stream `<P>_CALLBACKS` of callback deliveries waiting to be sent, on
    /// [`crate::Subjects::callback`] (work queue: a delivery lives until sent
    /// or given up).
    pub fn callbacks_stream(&self) -> String {
        self.stream("CALLBACKS")
    }

    /// Durable pull consumer `<p>-callback-senders` on
    /// [`Self::callbacks_stream`], shared by every dispatcher's callback
    /// sender.
    pub fn callback_senders(&self) -> String {
        self.bucket("callback-senders")
    }

    /// Stream `<P>_AUDIT` keeping the audit events (every `<prefix>.audit.>`
    /// message), capped by age and bytes; `GET /audit` reads its newest.
    pub fn audit_stream(&self) -> String {
        self.stream("AUDIT")
    }

    /// Stream `<P>_LOGS` keeping the per-call logs (every `<prefix>.logs.>`
    /// message), capped by age and bytes; `GET /logs` reads it.
    pub fn logs_stream(&self) -> String {
        self.stream("LOGS")
    }

    /// The stream backing key-value bucket `bucket` (JetStream's own naming).
    pub fn kv_stream(bucket: &str) -> String {
        format!("KV_{bucket}")
    }

    /// The stream backing object store `store` (JetStream's own naming).
    pub fn object_stream(store: &str) -> String {
        format!("OBJ_{store}")
    }

    /// Every stream the platform keeps, key-value buckets and object stores
    /// by their backing stream: what replicas and caps apply to, and what a
    /// check for state left under other names looks at.
    pub fn all_streams(&self) -> Vec<String> {
        let mut streams = vec![
            self.jobs_stream(),
            self.dead_letters_stream(),
            self.callbacks_stream(),
            self.inputs_stream(),
            self.audit_stream(),
            self.logs_stream(),
            self.shadow_outcomes_stream(),
        ];
        streams.extend(
            [
                self.job_records(),
                self.function_registry(),
                self.triggers(),
                self.pipelines(),
                self.tokens(),
                self.token_usage(),
                self.bucket_settings(),
                self.function_config(),
                self.versions(),
                self.shadow(),
                self.concurrency(),
                self.keyvalue(),
                self.event_budgets(),
                self.schedule_ticks(),
            ]
            .iter()
            .map(|bucket| Self::kv_stream(bucket)),
        );
        streams.extend(
            [self.transfer_store(), self.artifact_store()].iter().map(|store| Self::object_stream(store)),
        );
        streams
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_prefix_keeps_the_names_deployments_already_have() {
        let names = JetStreamNames::default();
        assert_eq!(names.function_registry(), "faas-functions");
        assert_eq!(names.artifact_store(), "faas-artifacts");
        assert_eq!(names.transfer_store(), "faas-transfer");
        assert_eq!(names.triggers(), "faas-triggers");
        assert_eq!(names.pipelines(), "faas-pipelines");
        assert_eq!(names.tokens(), "faas-tokens");
        assert_eq!(names.token_usage(), "faas-token-usage");
        assert_eq!(names.bucket_settings(), "faas-buckets");
        assert_eq!(names.function_config(), "faas-function-config");
        assert_eq!(names.concurrency(), "faas-concurrency");
        assert_eq!(names.versions(), "faas-versions");
        assert_eq!(names.event_budgets(), "faas-event-budgets");
        assert_eq!(names.schedule_ticks(), "faas-schedule-ticks");
        assert_eq!(names.job_records(), "faas-jobs");
        assert_eq!(names.jobs_stream(), "FAAS_JOBS");
        assert_eq!(names.job_workers(), "faas-job-workers");
        assert_eq!(names.dead_letters_stream(), "FAAS_JOBS_DEAD");
        assert_eq!(names.callbacks_stream(), "FAAS_CALLBACKS");
        assert_eq!(names.callback_senders(), "faas-callback-senders");
        assert_eq!(names.audit_stream(), "FAAS_AUDIT");
        assert_eq!(names.logs_stream(), "FAAS_LOGS");
    }

    #[test]
    fn another_prefix_gets_names_of_its_own() {
        let names = JetStreamNames::new("team1");
        assert_eq!(names.function_registry(), "team1-functions");
        assert_eq!(names.jobs_stream(), "TEAM1_JOBS");
        assert_eq!(names.job_workers(), "team1-job-workers");
        let default = JetStreamNames::default().all_streams();
        assert!(names.all_streams().iter().all(|name| !default.contains(name)));
    }

    #[test]
    fn a_prefix_of_several_tokens_folds_into_valid_jetstream_names() {
        let names = JetStreamNames::new("team1.faas");
        assert_eq!(names.function_registry(), "team1-faas-functions");
        assert_eq!(names.jobs_stream(), "TEAM1_FAAS_JOBS");
        let valid = |name: &String| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        assert!(names.all_streams().iter().all(valid), "{:?}", names.all_streams());
        assert!(JetStreamNames::new("a b/c*>").all_streams().iter().all(valid));
    }
}
