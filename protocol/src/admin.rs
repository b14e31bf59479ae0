//! Bucket and function commands, served by the dispatcher.
//!
//! Each command travels as JSON on `<prefix>.admin.<command>` so that logs,
//! permissions and metrics can tell commands apart by subject alone. Component
//! bytes never ride in these messages: they are staged in the
//! [`transfer_store`](crate::jetstream::JetStreamNames::transfer_store) object store and referred to by [`StagedObject`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::aliases::{AliasList, AliasRecord};
use crate::auth::TokenRecord;
use crate::buckets::{BucketSettings, BucketSettingsChange};
use crate::error::ErrorBody;
use crate::function_config::{FunctionConfigUpdate, FunctionConfigView};
use crate::names::{BucketName, FunctionRef, PipelineName, TriggerName};
use crate::pipelines::{Pipeline, PipelineSpec};
use crate::shadow::{ShadowConfig, ShadowReport, ShadowSpec};
use crate::triggers::{Trigger, TriggerSpec};
use crate::versions::VersionList;

/// An admin command: what it carries, the subject token it travels on, and
/// the type of its successful answer.
///
/// A command is sent as its [`AdminRequest`] variant and answered with an
/// [`AdminReply<Self::Reply>`], so a caller knows the shape of the answer from
/// the command it sent.
pub trait AdminCommand: Into<AdminRequest> {
    /// What the dispatcher answers on success.
    type Reply: Serialize + DeserializeOwned;
    /// The subject token of this command (`<prefix>.admin.<command>`) and its
    /// `command` tag in JSON.
    const COMMAND: &'static str;
}

/// Declares [`AdminRequest`], with each command's name written once: its
/// serde tag, [`AdminRequest::command`] and [`AdminCommand::COMMAND`].
macro_rules! admin_commands {
    ($($(#[$doc:meta])* $command:ident = $name:literal -> $reply:ty,)*) => {
        /// A command for the dispatcher, as it travels: JSON tagged by `command`.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "command")]
        pub enum AdminRequest {
            $($(#[$doc])* #[serde(rename = $name)] $command($command),)*
        }

        impl AdminRequest {
            /// The subject token of this command (`<prefix>.admin.<command>`).
            pub fn command(&self) -> &'static str {
                match self {
                    $(Self::$command(_) => $name,)*
                }
            }
        }

        $(
            impl AdminCommand for $command {
                type Reply = $reply;
                const COMMAND: &'static str = $name;
            }

            impl From<$command> for AdminRequest {
                fn from(command: $command) -> Self {
                    Self::$command(command)
                }
            }
        )*
    };
}

admin_commands! {
    /// List every bucket.
    ListBuckets = "list_buckets" -> BucketList,
    /// Create a bucket.
    CreateBucket = "create_bucket" -> Done,
    /// List a bucket's functions.
    ListFunctions = "list_functions" -> FunctionList,
    /// Delete a bucket; with `force`, its functions first.
    DeleteBucket = "delete_bucket" -> Done,
    /// Validate a staged component and store it as a function.
    PutFunction = "put_function" -> Stored,
    /// Stage a function's bytes in the transfer store for download.
    GetFunction = "get_function" -> StagedObject,
    /// Delete a function, with every version of it.
    DeleteFunction = "delete_function" -> Done,
    /// List a function's versions, newest first.
    ListVersions = "list_versions" -> VersionList,
    /// Delete one version of a function (never its current one).
    DeleteVersion = "delete_version" -> Done,
    /// Start (or restart, with a fresh report) shadowing a function's live
    /// calls with a candidate version; answered once every executor applied it.
    PutShadow = "put_shadow" -> ShadowConfig,
    /// Show a function's shadowing.
    GetShadow = "get_shadow" -> ShadowConfig,
    /// Stop shadowing a function; answered once every executor applied it.
    DeleteShadow = "delete_shadow" -> Done,
    /// Summarise the outcomes of a function's shadowing.
    GetShadowReport = "get_shadow_report" -> ShadowReport,
    /// Create or move an alias of a function; answered once every executor applied it.
    PutAlias = "put_alias" -> AliasRecord,
    /// List a function's aliases, `current` first.
    ListAliases = "list_aliases" -> AliasList,
    /// Delete a named alias (never `current`).
    DeleteAlias = "delete_alias" -> Done,
    /// Point `current` back at its previous target still kept.
    Rollback = "rollback" -> AliasRecord,
    /// Create or replace a trigger; answered once every dispatcher applied it.
    PutTrigger = "put_trigger" -> Trigger,
    /// Show a trigger.
    GetTrigger = "get_trigger" -> Trigger,
    /// List every trigger.
    ListTriggers = "list_triggers" -> TriggerList,
    /// Delete a trigger; answered once every dispatcher unsubscribed.
    DeleteTrigger = "delete_trigger" -> Done,
    /// Create or replace a pipeline (every step must exist).
    PutPipeline = "put_pipeline" -> Pipeline,
    /// Show a pipeline.
    GetPipeline = "get_pipeline" -> Pipeline,
    /// List every pipeline.
    ListPipelines = "list_pipelines" -> PipelineList,
    /// Delete a pipeline.
    DeletePipeline = "delete_pipeline" -> Done,
    /// Store a new api token; answered once every api applied it.
    CreateToken = "create_token" -> Done,
    /// Revoke an api token; answered once every api applied it.
    RevokeToken = "revoke_token" -> Done,
    /// Change an existing bucket's settings; answered once every api applied them.
    ConfigureBucket = "configure_bucket" -> BucketSettings,
    /// Replace a function's configuration (secrets sealed); answered once
    /// every executor applied it.
    PutFunctionConfig = "put_function_config" -> FunctionConfigView,
    /// Show a function's configuration (secrets by name only).
    GetFunctionConfig = "get_function_config" -> FunctionConfigView,
    /// Reset a function's configuration to the defaults; answered once every
    /// executor applied it.
    DeleteFunctionConfig = "delete_function_config" -> FunctionConfigView,
}

/// List every bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListBuckets {}

/// Create a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateBucket {
    /// Bucket to create.
    pub bucket: BucketName,
    /// Its settings (replacing any a deleted bucket of that name left).
    #[serde(default)]
    pub settings: BucketSettings,
}

/// List a bucket's functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFunctions {
    /// Bucket to list.
    pub bucket: BucketName,
}

/// Delete a bucket; with `force`, its functions first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteBucket {
    /// Bucket to delete.
    pub bucket: BucketName,
    /// Delete the functions it holds instead of refusing.
    pub force: bool,
}

