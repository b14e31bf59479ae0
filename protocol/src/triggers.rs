//! Event triggers: a NATS subject that runs a function for every message.
//!
//! A trigger turns any NATS publisher into a caller: dispatchers subscribe
//! to the trigger's subject (in one queue group per trigger, so each event
//! runs once across all of them), run the function with the message payload
//! and publish the output. Definitions live in the [`TRIGGERS`] key-value
//! bucket, which every dispatcher watches, so adding or removing a trigger
//! needs no restart. Output subjects chain triggers; the [`crate::headers::HOPS`]
//! header counts the links so that a cycle is cut after [`DEFAULT_MAX_HOPS`].

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::names::{FunctionRef, Target, TriggerName, function_ref_string};
use crate::subjects::{Subjects, subjects_intersect};

/// JetStream key-value bucket: trigger name → [`TriggerSpec`].
pub const TRIGGERS: &str = "faas-triggers";

/// Trigger links an event may pass through before it is dropped (with a
/// `hop_limit_exceeded` failure): long enough for real chains, short enough
/// to stop a cycle quickly.
pub const DEFAULT_MAX_HOPS: u32 = 8;

/// How a trigger runs its function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerMode {
    /// Run at once through the executors; the output goes out when it is done.
    #[default]
    Sync,
    /// Store the event as a durable job (retries, job record, dead letter).
    Async,
}

/// What `PUT /trigger/{name}` takes and the trigger store holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// The subject listened on (wildcards allowed).
    pub subject: String,
    /// The function run for each message, `"<bucket>/<function>"`.
    #[serde(with = "function_ref_string")]
    pub function: FunctionRef,
    /// Where the output is published, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_subject: Option<String>,
    /// `sync` (default) or `async`.
    #[serde(default)]
    pub mode: TriggerMode,
}

impl TriggerSpec {
    /// Checks the subjects: see [`Subjects::check_trigger_subject`] and
    /// [`Subjects::check_output_subject`]; an output subject the trigger
    /// itself listens on would feed it forever, so it is refused too.
    pub fn check(&self, subjects: &Subjects) -> Result<(), String> {
        subjects.check_trigger_subject(&self.subject).map_err(|e| format!("subject: {e}"))?;
        if let Some(output) = &self.output_subject {
            subjects.check_output_subject(output).map_err(|e| format!("output_subject: {e}"))?;
            if subjects_intersect(&self.subject, output) {
                return Err(format!(
                    "output_subject {output:?} matches the trigger's own subject {:?}: it would feed itself",
                    self.subject
                ));
            }
        }
        Ok(())
    }
}

/// A trigger as listed: its name and definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    fn a_trigger_cannot_feed_itself() {
        let subjects = Subjects::default();
        let mut s = spec(serde_json::json!({"subject": "orders.*", "function": "fns/x",
                                           "output_subject": "orders.enriched"}))
        .unwrap();
        assert!(s.check(&subjects).unwrap_err().contains("feed itself"));
        s.output_subject = Some("invoices.created".into());
        assert_eq!(s.check(&subjects), Ok(()));
        s.subject = "faas.exec.fns.x".into();
        assert!(s.check(&subjects).unwrap_err().starts_with("subject:"));
    }
}
