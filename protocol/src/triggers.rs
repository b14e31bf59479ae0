//! Event triggers: a NATS subject that runs a function for every message,
//! or a schedule that runs it once per tick.
//!
//! A trigger turns any NATS publisher into a caller: dispatchers subscribe
//! to the trigger's subject (in one queue group per trigger, so each event
//! runs once across all of them), run the function with the message payload
//! and publish the output. A scheduled trigger listens on a subject of the
//! platform's own ([`Subjects::schedule`]) where, at each tick, the one
//! dispatcher that claimed the tick publishes it, so a tick is an event like
//! any other. Definitions live in the [`triggers`](crate::jetstream::JetStreamNames::triggers) key-value
//! bucket, which every dispatcher watches, so adding or removing a trigger
//! needs no restart. Output subjects chain triggers; the [`crate::headers::HOPS`]
//! header counts the links so that a cycle is cut after [`DEFAULT_MAX_HOPS`].

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::names::{FunctionRef, Target, TriggerName};
use crate::subjects::{Subjects, check_syntax, subject_within, subjects_intersect};

/// Trigger links an event may pass through before it is dropped (with a
/// `hop_limit_exceeded` failure): long enough for real chains, short enough
/// to stop a cycle quickly.
pub const DEFAULT_MAX_HOPS: u32 = 8;

/// Functions one event may run across its whole chain of triggers, every
/// branch of a fan-out counted; past it, events are refused with
/// `fan_out_exceeded`. The hop limit alone bounds a chain's depth, not its
/// width: K triggers on each side of a two-subject cycle would run K^8
/// functions before it.
pub const DEFAULT_EVENT_BUDGET: u32 = 100;

/// The namespaces an operator lets triggers use (`FAAS_TRIGGER_SUBJECTS`),
/// on top of the rules that always hold ([`Subjects::check_trigger_subject`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriggerSubjectPolicy {
    /// Subject patterns; empty: any subject the fixed rules allow.
    allowed: Vec<String>,
}

impl TriggerSubjectPolicy {
    /// Triggers may use only subjects within one of `patterns` (NATS
    /// patterns, e.g. `orders.>`); no pattern means no restriction.
    pub fn new(patterns: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let allowed: Vec<String> =
            patterns.into_iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect();
        for pattern in &allowed {
            check_syntax(pattern, true).map_err(|e| format!("allowed trigger subjects: {e}"))?;
        }
        Ok(Self { allowed })
    }

