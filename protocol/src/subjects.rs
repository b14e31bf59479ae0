//! The one place that spells NATS subjects and queue groups.
//!
//! Everything is under a configurable prefix (default `faas`) so that several
//! platforms, or a test per platform, can share one NATS account.

use crate::names::{FunctionRef, PipelineName, RESERVED_BUCKET, Target, TriggerName};

/// Default subject prefix.
pub const DEFAULT_PREFIX: &str = "faas";

/// The answer to a ping from a service whose every part runs.
pub const PONG: &str = "pong";

/// How a dispatcher's ping answer starts when a part of it stopped (the
/// rest of the answer says which): the api's `/ready` is then 503.
pub const DEGRADED: &str = "degraded: ";

/// The executors' role name, in their service name ([`Subjects::service_name`]).
pub const ROLE_EXECUTOR: &str = "executor";

/// The dispatchers' role name, in their service name ([`Subjects::service_name`]).
pub const ROLE_DISPATCHER: &str = "dispatcher";

/// Subject builder for one platform instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

impl Default for Subjects {
    fn default() -> Self {
        Self::new(DEFAULT_PREFIX)
    }
}

impl Subjects {
    /// Subjects under `prefix` (one or more subject tokens, e.g. `faas` or `team1.faas`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    /// The prefix in use.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The JetStream names of the platform under this prefix.
    pub fn jetstream(&self) -> crate::jetstream::JetStreamNames {
        crate::jetstream::JetStreamNames::new(&self.prefix)
    }

    /// `<prefix>.exec.<bucket>.<function>`: a request here runs the function.
    pub fn exec(&self, function: &FunctionRef) -> String {
        format!("{}.exec.{}.{}", self.prefix, function.bucket, function.function)
    }

    /// What executors subscribe to: every function's exec subject.
    pub fn exec_all(&self) -> String {
        format!("{}.exec.*.*", self.prefix)
    }

