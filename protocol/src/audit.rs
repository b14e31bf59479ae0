//! The audit trail: who changed what, and how it went.
//!
//! Every admin action (an admin command that changes something, a job
//! re-drive, a refused attempt at a change) is published as an
//! [`AuditEvent`] in JSON on `<prefix>.audit.<action>`
//! ([`crate::Subjects::audit`]) by the process that knows its outcome, and
//! logged there under the tracing target [`LOG_TARGET`]. The action and
//! target of an admin command come from the command itself
//! ([`AdminRequest::audit`]), so a command added later is audited without
//! code of its own.

use serde::{Deserialize, Serialize};

use crate::admin::AdminRequest;
use crate::error::ErrorCode;

/// The tracing target audit lines are logged under.
pub const LOG_TARGET: &str = "audit";

/// The action of a job re-drive (done by the api, not a dispatcher).
pub const REDRIVE_JOB: &str = "redrive_job";

/// The action of a change refused for a missing scope (403 on a route
/// that changes something).
pub const FORBIDDEN: &str = "forbidden";

/// Who acted: the principal the api authenticated (its token's id and
/// name), or [`Principal::unknown`] for a NATS client that named none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AuditPrincipal))]
pub struct Principal {
    /// The token's id (`bootstrap` for the `FAAS_ADMIN_TOKEN` one).
    pub id: String,
    /// The token's name.
    pub name: String,
}

impl Principal {
    /// The principal of a message that carried none: a NATS client that is
    /// not the api (NATS permissions decided it may send the command).
    pub fn unknown() -> Self {
        Self { id: "unknown".into(), name: "nats".into() }
    }

    /// `<id> (<name>)`, as versions, aliases and shadowing record who made
    /// them; `None` for [`Principal::unknown`].
    pub fn label(&self) -> Option<String> {
        (self.id != Self::unknown().id).then(|| format!("{} ({})", self.id, self.name))
    }
}

/// What an action was about; only the fields that apply are set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AuditTarget))]
pub struct Target {
    /// A bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// A function, `<bucket>/<function>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// A trigger's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// A pipeline's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// An api token's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A job's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The HTTP method and path of a refused request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

impl Target {
    /// A job's: its id, and the function (and its bucket) or the pipeline
    /// it runs.
    pub fn job(job_id: &str, runs: &crate::Target) -> Self {
        let mut target = Self { job: Some(job_id.to_owned()), ..Self::default() };
        match runs {
            crate::Target::Function(function) => {
                target.bucket = Some(function.bucket.to_string());
                target.function = Some(function.to_string());
            }
            crate::Target::Pipeline(name) => target.pipeline = Some(name.to_string()),
        }
        target
    }
}

/// How an action ended: `"ok"` or `{"error": "<code>"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    /// It was done.
    Ok,
    /// It failed, or was refused, with this code.
    Error(ErrorCode),
}

impl Outcome {
    /// The outcome of a result whose error has a code.
    pub fn of<T, E>(result: &Result<T, E>, code: impl FnOnce(&E) -> ErrorCode) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(err) => Self::Error(code(err)),
        }
    }
}

/// One audited action, as published on `<prefix>.audit.<action>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// When it ended, in Unix milliseconds.
    pub at_ms: u64,
    /// The request id of the request that did it.
    pub request_id: String,
    /// What was done: the admin command's name, [`REDRIVE_JOB`] or
    /// [`FORBIDDEN`].
    pub action: String,
    /// Who did it.
    pub principal: Principal,
    /// What it was about.
    pub target: Target,
    /// How it went.
    pub outcome: Outcome,
}

/// What [`AdminRequest::audit`] finds in a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audited {
    /// The action: the command's name.
    pub action: &'static str,
    /// What it is about.
    pub target: Target,
}