/// Validate a staged component and store it as a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutFunction {
    /// Where to store it.
    pub function: FunctionRef,
    /// The uploaded bytes, staged in the transfer store.
    pub staged: StagedObject,
    /// What the uploader says about this version (at most 1 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Stage a function's bytes in the transfer store for download; the caller
/// fetches (and deletes) the object the answer names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetFunction {
    /// Function to fetch.
    pub function: FunctionRef,
    /// A version of it (digest or unique prefix) instead of the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Delete a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteFunction {
    /// Function to delete.
    pub function: FunctionRef,
}

/// List a function's versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListVersions {
    /// The function.
    pub function: FunctionRef,
}

/// Delete one version of a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteVersion {
    /// The function.
    pub function: FunctionRef,
    /// The version: a digest or a unique prefix of one.
    pub version: String,
}

/// Start shadowing a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutShadow {
    /// The function.
    pub function: FunctionRef,
    /// The candidate and how much to shadow.
    pub spec: ShadowSpec,
}

/// Show a function's shadowing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetShadow {
    /// The function.
    pub function: FunctionRef,
}

/// Create or move an alias (`current` included) of a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutAlias {
    /// The function.
    pub function: FunctionRef,
    /// The alias, checked by [`crate::aliases::check_name`].
    pub alias: String,
    /// Its target: a digest, a unique prefix, or another alias.
    pub version: String,
    /// Shares of [`crate::aliases::WEIGHT_TOTAL`] by version (digest or
    /// unique prefix), checked by [`crate::aliases::AliasSpec::shares`];
    /// empty: every call runs `version`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub weights: std::collections::BTreeMap<String, u32>,
}

/// List a function's aliases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAliases {
    /// The function.
    pub function: FunctionRef,
}

/// Stop shadowing a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteShadow {
    /// The function.
    pub function: FunctionRef,
}

/// Summarise a function's shadow outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetShadowReport {
    /// The function.
    pub function: FunctionRef,
}

/// Delete a named alias of a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteAlias {
    /// The function.
    pub function: FunctionRef,
    /// The alias.
    pub alias: String,
}

/// Point a function's `current` back at its previous target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollback {
    /// The function.
    pub function: FunctionRef,
}

/// Create or replace a trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutTrigger {
    /// Its name.
    pub name: TriggerName,
    /// Its definition.
    pub spec: TriggerSpec,
}

/// Show a trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTrigger {
    /// Its name.
    pub name: TriggerName,
}

/// List every trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListTriggers {}

/// Delete a trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteTrigger {
    /// Its name.
    pub name: TriggerName,
}

/// Create or replace a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutPipeline {
    /// Its name.
    pub name: PipelineName,
    /// Its definition.
    pub spec: PipelineSpec,
}

/// Show a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetPipeline {
    /// Its name.
    pub name: PipelineName,
}

/// List every pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPipelines {}

/// Delete a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletePipeline {
    /// Its name.
    pub name: PipelineName,
}

/// Store a new api token. It carries the record, whose secret is only a
/// hash: the secret itself never leaves the api that minted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateToken {
    /// The token as stored.
    pub token: TokenRecord,
}

/// Revoke an api token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeToken {
    /// The token's id.
    pub token: String,
}

/// Change an existing bucket's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigureBucket {
    /// The bucket.
    pub bucket: BucketName,
    /// What to change.
    pub change: BucketSettingsChange,
}

/// Replace a function's configuration. The function must exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutFunctionConfig {
    /// The function.
    pub function: FunctionRef,
    /// Its new configuration, secrets sealed (`null`: keep the stored one).
    pub config: FunctionConfigUpdate,
}

/// Show a function's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetFunctionConfig {
    /// The function.
    pub function: FunctionRef,
}