    /// Checks that the trigger's subject and output subject are each within
    /// an allowed pattern.
    pub fn check(&self, spec: &TriggerSpec) -> Result<(), String> {
        if self.allowed.is_empty() {
            return Ok(());
        }
        let subjects = spec
            .subject
            .iter()
            .map(|subject| ("subject", subject))
            .chain(spec.output_subject.iter().map(|output| ("output_subject", output)));
        for (field, subject) in subjects {
            if !self.allowed.iter().any(|allowed| subject_within(subject, allowed)) {
                return Err(format!(
                    "{field}: {subject:?} is outside the subjects triggers may use here \
                     (FAAS_TRIGGER_SUBJECTS: {})",
                    self.allowed.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// How a trigger runs its function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TriggerMode {
    /// Run at once through the executors; the output goes out when it is done.
    #[default]
    Sync,
    /// Store the event as a durable job (retries, job record, dead letter).
    Async,
}

/// What `PUT /trigger/{name}` takes and the trigger store holds: a subject
/// or a schedule, exactly one.
///
/// `function` may be `"<bucket>/<function>@<version or alias>"` (see
/// [`crate::aliases`]); the suffix is split off into [`TriggerSpec::version`]
/// and put back in the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TriggerJson", into = "TriggerJson")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TriggerSpec {
    /// The subject listened on (wildcards allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A cron expression (five fields, or six with seconds first): the
    /// function runs once per tick, across all dispatchers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The IANA time zone the schedule is read in (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// What a scheduled run gets as input (default: a JSON object with the
    /// trigger's name and the tick's time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The function run for each message, `"<bucket>/<function>[@<version or alias>]"`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub function: FunctionRef,
    /// The version or alias of `function` it runs (`None`: the current one).
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub version: Option<String>,
    /// Where the output is published, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_subject: Option<String>,
    /// `sync` (default) or `async`.
    #[serde(default)]
    pub mode: TriggerMode,
}

/// [`TriggerSpec`] as JSON holds it: the function and its version in one string.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    function: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output_subject: Option<String>,
    #[serde(default)]
    mode: TriggerMode,
}

impl TryFrom<TriggerJson> for TriggerSpec {
    type Error = String;
    fn try_from(json: TriggerJson) -> Result<Self, String> {
        let TriggerJson { subject, schedule, time_zone, input, function, output_subject, mode } = json;
        let (name, version) = crate::versions::split_at_version(&function);
        let version = version
            .map(crate::aliases::check_version_or_alias)
            .transpose()
            .map_err(|e| format!("function {function}: {}", e.message))?;
        let function = name.parse::<FunctionRef>().map_err(|e| e.to_string())?;
        Ok(Self { subject, schedule, time_zone, input, function, version, output_subject, mode })
    }
}

impl From<TriggerSpec> for TriggerJson {
    fn from(spec: TriggerSpec) -> Self {
        let TriggerSpec { subject, schedule, time_zone, input, function, version, output_subject, mode } =
            spec;
        let function = match version {
            Some(version) => format!("{function}@{version}"),
            None => function.to_string(),
        };
        Self { subject, schedule, time_zone, input, function, output_subject, mode }
    }
}

impl TriggerSpec {
    /// Checks the subjects: see [`Subjects::check_trigger_subject`] and
    /// [`Subjects::check_output_subject`]; an output subject the trigger
    /// itself listens on would feed it forever, so it is refused too.
    /// Exactly one of `subject` and `schedule` must be given; `time_zone`
    /// and `input` belong to a schedule. The schedule's syntax is the
    /// dispatcher's to check: it is the one that reads it.
    pub fn check(&self, subjects: &Subjects) -> Result<(), String> {
        match (&self.subject, &self.schedule) {
            (Some(_), Some(_)) => return Err("give a subject or a schedule, not both".into()),
            (None, None) => return Err("give a subject to listen on, or a schedule".into()),
            (Some(_), None) if self.time_zone.is_some() || self.input.is_some() => {
                return Err("time_zone and input belong to a schedule, not to a subject trigger".into());
            }
            _ => {}
        }
        if let Some(subject) = &self.subject {
            subjects.check_trigger_subject(subject).map_err(|e| format!("subject: {e}"))?;
        }
        if let Some(output) = &self.output_subject {
            subjects.check_output_subject(output).map_err(|e| format!("output_subject: {e}"))?;
            if let Some(subject) = self.subject.as_deref().filter(|s| subjects_intersect(s, output)) {
                return Err(format!(
                    "output_subject {output:?} matches the trigger's own subject {subject:?}: it would feed itself"
                ));
            }
        }
        Ok(())
    }

    /// The subject the trigger's events arrive on: its own, or for a
    /// schedule the platform's [`Subjects::schedule`].
    pub fn listen_subject(&self, subjects: &Subjects, name: &TriggerName) -> String {
        self.subject.clone().unwrap_or_else(|| subjects.schedule(name))
    }
}

/// A trigger as listed: its name and definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Trigger {
    /// The trigger's name.
    pub name: TriggerName,
    /// Its definition.
    #[serde(flatten)]
    pub spec: TriggerSpec,
}

/// Published on `<prefix>.errors.trigger.<name>` for every event a trigger
/// could not run, so failures are never silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerFailure {
    /// The trigger.
    pub trigger: TriggerName,
    /// The event's request id (from its `Faas-Request-Id`, or minted).
    pub request_id: String,
    /// The subject the event arrived on.
    pub subject: String,
    /// What the trigger runs, `"<bucket>/<function>"`.
    pub function: Target,
    /// What went wrong, for machines.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// The job id, when the trigger is async.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Result<TriggerSpec, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn a_trigger_may_name_a_version_or_an_alias() {
        let json = serde_json::json!({"subject": "a.b", "function": "fns/hello@stable"});
        let parsed = spec(json.clone()).unwrap();
        assert_eq!(parsed.function.to_string(), "fns/hello");
        assert_eq!(parsed.version.as_deref(), Some("stable"));
        assert_eq!(serde_json::to_value(&parsed).unwrap()["function"], json["function"]);
        let plain = spec(serde_json::json!({"subject": "a.b", "function": "fns/hello"})).unwrap();
        assert_eq!(plain.version, None);
        assert!(spec(serde_json::json!({"subject": "a.b", "function": "fns/hello@beef"})).is_err());
        assert!(spec(serde_json::json!({"subject": "a.b", "function": "fns/hello", "x": 1})).is_err());
    }