    /// Splits an exec subject back into its function, if it is one.
    pub fn parse_exec(&self, subject: &str) -> Option<FunctionRef> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix(".exec.")?;
        let (bucket, function) = rest.split_once('.')?;
        FunctionRef::new(bucket, function).ok()
    }

    /// `<prefix>.http.<bucket>.<function>`: a request here runs an HTTP
    /// function (world `wasi:http/proxy`); the request line and headers
    /// travel in NATS headers ([`crate::http_call`]), the body as payload.
    pub fn http(&self, function: &FunctionRef) -> String {
        format!("{}.http.{}.{}", self.prefix, function.bucket, function.function)
    }

    /// What executors subscribe to for HTTP functions.
    pub fn http_all(&self) -> String {
        format!("{}.http.*.*", self.prefix)
    }

    /// Splits an HTTP-call subject back into its function, if it is one.
    pub fn parse_http(&self, subject: &str) -> Option<FunctionRef> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix(".http.")?;
        let (bucket, function) = rest.split_once('.')?;
        FunctionRef::new(bucket, function).ok()
    }

    /// `<prefix>.jobs.<bucket>.<function>` or `<prefix>.jobs.pipeline.<name>`:
    /// asynchronous jobs, stored in the [`jobs_stream`](crate::jetstream::JetStreamNames::jobs_stream) stream
    /// until a worker finished them.
    pub fn job(&self, target: &Target) -> String {
        format!("{}.jobs.{}", self.prefix, target_tokens(target))
    }

    /// The jobs stream's subjects: every function's and pipeline's job subject.
    pub fn jobs_all(&self) -> String {
        format!("{}.jobs.*.*", self.prefix)
    }

    /// Splits a job subject back into its target.
    pub fn parse_job(&self, subject: &str) -> Option<Target> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix(".jobs.")?;
        let (bucket, name) = rest.split_once('.')?;
        if bucket == RESERVED_BUCKET {
            return PipelineName::new(name).ok().map(Target::Pipeline);
        }
        FunctionRef::new(bucket, name).ok().map(Target::Function)
    }

    /// `<prefix>.results.<bucket>.<function>` (or `.results.pipeline.<name>`):
    /// every finished job's [`crate::jobs::JobRecord`], for any subscriber.
    pub fn job_result(&self, target: &Target) -> String {
        format!("{}.results.{}", self.prefix, target_tokens(target))
    }

    /// `<prefix>.deadletter.<job id>`: the input of a job that failed for
    /// good, kept in [`dead_letters_stream`](crate::jetstream::JetStreamNames::dead_letters_stream) for re-driving.
    pub fn dead_letter(&self, job_id: &str) -> String {
        format!("{}.deadletter.{job_id}", self.prefix)
    }

    /// The dead letters stream's subjects.
    pub fn dead_letters_all(&self) -> String {
        self.dead_letter("*")
    }

    /// `<prefix>.inputs.job.<job id>`: a job's input, kept in
    /// [`inputs_stream`](crate::jetstream::JetStreamNames::inputs_stream) for replay.
    pub fn kept_job_input(&self, job_id: &str) -> String {
        format!("{}.inputs.job.{job_id}", self.prefix)
    }

    /// `<prefix>.inputs.call.<call id>`: a failed sync call's input, kept in
    /// [`inputs_stream`](crate::jetstream::JetStreamNames::inputs_stream) for replay.
    pub fn kept_call_input(&self, call_id: &str) -> String {
        format!("{}.inputs.call.{call_id}", self.prefix)
    }

    /// The kept inputs stream's subjects.
    pub fn kept_inputs_all(&self) -> String {
        format!("{}.inputs.>", self.prefix)
    }

    /// `<prefix>.callbacks.<job id>`: a finished job's callback delivery,
    /// kept in [`callbacks_stream`](crate::jetstream::JetStreamNames::callbacks_stream) until it is sent.
    pub fn callback(&self, job_id: &str) -> String {
        format!("{}.callbacks.{job_id}", self.prefix)
    }

    /// The callbacks stream's subjects.
    pub fn callbacks_all(&self) -> String {
        self.callback("*")
    }

    /// `<prefix>.pipeline.<name>`: a request here runs the pipeline.
    pub fn pipeline(&self, name: &PipelineName) -> String {
        format!("{}.pipeline.{name}", self.prefix)
    }

    /// What executors subscribe to (in their queue group): every pipeline's subject.
    pub fn pipeline_all(&self) -> String {
        format!("{}.pipeline.*", self.prefix)
    }

    /// Splits a pipeline subject back into the pipeline's name.
    pub fn parse_pipeline(&self, subject: &str) -> Option<PipelineName> {
        let name = subject.strip_prefix(&self.prefix)?.strip_prefix(".pipeline.")?;
        PipelineName::new(name).ok()
    }

    /// `<prefix>.errors.trigger.<name>`: a [`crate::triggers::TriggerFailure`]
    /// for every event the trigger could not run.
    pub fn trigger_errors(&self, name: &TriggerName) -> String {
        format!("{}.errors.trigger.{name}", self.prefix)
    }

    /// `<prefix>.errors.jobs`: a [`crate::jobs::RejectedJob`] for every
    /// message on the jobs stream that was terminated instead of run.
    pub fn job_errors(&self) -> String {
        format!("{}.errors.jobs", self.prefix)
    }

    /// `<prefix>.schedule.<trigger>`: where a scheduled trigger's ticks are
    /// published, by the dispatcher that claimed each tick.
    pub fn schedule(&self, name: &TriggerName) -> String {
        format!("{}.schedule.{name}", self.prefix)
    }

    /// Queue group of one trigger's subscriptions (one per dispatcher): each
    /// event runs once, and two triggers on one subject each run it.
    pub fn trigger_group(&self, name: &TriggerName) -> String {
        format!("{}-trigger-{name}", self.prefix.replace('.', "-"))
    }

    /// Checks a subject a trigger may listen on: valid NATS syntax
    /// (wildcards allowed, but not in the first token), and nothing that could receive the
    /// platform's own messages (its prefix, `$JS`/`$KV`/`$SYS`, inboxes), so a
    /// trigger can neither hijack the platform nor feed on its own output.
    pub fn check_trigger_subject(&self, subject: &str) -> Result<(), String> {
        check_syntax(subject, true)?;
        if subject == ">" {
            return Err("a trigger cannot listen on `>`: it would receive every message".into());
        }
        self.check_not_reserved(subject)
    }

    /// Checks a subject a trigger may publish its output on: a literal
    /// subject (no wildcards) outside the platform's own.
    pub fn check_output_subject(&self, subject: &str) -> Result<(), String> {
        check_syntax(subject, false)?;
        self.check_not_reserved(subject)
    }

    fn check_not_reserved(&self, subject: &str) -> Result<(), String> {
        let tokens: Vec<&str> = subject.split('.').collect();
        let first = tokens[0];
        // A wildcard first token would also match `$JS.API...` and inboxes.
        if first == "*" || first == ">" {
            return Err(format!(
                "{subject:?} starts with a wildcard, which also matches NATS system, JetStream and inbox subjects: start with a literal token"
            ));
        }
        // `$JS`, `$KV`, `$SYS`, ...; `_INBOX`, `_R_` (reply inboxes) and
        // anything else a NATS library keeps for itself under `_`.
        if first.starts_with(['$', '_']) {
            return Err(format!(
                "{subject:?} starts with `$` or `_`, which NATS keeps for system, JetStream and inbox subjects"
            ));
        }
        if SYSTEM_PREFIXES.contains(&first) {
            return Err(format!(
                "{subject:?} is under {first:?}, a prefix NATS tooling uses for key-value and object stores"
            ));
        }
        if let Some(own) = self.platform_patterns().into_iter().find(|own| subjects_intersect(subject, own)) {
            return Err(format!(
                "{subject:?} overlaps the platform's own subject {own:?}: choose another subject"
            ));
        }
        // Another platform on the same NATS (another prefix) serves these:
        // a sync trigger there would answer its requests.
        for (i, token) in tokens.iter().enumerate().skip(1) {
            if let Some((_, rest, shape)) = SERVICE_TOKENS.iter().find(|(service, ..)| service == token)
                && subjects_intersect(&tokens[i + 1..].join("."), rest)
            {
                return Err(format!(
                    "{subject:?} looks like another platform's subject `<prefix>.{token}.{shape}`: a trigger may not serve it"
                ));
            }
        }
        Ok(())
    }

    /// Every subject pattern the platform publishes or serves on.
    fn platform_patterns(&self) -> Vec<String> {
        let p = &self.prefix;
        vec![
            self.exec_all(),
            self.http_all(),
            self.jobs_all(),
            format!("{p}.results.*.*"),
            self.dead_letters_all(),
            self.callbacks_all(),
            self.kept_inputs_all(),
            self.admin_all(),
            format!("{p}.ping.*"),
            format!("{p}.metrics.*"),
            self.pipeline_all(),
            format!("{p}.errors.>"),
            self.audit_all(),
            self.call_logs_all(),
            self.shadow_outcomes_all(),
        ]
    }

    /// `<prefix>.admin.<command>`: bucket and function commands for the dispatcher.
    pub fn admin(&self, command: &str) -> String {
        format!("{}.admin.{command}", self.prefix)
    }

    /// What dispatchers subscribe to.
    pub fn admin_all(&self) -> String {
        format!("{}.admin.>", self.prefix)
    }

    /// `<prefix>.audit.<action>`: an [`crate::audit::AuditEvent`] for each
    /// admin action.
    pub fn audit(&self, action: &str) -> String {
        format!("{}.audit.{action}", self.prefix)
    }

    /// Every audit event.
    pub fn audit_all(&self) -> String {
        self.audit(">")
    }

    /// `<prefix>.logs.<bucket>.<function>`: a [`crate::logs::CallLog`] for
    /// each call of the function, published by the executor that ran it.
    pub fn call_log(&self, function: &FunctionRef) -> String {
        format!("{}.logs.{}.{}", self.prefix, function.bucket, function.function)
    }

    /// Every call log: the subjects of [`crate::JetStreamNames::logs_stream`].
    pub fn call_logs_all(&self) -> String {
        format!("{}.logs.>", self.prefix)
    }

    /// `<prefix>.shadow.<bucket>.<function>`: a
    /// [`crate::shadow::ShadowOutcome`] for each shadowed call of the
    /// function, published by the executor that ran the pair.
    pub fn shadow_outcome(&self, function: &FunctionRef) -> String {
        format!("{}.shadow.{}.{}", self.prefix, function.bucket, function.function)
    }

    /// The shadow outcomes of every function of `bucket`.
    pub fn shadow_outcomes_of_bucket(&self, bucket: &crate::BucketName) -> String {
        format!("{}.shadow.{bucket}.*", self.prefix)
    }

    /// Every shadow outcome: the subjects of
    /// [`crate::JetStreamNames::shadow_outcomes_stream`].
    pub fn shadow_outcomes_all(&self) -> String {
        format!("{}.shadow.>", self.prefix)
    }

    /// Liveness probe answered by any one executor.
    pub fn ping_executor(&self) -> String {
        format!("{}.ping.executor", self.prefix)
    }

    /// Liveness probe answered by any one dispatcher.
    pub fn ping_dispatcher(&self) -> String {
        format!("{}.ping.dispatcher", self.prefix)
    }

    /// The NATS micro service name of a role ([`ROLE_EXECUTOR`],
    /// [`ROLE_DISPATCHER`]) on this prefix, e.g. `faas-executor`: what
    /// `nats micro ls` lists and `$SRV.PING.<name>` reaches. Two platforms
    /// on one account have distinct names.
    pub fn service_name(&self, role: &str) -> String {
        let prefix: String = self
            .prefix
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' })
            .collect();
        format!("{prefix}-{role}")
    }

    /// Queue group of the executors: each exec request runs on exactly one.
    pub fn executor_group(&self) -> String {
        format!("{}-executors", self.prefix.replace('.', "-"))
    }

    /// Queue group of the dispatchers: each admin command runs on exactly one.
    pub fn dispatcher_group(&self) -> String {
        format!("{}-dispatchers", self.prefix.replace('.', "-"))
    }
}

