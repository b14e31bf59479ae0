//! Bucket and function commands, served by the dispatcher.
//!
//! Each command travels as JSON on `<prefix>.admin.<command>` so that logs,
//! permissions and metrics can tell commands apart by subject alone. Component
//! bytes never ride in these messages: they are staged in the
//! [`crate::TRANSFER_STORE`] object store and referred to by [`StagedObject`].

use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;
use crate::names::{BucketName, FunctionRef, PipelineName, TriggerName};
use crate::pipelines::{Pipeline, PipelineSpec};
use crate::triggers::{Trigger, TriggerSpec};

/// A command for the dispatcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum AdminRequest {
    /// List every bucket.
    ListBuckets,
    /// Create a bucket.
    CreateBucket {
        /// Bucket to create.
        bucket: BucketName,
    },
    /// List a bucket's functions.
    ListFunctions {
        /// Bucket to list.
        bucket: BucketName,
    },
    /// Delete a bucket; with `force`, its functions first.
    DeleteBucket {
        /// Bucket to delete.
        bucket: BucketName,
        /// Delete the functions it holds instead of refusing.
        force: bool,
    },
    /// Validate a staged component and store it as a function.
    PutFunction {
        /// Where to store it.
        function: FunctionRef,
        /// The uploaded bytes, staged in the transfer store.
        staged: StagedObject,
    },
    /// Stage a function's bytes in the transfer store for download.
    GetFunction {
        /// Function to fetch.
        function: FunctionRef,
    },
    /// Delete a function.
    DeleteFunction {
        /// Function to delete.
        function: FunctionRef,
    },
    /// Create or replace a trigger; answered once every dispatcher applied it.
    PutTrigger {
        /// Its name.
        name: TriggerName,
        /// Its definition.
        spec: TriggerSpec,
    },
    /// Show a trigger.
    GetTrigger {
        /// Its name.
        name: TriggerName,
    },
    /// List every trigger.
    ListTriggers,
    /// Delete a trigger; answered once every dispatcher unsubscribed.
    DeleteTrigger {
        /// Its name.
        name: TriggerName,
    },
    /// Create or replace a pipeline (every step must exist).
    PutPipeline {
        /// Its name.
        name: PipelineName,
        /// Its definition.
        spec: PipelineSpec,
    },
    /// Show a pipeline.
    GetPipeline {
        /// Its name.
        name: PipelineName,
    },
    /// List every pipeline.
    ListPipelines,
    /// Delete a pipeline.
    DeletePipeline {
        /// Its name.
        name: PipelineName,
    },
}

impl AdminRequest {
    /// The subject token of this command (`<prefix>.admin.<command>`).
    pub fn command(&self) -> &'static str {
        match self {
            Self::ListBuckets => "list_buckets",
            Self::CreateBucket { .. } => "create_bucket",
            Self::ListFunctions { .. } => "list_functions",
            Self::DeleteBucket { .. } => "delete_bucket",
            Self::PutFunction { .. } => "put_function",
            Self::GetFunction { .. } => "get_function",
            Self::DeleteFunction { .. } => "delete_function",
            Self::PutTrigger { .. } => "put_trigger",
            Self::GetTrigger { .. } => "get_trigger",
            Self::ListTriggers => "list_triggers",
            Self::DeleteTrigger { .. } => "delete_trigger",
            Self::PutPipeline { .. } => "put_pipeline",
            Self::GetPipeline { .. } => "get_pipeline",
            Self::ListPipelines => "list_pipelines",
            Self::DeletePipeline { .. } => "delete_pipeline",
        }
    }
}

/// An object in the transfer store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedObject {
    /// Object name in [`crate::TRANSFER_STORE`] (a uuid).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

/// A bucket as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketInfo {
    /// Bucket name.
    pub name: String,
    /// Creation time (RFC 3339), when the store reports it.
    pub created: Option<String>,
}

/// A stored function as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionInfo {
    /// Function name (the S3 key).
    pub name: String,
    /// Component size in bytes.
    pub size: u64,
    /// The store's entity tag.
    pub etag: Option<String>,
    /// Last modification (RFC 3339).
    pub last_modified: Option<String>,
}

/// A successful answer to an [`AdminRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AdminResponse {
    /// Answer to `ListBuckets`.
    Buckets {
        /// The buckets.
        buckets: Vec<BucketInfo>,
    },
    /// Answer to `ListFunctions`.
    Functions {
        /// The functions.
        functions: Vec<FunctionInfo>,
    },
    /// Answer to `PutFunction`.
    Stored {
        /// The function as stored.
        function: FunctionInfo,
        /// sha256 of the component, hex.
        digest: String,
    },
    /// Answer to `GetFunction`: the bytes are staged for the caller to fetch
    /// (and delete) from the transfer store.
    Staged {
        /// Where the bytes are.
        staged: StagedObject,
    },
    /// Answer to `PutTrigger` and `GetTrigger`.
    Trigger {
        /// The trigger as stored.
        trigger: Trigger,
    },
    /// Answer to `ListTriggers`.
    Triggers {
        /// Every trigger, by name.
        triggers: Vec<Trigger>,
    },
    /// Answer to `PutPipeline` and `GetPipeline`.
    Pipeline {
        /// The pipeline as stored.
        pipeline: Pipeline,
    },
    /// Answer to `ListPipelines`.
    Pipelines {
        /// Every pipeline, by name.
        pipelines: Vec<Pipeline>,
    },
    /// Answer to create and delete commands.
    Done,
}

/// The reply on the wire: either a response or an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminReply {
    /// The command succeeded.
    Ok(AdminResponse),
    /// The command failed.
    Error(ErrorBody),
}

impl From<Result<AdminResponse, ErrorBody>> for AdminReply {
    fn from(result: Result<AdminResponse, ErrorBody>) -> Self {
        match result {
            Ok(response) => Self::Ok(response),
            Err(error) => Self::Error(error),
        }
    }
}

impl From<AdminReply> for Result<AdminResponse, ErrorBody> {
    fn from(reply: AdminReply) -> Self {
        match reply {
            AdminReply::Ok(response) => Ok(response),
            AdminReply::Error(error) => Err(error),
        }
    }
}

/// Exec reply body when [`crate::headers::INCLUDE_LOGS`] was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecLogsReply {
    /// The function's output.
    pub result: String,
    /// What it wrote to stdout (lossily decoded as UTF-8).
    pub stdout: String,
    /// What it wrote to stderr (lossily decoded as UTF-8).
    pub stderr: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn requests_are_tagged_json() {
        let req = AdminRequest::DeleteBucket { bucket: BucketName::new("functions").unwrap(), force: true };
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"command": "delete_bucket", "bucket": "functions", "force": true})
        );
        assert_eq!(req.command(), "delete_bucket");
        let bad = serde_json::json!({"command": "create_bucket", "bucket": "No.Dots"});
        assert!(serde_json::from_value::<AdminRequest>(bad).is_err());
    }

    #[test]
    fn replies_round_trip() {
        let reply = AdminReply::Error(ErrorBody::new(ErrorCode::BucketNotFound, "no bucket x"));
        let back: AdminReply = serde_json::from_slice(&serde_json::to_vec(&reply).unwrap()).unwrap();
        assert_eq!(back, reply);
    }
}