    #[test]
    fn specs_parse_with_defaults_and_print_back() {
        let s =
            spec(serde_json::json!({"subject": "orders.created", "function": "functions/hello"})).unwrap();
        assert_eq!(s.mode, TriggerMode::Sync);
        assert_eq!(
            serde_json::to_value(Trigger { name: TriggerName::new("t").unwrap(), spec: s }).unwrap(),
            serde_json::json!({"name": "t", "subject": "orders.created", "function": "functions/hello",
                               "mode": "sync"})
        );
        assert!(spec(serde_json::json!({"subject": "a", "function": "nobucket"})).is_err());
        assert!(spec(serde_json::json!({"subject": "a", "function": "fns/x", "mode": "later"})).is_err());
        assert!(spec(serde_json::json!({"subject": "a", "function": "fns/x", "typo": 1})).is_err());
    }

    #[test]
    fn the_operator_s_allow_list_holds_for_both_subjects() {
        let policy = TriggerSubjectPolicy::new(["orders.>".to_owned(), " audit.* ".to_owned()]).unwrap();
        let mut s = spec(serde_json::json!({"subject": "orders.eu.created", "function": "fns/x",
                                           "output_subject": "audit.orders"}))
        .unwrap();
        assert_eq!(policy.check(&s), Ok(()));
        s.output_subject = Some("billing.x".into());
        assert!(policy.check(&s).unwrap_err().starts_with("output_subject:"));
        s.subject = Some("orders2.x".into());
        assert!(policy.check(&s).unwrap_err().contains("FAAS_TRIGGER_SUBJECTS: orders.>, audit.*"));
        assert_eq!(TriggerSubjectPolicy::new(Vec::new()).unwrap().check(&s), Ok(()));
        assert!(TriggerSubjectPolicy::new(["a.>.b".to_owned()]).is_err());
    }

    #[test]
    fn a_trigger_cannot_feed_itself() {
        let subjects = Subjects::default();
        let mut s = spec(serde_json::json!({"subject": "orders.*", "function": "fns/x",
                                           "output_subject": "orders.enriched"}))
        .unwrap();
        assert!(s.check(&subjects).unwrap_err().contains("feed itself"));
        s.output_subject = Some("invoices.created".into());
        assert_eq!(s.check(&subjects), Ok(()));
        s.subject = Some("faas.exec.fns.x".into());
        assert!(s.check(&subjects).unwrap_err().starts_with("subject:"));
    }

    #[test]
    fn a_trigger_has_a_subject_or_a_schedule() {
        let subjects = Subjects::default();
        let name = TriggerName::new("nightly").unwrap();
        let scheduled = spec(serde_json::json!({"schedule": "0 3 * * *", "time_zone": "Europe/Paris",
                                                "function": "fns/x", "output_subject": "reports.nightly"}))
        .unwrap();
        assert_eq!(scheduled.check(&subjects), Ok(()));
        assert_eq!(scheduled.listen_subject(&subjects, &name), "faas.schedule.nightly");
        let both = spec(serde_json::json!({"schedule": "* * * * *", "subject": "a", "function": "fns/x"}));
        assert!(both.unwrap().check(&subjects).unwrap_err().contains("not both"));
        let neither = spec(serde_json::json!({"function": "fns/x"})).unwrap();
        assert!(neither.check(&subjects).is_err());
        let stray = spec(serde_json::json!({"subject": "a", "input": "x", "function": "fns/x"})).unwrap();
        assert!(stray.check(&subjects).unwrap_err().contains("belong to a schedule"));
        let subject = spec(serde_json::json!({"subject": "orders.*", "function": "fns/x"})).unwrap();
        assert_eq!(subject.listen_subject(&subjects, &name), "orders.*");
    }
}