/// The two subject tokens of a target: `<bucket>.<function>` or `pipeline.<name>`.
fn target_tokens(target: &Target) -> String {
    match target {
        Target::Function(f) => format!("{}.{}", f.bucket, f.function),
        Target::Pipeline(name) => format!("{RESERVED_BUCKET}.{name}"),
    }
}

/// First tokens NATS tooling uses for its own stores (besides `$`- and
/// `_`-prefixed ones), which no trigger may listen or publish on.
const SYSTEM_PREFIXES: &[&str] = &["KV", "OBJ"];

/// Subject tokens under which any platform prefix serves requests, with the
/// tokens that follow them (as a pattern, and as shown to people): a subject
/// `<anything>.exec.<b>.<f>` is another platform's exec subject.
const SERVICE_TOKENS: &[(&str, &str, &str)] = &[
    ("exec", "*.*", "<bucket>.<function>"),
    ("http", "*.*", "<bucket>.<function>"),
    ("admin", ">", "<command>"),
    ("pipeline", "*", "<name>"),
    ("ping", "*", "<role>"),
];

/// Whether every subject `pattern` matches is also matched by `within`.
pub fn subject_within(pattern: &str, within: &str) -> bool {
    let (mut p, mut w) = (pattern.split('.'), within.split('.'));
    loop {
        match (p.next(), w.next()) {
            (Some(_), Some(">")) => return true,
            (Some(">"), Some(_)) => return false,
            (Some(x), Some(y)) if x == y || (y == "*" && x != ">") => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Longest subject accepted in a definition.
const MAX_SUBJECT_LEN: usize = 255;

/// NATS subject syntax: dot-separated non-empty tokens of visible ASCII;
/// with `wildcards`, `*` as a whole token and `>` as a whole last token.
pub(crate) fn check_syntax(subject: &str, wildcards: bool) -> Result<(), String> {
    if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN {
        return Err(format!("a subject has 1 to {MAX_SUBJECT_LEN} characters, got {}", subject.len()));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("invalid subject {subject:?}: tokens are non-empty visible ASCII"));
        }
        let wild = *token == "*" || (*token == ">" && i == tokens.len() - 1);
        if wild && !wildcards {
            return Err(format!("invalid subject {subject:?}: an output subject cannot hold wildcards"));
        }
        if !wild && token.contains(['*', '>']) {
            return Err(format!(
                "invalid subject {subject:?}: `*` and `>` must be whole tokens, `>` the last"
            ));
        }
    }
    Ok(())
}

/// Whether some subject matches both patterns.
pub fn subjects_intersect(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.split('.'), b.split('.'));
    loop {
        match (a.next(), b.next()) {
            (Some(">"), Some(_)) | (Some(_), Some(">")) => return true,
            (Some(x), Some(y)) if x == y || x == "*" || y == "*" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_subjects_round_trip() {
        let subjects = Subjects::new("t1.faas");
        let f = FunctionRef::new("functions", "hello").unwrap();
        let s = subjects.exec(&f);
        assert_eq!(s, "t1.faas.exec.functions.hello");
        assert_eq!(subjects.parse_exec(&s), Some(f.clone()));
        assert_eq!(subjects.parse_exec("t1.faas.admin.x"), None);
        assert_eq!(subjects.parse_exec("other.exec.functions.hello"), None);
        assert_eq!(subjects.executor_group(), "t1-faas-executors");
        let target = Target::Function(f.clone());
        assert_eq!(subjects.job(&target), "t1.faas.jobs.functions.hello");
        assert_eq!(subjects.parse_job("t1.faas.jobs.functions.hello"), Some(target.clone()));
        assert_eq!(subjects.job_result(&target), "t1.faas.results.functions.hello");
        let pipeline = Target::Pipeline(PipelineName::new("greet").unwrap());
        assert_eq!(subjects.job(&pipeline), "t1.faas.jobs.pipeline.greet");
        assert_eq!(subjects.parse_job("t1.faas.jobs.pipeline.greet"), Some(pipeline.clone()));
        assert_eq!(subjects.job_result(&pipeline), "t1.faas.results.pipeline.greet");
        assert_eq!(subjects.parse_pipeline("t1.faas.pipeline.greet"), PipelineName::new("greet").ok());
        assert_eq!(subjects.dead_letter("j1"), "t1.faas.deadletter.j1");
        assert_eq!(subjects.dead_letters_all(), "t1.faas.deadletter.*");
        assert_eq!(subjects.callback("j1"), "t1.faas.callbacks.j1");
        assert_eq!(subjects.callbacks_all(), "t1.faas.callbacks.*");
        assert_eq!(subjects.call_log(&f), "t1.faas.logs.functions.hello");
        assert_eq!(subjects.call_logs_all(), "t1.faas.logs.>");
    }

    #[test]
    fn trigger_subjects_stay_out_of_the_platform() {
        let subjects = Subjects::default();
        for ok in ["orders.created", "orders.*", "orders.>", "orders.*.eu", "faasx.y", "faas.orders"] {
            assert_eq!(subjects.check_trigger_subject(ok), Ok(()), "{ok}");
        }
        for bad in [
            ">",
            "faas.exec.b.f",
            "faas.>",
            "*.exec.>",
            "*.>",
            "$JS.API.>",
            "_INBOX.x",
            "*.created",
            "a..b",
            "a b",
            "a.b*",
            "a.>.b",
            "",
            "_R_.>",
            "_anything.x",
            "KV.>",
            "OBJ.bucket.x",
            "team1.faas.exec.*.*",
            "team1.faas.exec.>",
            "x.exec.b.f",
            "team1.faas.admin.>",
            "team1.faas.pipeline.p",
            "team1.ping.executor",
            "team1.>.x",
        ] {
            assert!(subjects.check_trigger_subject(bad).is_err(), "{bad} should be refused");
        }
        assert!(subjects.check_output_subject("orders.enriched").is_ok());
        for bad in ["orders.*", "orders.>", "faas.results.x.y", "faas.logs.b.f", "_INBOX.abc"] {
            assert!(subjects.check_output_subject(bad).is_err(), "{bad} should be refused");
        }
        for ok in ["team1.exec", "orders.exec.x", "KVX.y", "team1.faas.jobs.a.b"] {
            assert_eq!(subjects.check_trigger_subject(ok), Ok(()), "{ok}");
        }
        assert!(subjects_intersect("a.*", "a.b") && !subjects_intersect("a.*", "a.b.c"));
        assert!(subject_within("orders.eu.x", "orders.>") && subject_within("orders.*", "orders.*"));
        assert!(subject_within("orders.eu", "orders.*") && !subject_within("orders.>", "orders.*"));
        assert!(!subject_within("orders", "orders.>") && !subject_within("order.x", "orders.>"));
        assert!(subject_within("orders.>", "orders.>") && !subject_within("orders.*", "orders.x"));
        assert!(subjects_intersect("a.>", "a.b.c") && !subjects_intersect("a.>", "a"));
    }
}
