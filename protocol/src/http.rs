//! The JSON bodies of the HTTP api that are not admin messages as they are.
//!
//! The api answers with these, and `faas-client` reads them, so the server
//! and its Rust clients share one definition of each body. Where an api
//! answer has the same shape as an admin reply ([`crate::admin::BucketList`],
//! [`crate::admin::TriggerList`], [`crate::admin::PipelineList`],
//! [`crate::Trigger`], [`crate::Pipeline`], [`crate::JobRecord`],
//! [`crate::ExecLogsReply`]) that type is used instead of a copy.

use serde::{Deserialize, Serialize};

use crate::admin::FunctionInfo;
use crate::audit::AuditEvent;
use crate::auth::Scope;
use crate::error::ErrorBody;
use crate::jobs::{JobRecord, JobStatus};
use crate::names::{BucketName, FunctionName};

/// The request id of every answer (and of a request, if the client sets
/// one): the `Faas-Request-Id` the call carries on the bus.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// On an exec answer: the executor that ran the call.
pub const EXECUTOR_HEADER: &str = "x-faas-executor";
/// On an exec answer: sha256 of the component version that ran.
pub const DIGEST_HEADER: &str = "x-faas-digest";
/// Response header of a failed sync call whose input was kept: the call id
/// for `POST /calls/{id}/replay`.
pub const CALL_ID_HEADER: &str = "x-faas-call-id";
/// On an exec answer: `memory`, `artifact` or `compiled`.
pub const CACHE_HEADER: &str = "x-faas-cache";
/// On an exec or HTTP-function request: the key a weighted alias picks a
/// version by (the bus's `Faas-Route-Key`), sticky per key.
pub const ROUTE_KEY_HEADER: &str = "x-faas-route-key";
/// Request header of an upload: the new version's description (as the
/// multipart field `description`), at most 1 KiB.
pub const DESCRIPTION_HEADER: &str = "x-faas-description";
/// On an exec request: `true` asks for stdout and stderr, as `?logs=true`.
pub const INCLUDE_LOGS_HEADER: &str = "x-faas-include-logs";
/// On an async request: the job id is derived from it and the target.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// On an async request: where the job's outcome is POSTed.
pub const CALLBACK_URL_HEADER: &str = "x-callback-url";

/// `201` to `PUT /bucket/{bucket}` (and `200` when it changed an existing
/// bucket's settings, or to `PATCH`): the bucket and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedBucket {
    /// The bucket created.
    pub bucket: BucketName,
    /// Whether callers without a token may run its functions.
    #[serde(default)]
    pub public_invoke: bool,
    /// The capabilities its functions get when their configuration sets
    /// none (`PATCH /bucket/{bucket}` `{"capabilities": ...}`); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<crate::CapabilityGrants>,
}

/// `GET /bucket/{bucket}`: the bucket's functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BucketFunctions {
    /// The bucket listed.
    pub bucket: BucketName,
    /// Its functions.
    pub functions: Vec<FunctionInfo>,
    /// Whether callers without a token may run its functions.
    #[serde(default)]
    pub public_invoke: bool,
    /// The capabilities its functions get when their configuration sets
    /// none (`PATCH /bucket/{bucket}` `{"capabilities": ...}`); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<crate::CapabilityGrants>,
}

/// The answer to a `DELETE` of a bucket, function, trigger or pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deleted {
    /// What was deleted: a bucket, `<bucket>/<function>`, or a trigger's
    /// or pipeline's name.
    pub deleted: String,
}

/// `201` to `POST /file/{bucket}/{function}`: the function as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Uploaded {
    /// Its bucket.
    pub bucket: BucketName,
    /// Its name.
    pub function: FunctionName,
    /// Component size in bytes.
    pub size: u64,
    /// The store's entity tag.
    pub etag: Option<String>,
    /// Last modification (RFC 3339).
    pub last_modified: Option<String>,
    /// sha256 of the component, hex.
    pub digest: String,
    /// Which world the component exports, detected at upload: `exec`
    /// (call it with `/exec`) or `http` (a `wasi:http/proxy` handler, call
    /// it with `/run`).
    #[serde(default)]
    pub world: crate::World,
}

/// `200` to `POST /exec/...` (without logs): the function's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecResult {
    /// The output, lossily decoded as UTF-8.
    pub result: String,
}

/// `202` to `POST /async/...`: the job is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobAccepted {
    /// The job's id.
    pub job_id: String,
    /// Where its record is, `/jobs/<id>` (also the `Location` header).
    pub status_url: String,
    /// Its status now.
    pub status: JobStatus,
    /// Whether an earlier POST with the same `Idempotency-Key` made it.
    pub duplicate: bool,
}

/// `GET /jobs`: records, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobList {
    /// The jobs the token may see.
    pub jobs: Vec<JobRecord>,
}

/// A token as `GET /tokens` lists it: never its secret or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    /// The token's id.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Unix time in milliseconds when it was created.
    pub created_at_ms: u64,
    /// Unix time in milliseconds after which it is refused, if ever.
    pub expires_at_ms: Option<u64>,
    /// Whether it is expired now.
    pub expired: bool,
    /// The last use the answering api saw, if any.
    pub last_used_at_ms: Option<u64>,
}

/// `GET /tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenList {
    /// Every stored token, oldest first.
    pub tokens: Vec<TokenInfo>,
}

/// `201` to `POST /tokens`: the only answer that holds the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    /// The token's id.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Unix time in milliseconds when it was created.
    pub created_at_ms: u64,
    /// Unix time in milliseconds after which it is refused, if ever.
    pub expires_at_ms: Option<u64>,
    /// The bearer token to send (`faas_<id>_<secret>`): shown this once.
    pub token: String,
}

/// `DELETE /tokens/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revoked {
    /// The id of the token revoked.
    pub revoked: String,
}

/// `GET /audit`: audit events, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditList {
    /// The most recent events.
    pub events: Vec<AuditEvent>,
}

/// `GET /health`: the api process answers (nothing else is checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// `GET /ready`: `200` when NATS is connected and an executor and a healthy
/// dispatcher answer, else `503` with the same body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// Whether the platform can serve calls.
    pub ready: bool,
    /// `connected` or `disconnected`.
    pub nats: String,
    /// `ok`, `none running` or `unknown` (NATS down).
    pub executor: String,
    /// Executors that answered.
    pub executors: usize,
    /// `ok`, `none running`, `unknown`, or a dispatcher's degraded status.
    pub dispatcher: String,
    /// Dispatchers that answered.
    pub dispatchers: usize,
    /// `on` when tokens are checked, `off` otherwise.
    pub auth: String,
}

/// Every error answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error in an [`ErrorResponse`]: code and message, and where a
/// pipeline stopped when one did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Code and message.
    #[serde(flatten)]
    pub body: ErrorBody,
    /// The pipeline step that failed, numbered from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// That step's function, `<bucket>/<function>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn error_answers_flatten_the_code_and_message() {
        let wire = serde_json::json!({"error": {"code": "function_trapped", "message": "boom",
                                                "step": 2, "function": "fns/hello"}});
        let parsed: ErrorResponse = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(parsed.error.body, ErrorBody::new(ErrorCode::FunctionTrapped, "boom"));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), wire);
        let plain: ErrorResponse =
            serde_json::from_value(serde_json::json!({"error": {"code": "not_found", "message": "no"}}))
                .unwrap();
        assert_eq!((plain.error.step, plain.error.function), (None, None));
    }
}
