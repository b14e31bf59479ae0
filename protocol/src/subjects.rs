//! The one place that spells NATS subjects and queue groups.
//!
//! Everything is under a configurable prefix (default `faas`) so that several
//! platforms, or a test per platform, can share one NATS account.

use crate::names::FunctionRef;

/// Default subject prefix.
pub const DEFAULT_PREFIX: &str = "faas";

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

    /// `<prefix>.jobs.<bucket>.<function>`: asynchronous jobs, stored in the
    /// [`crate::jobs::JOBS_STREAM`] stream until a worker finished them.
    pub fn job(&self, function: &FunctionRef) -> String {
        format!("{}.jobs.{}.{}", self.prefix, function.bucket, function.function)
    }

    /// The jobs stream's subjects: every function's job subject.
    pub fn jobs_all(&self) -> String {
        format!("{}.jobs.*.*", self.prefix)
    }

    /// Splits a job subject back into its function.
    pub fn parse_job(&self, subject: &str) -> Option<FunctionRef> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix(".jobs.")?;
        let (bucket, function) = rest.split_once('.')?;
        FunctionRef::new(bucket, function).ok()
    }

    /// `<prefix>.results.<bucket>.<function>`: every finished job's
    /// [`crate::jobs::JobRecord`], for any subscriber.
    pub fn job_result(&self, function: &FunctionRef) -> String {
        format!("{}.results.{}.{}", self.prefix, function.bucket, function.function)
    }

    /// `<prefix>.admin.<command>`: bucket and function commands for the dispatcher.
    pub fn admin(&self, command: &str) -> String {
        format!("{}.admin.{command}", self.prefix)
    }

    /// What dispatchers subscribe to.
    pub fn admin_all(&self) -> String {
        format!("{}.admin.>", self.prefix)
    }

    /// Liveness probe answered by any one executor.
    pub fn ping_executor(&self) -> String {
        format!("{}.ping.executor", self.prefix)
    }

    /// Liveness probe answered by any one dispatcher.
    pub fn ping_dispatcher(&self) -> String {
        format!("{}.ping.dispatcher", self.prefix)
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
        assert_eq!(subjects.job(&f), "t1.faas.jobs.functions.hello");
        assert_eq!(subjects.parse_job("t1.faas.jobs.functions.hello"), Some(f.clone()));
        assert_eq!(subjects.job_result(&f), "t1.faas.results.functions.hello");
    }
}
