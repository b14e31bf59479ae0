//! The wire contract of wasm-faas.
//!
//! Every process on the bus (api, dispatcher, executor, and any NATS client a
//! user writes) agrees on what is in this crate and nothing else: how subjects
//! and headers are spelled, what admin messages look like, which names are
//! valid and which error codes exist. It does no IO, so every role can depend
//! on it without pulling in S3, Wasmtime, HTTP or even NATS: message-level
//! helpers over these constants live in the bus crate.

pub mod admin;
pub mod aliases;
pub mod audit;
pub mod auth;
pub mod buckets;
pub mod callbacks;
pub mod capabilities;
pub mod error;
pub mod function_config;
pub mod headers;
pub mod http;
pub mod http_call;
pub mod jetstream;
pub mod jobs;
pub mod logs;
pub mod metrics;
pub mod names;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod pipelines;
pub mod registry;
pub mod replay;
pub mod shadow;
pub mod subjects;
pub mod triggers;
pub mod versions;

pub use admin::{
    AdminCommand, AdminReply, AdminRequest, BucketInfo, ExecLogsReply, FunctionInfo, StagedObject,
};
pub use capabilities::{Access, Capability, CapabilityGrants};
pub use error::{ErrorBody, ErrorCode};
pub use jetstream::JetStreamNames;
pub use jobs::{JobRecord, JobStatus};
pub use names::{BucketName, FunctionName, FunctionRef, NameError, PipelineName, Target, TriggerName};
pub use pipelines::{Pipeline, PipelineSpec};
pub use registry::{FunctionVersion, World};
pub use subjects::Subjects;
pub use triggers::{Trigger, TriggerFailure, TriggerMode, TriggerSpec, TriggerSubjectPolicy};
