//! The executor: runs functions.
//!
//! Executors serve `<prefix>.exec.*.*` and `<prefix>.http.*.*` in one queue
//! group, so each request runs on exactly one of them and scaling out is
//! starting more processes. Exec functions and `wasi:http/proxy` functions
//! ([`http_call`]) run in the same sandbox; an HTTP function's outgoing
//! requests pass [`outgoing`]; key-value, blobs and messaging
//! are offered to functions granted them ([`capabilities`]). For each request an executor loads the component
//! ([`loader::ComponentLoader`]: registry digest, then its
//! [`cache::ComponentCache`], bounded by bytes ([`memory_budget`]), the shared precompiled artifacts, or S3 and a
//! compile), runs it in a fresh sandbox with per-call limits
//! ([`runtime::FunctionRuntime`]) and replies with the raw output or an error
//! code ([`reply`]), then hands the call's log ([`call_log`]) to the batcher
//! that publishes each function's logs together ([`log_batcher`]). It counts
//! what it does ([`metrics`]) for Prometheus, served on `--metrics-listen`.

pub mod aliases;
pub mod cache;
pub mod call_log;
pub mod capabilities;
pub mod components;
pub mod config;
pub mod error;
pub mod http_call;
pub mod kept_calls;
pub mod loader;
pub mod log_batcher;
pub mod memory_budget;
pub mod metrics;
pub mod outgoing;
pub mod reply;
pub mod runtime;
pub mod server;
pub mod settings;

pub use config::{
    CallLogSettings, CallLogs, CompileSettings, ExecLimits, ExecutorConfig, HttpOutgoingSettings,
};
pub use error::ExecError;
pub use server::{ExecutorError, run};
pub use settings::CallSettings;