impl AdminRequest {
    /// The action and target to audit this command under, or `None` for a
    /// command that only reads (named `list_*` or `get_*`).
    ///
    /// The target is read off the command's fields by their names, which
    /// every command shares: `bucket`, `function` (a function's address,
    /// or a definition's `spec.function`), `name` (of what the command's
    /// name says: `put_trigger` names a trigger) and `token` (a token's id,
    /// or a record holding it).
    pub fn audit(&self) -> Option<Audited> {
        let action = self.command();
        if action.starts_with("list_") || action.starts_with("get_") {
            return None;
        }
        let fields = serde_json::to_value(self).expect("admin commands always serialise");
        let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
        let mut target = Target { bucket: fields.get("bucket").and_then(text), ..Target::default() };
        // A function's address as a command field, or as a definition's
        // `"<bucket>/<function>"` (a trigger's spec).
        let function = fields.get("function").or_else(|| fields.get("spec")?.get("function"));
        let address = function.and_then(|function| match function.as_str() {
            Some(text) => text.split_once('/').map(|(b, f)| (b.to_owned(), f.to_owned())),
            None => {
                let part = |name: &str| function.get(name)?.as_str().map(str::to_owned);
                Some((part("bucket")?, part("function")?))
            }
        });
        if let Some((bucket, name)) = address {
            target.function = Some(format!("{bucket}/{name}"));
            target.bucket = Some(bucket);
        }
        if let Some(name) = fields.get("name").and_then(text) {
            match action.rsplit('_').next() {
                Some("trigger") => target.trigger = Some(name),
                Some("pipeline") => target.pipeline = Some(name),
                _ => {}
            }
        }
        if let Some(token) = fields.get("token") {
            target.token = text(token).or_else(|| token.get("id").and_then(text));
        }
        Some(Audited { action, target })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{CreateToken, DeleteBucket, ListBuckets, PutFunction, PutTrigger, RevokeToken};
    use crate::auth::TokenRecord;
    use crate::{BucketName, FunctionRef, StagedObject, TriggerMode, TriggerName, TriggerSpec};

    #[test]
    fn commands_that_change_something_name_their_action_and_target() {
        let delete =
            AdminRequest::from(DeleteBucket { bucket: BucketName::new("bk1").unwrap(), force: false });
        let audited = delete.audit().unwrap();
        assert_eq!(audited.action, "delete_bucket");
        assert_eq!(audited.target, Target { bucket: Some("bk1".into()), ..Target::default() });

        let put = AdminRequest::from(PutFunction {
            function: FunctionRef::new("bk1", "f1").unwrap(),
            staged: StagedObject { name: "x".into(), size: 1 },
            description: None,
        });
        let target = put.audit().unwrap().target;
        assert_eq!((target.bucket.as_deref(), target.function.as_deref()), (Some("bk1"), Some("bk1/f1")));

        let trigger = AdminRequest::from(PutTrigger {
            name: TriggerName::new("t1").unwrap(),
            spec: TriggerSpec {
                subject: Some("events.x".into()),
                schedule: None,
                time_zone: None,
                input: None,
                function: FunctionRef::new("bk1", "f1").unwrap(),
                version: None,
                output_subject: None,
                mode: TriggerMode::default(),
            },
        });
        let target = trigger.audit().unwrap().target;
        assert_eq!(target.trigger.as_deref(), Some("t1"));
        assert_eq!(target.function.as_deref(), Some("bk1/f1"));
        assert_eq!(target.pipeline, None);

        let record = TokenRecord {
            id: "a".repeat(32),
            name: "n".into(),
            scopes: vec![],
            created_at_ms: 1,
            expires_at_ms: None,
            secret_sha256: "0".repeat(64),
        };
        let create = AdminRequest::from(CreateToken { token: record }).audit().unwrap();
        assert_eq!((create.action, create.target.token), ("create_token", Some("a".repeat(32))));
        let revoke = AdminRequest::from(RevokeToken { token: "b".repeat(32) }).audit().unwrap();
        assert_eq!(revoke.target.token, Some("b".repeat(32)));
    }

    #[test]
    fn reads_are_not_audited_and_outcomes_are_ok_or_a_code() {
        assert_eq!(AdminRequest::from(ListBuckets {}).audit(), None);
        assert_eq!(serde_json::to_value(Outcome::Ok).unwrap(), "ok");
        assert_eq!(
            serde_json::to_value(Outcome::Error(ErrorCode::BucketNotFound)).unwrap(),
            serde_json::json!({"error": "bucket_not_found"})
        );
    }
}