/// Reset a function's configuration to the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteFunctionConfig {
    /// The function.
    pub function: FunctionRef,
}

/// An object in the transfer store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedObject {
    /// Object name in [`transfer_store`](crate::jetstream::JetStreamNames::transfer_store) (a uuid).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

/// A bucket as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BucketInfo {
    /// Bucket name.
    pub name: String,
    /// Creation time (RFC 3339), when the store reports it.
    pub created: Option<String>,
    /// Its settings.
    #[serde(flatten)]
    pub settings: BucketSettings,
}

/// A stored function as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunctionInfo {
    /// Function name (the S3 key).
    pub name: String,
    /// Component size in bytes.
    pub size: u64,
    /// The store's entity tag.
    pub etag: Option<String>,
    /// Last modification (RFC 3339).
    pub last_modified: Option<String>,
    /// Which world the function exports (`exec` or `http`), as the
    /// registry records it: how it is called (`/exec` or `/run`).
    #[serde(default)]
    pub world: crate::World,
}

/// Answer to [`ListBuckets`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BucketList {
    /// The buckets.
    pub buckets: Vec<BucketInfo>,
}

/// Answer to [`ListFunctions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionList {
    /// The functions.
    pub functions: Vec<FunctionInfo>,
    /// The bucket's settings.
    #[serde(flatten)]
    pub settings: BucketSettings,
}

/// Answer to [`PutFunction`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The function as stored.
    pub function: FunctionInfo,
    /// sha256 of the component, hex.
    pub digest: String,
}

/// Answer to [`ListTriggers`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TriggerList {
    /// Every trigger, by name.
    pub triggers: Vec<Trigger>,
}

/// Answer to [`ListPipelines`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineList {
    /// Every pipeline, by name.
    pub pipelines: Vec<Pipeline>,
}

/// Answer to the create and delete commands, which have nothing to say but
/// that they succeeded (`{}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {}

/// The reply on the wire: `{"ok": <the command's reply>}` or
/// `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminReply<T> {
    /// The command succeeded.
    Ok(T),
    /// The command failed.
    Error(ErrorBody),
}

impl<T> From<Result<T, ErrorBody>> for AdminReply<T> {
    fn from(result: Result<T, ErrorBody>) -> Self {
        match result {
            Ok(response) => Self::Ok(response),
            Err(error) => Self::Error(error),
        }
    }
}

impl<T> From<AdminReply<T>> for Result<T, ErrorBody> {
    fn from(reply: AdminReply<T>) -> Self {
        match reply {
            AdminReply::Ok(response) => Ok(response),
            AdminReply::Error(error) => Err(error),
        }
    }
}

/// Exec reply body when [`crate::headers::INCLUDE_LOGS`] was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecLogsReply {
    /// The function's output.
    pub result: String,
    /// What it wrote to stdout (lossily decoded as UTF-8).
    pub stdout: String,
    /// What it wrote to stderr (lossily decoded as UTF-8).
    pub stderr: String,
    /// Whether stdout and stderr were cut (from their end) so the reply
    /// fits in one message; the result never is.
    #[serde(default)]
    pub logs_truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn requests_are_tagged_json() {
        let req =
            AdminRequest::from(DeleteBucket { bucket: BucketName::new("functions").unwrap(), force: true });
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"command": "delete_bucket", "bucket": "functions", "force": true})
        );
        assert_eq!(req.command(), "delete_bucket");
        assert_eq!(req.command(), DeleteBucket::COMMAND);
        assert_eq!(serde_json::from_value::<AdminRequest>(json).unwrap(), req);
        let list = serde_json::to_value(AdminRequest::from(ListBuckets {})).unwrap();
        assert_eq!(list, serde_json::json!({"command": "list_buckets"}));
        assert_eq!(serde_json::from_value::<AdminRequest>(list).unwrap(), ListBuckets {}.into());
        let bad = serde_json::json!({"command": "create_bucket", "bucket": "No.Dots"});
        assert!(serde_json::from_value::<AdminRequest>(bad).is_err());
    }

    #[test]
    fn replies_are_the_commands_own_types() {
        let error = AdminReply::<Done>::Error(ErrorBody::new(ErrorCode::BucketNotFound, "no bucket x"));
        let back: AdminReply<Done> = serde_json::from_slice(&serde_json::to_vec(&error).unwrap()).unwrap();
        assert_eq!(back, error);
        let done = serde_json::to_value(AdminReply::Ok(Done {})).unwrap();
        assert_eq!(done, serde_json::json!({"ok": {}}));
        let info = BucketInfo { name: "b1".into(), created: None, settings: BucketSettings::default() };
        let list = AdminReply::Ok(BucketList { buckets: vec![info] });
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            serde_json::json!({"ok": {"buckets": [{"name": "b1", "created": null, "public_invoke": false}]}})
        );
        // A request from before settings existed still parses.
        let old = serde_json::json!({"command": "create_bucket", "bucket": "bucket-1"});
        let AdminRequest::CreateBucket(create) = serde_json::from_value(old).unwrap() else { panic!() };
        assert_eq!(create.settings, BucketSettings::default());
    }
}
