//! NATS plumbing shared by every role.
//!
//! The protocol crate says what goes on the bus; this crate holds the few
//! pieces of IO that every role needs in exactly the same way, so they are
//! written once: connecting (the standard NATS options: servers, credentials,
//! TLS) with retry, opening JetStream stores and
//! retrying with jittered back-off, the acked key-value follower and the
//! in-memory map it can keep, exec calls and their reply format, reading
//! headers off messages, the transfer object store that carries components
//! larger than one message, the function registry, the job queue, the
//! trigger and pipeline definitions (and the pipeline runner's followed
//! copy, [`PipelineWatch`]), the api tokens and their last use, the
//! bucket settings, per-function configuration and the sealing of its
//! secrets, the function versions and their watch, the `max_concurrency` leases, the wire code of each of their
//! errors, the stores' byte caps, the address rules of connections made for
//! users ([`address_policy`]), the event budgets of trigger chains, audit
//! events and the principal
//! on messages, per-call logs, W3C trace context on every hop, the metrics
//! endpoint of the roles without an HTTP server ([`metrics`]), and process
//! bootstrap (the runtime, logging, trace export, shutdown on Ctrl-C or SIGTERM).

pub mod address_policy;
pub mod audit;
mod buckets;
mod budgets;
mod codes;
mod concurrency;
mod connect;
mod definitions;
mod exec;
mod followed_map;
mod follower;
mod function_config;
mod inputs;
mod jobs;
pub mod keyvalue;
pub mod logs;
mod message;
pub mod metrics;
mod pipelines;
mod process;
mod registry;
mod retry;
mod schedules;
mod secrets;
mod services;
mod shadow;
mod snapshot;
mod stores;
pub mod telemetry;
mod threads;
mod tokens;
mod transfer;
mod usage;
mod versions;

pub use buckets::{BucketSettingsStore, BucketSettingsWatch};
pub use budgets::{BudgetError, EventBudgets};
pub use concurrency::{ConcurrencyLeases, Lease};
pub use connect::{ConnectError, DEFAULT_URL, NatsOptions, connect};
pub use definitions::{DefinitionError, DefinitionFeed, DefinitionStore};
pub use exec::{ExecClient, ExecFailure, ExecReply, Responder, encode_reply, request};
pub use followed_map::{FollowedMap, MapLookup};
pub use follower::{Applied, Change, FollowedBucket, Follower, FollowerError, FollowerStatus};
pub use function_config::{FunctionConfigStore, FunctionConfigWatch};
pub use inputs::{KeptCall, KeptInputs};
pub use jobs::{JobError, JobQueue, NewJob, QueueDepths, QueueLimits, Submitted};
pub use keyvalue::{KeyPage, KeySpace, KeyValueData, KeyValueError};
pub use message::{header, header_name, hops, request_id};
pub use pipelines::{PIPELINE_KIND, PipelineWatch, open_pipelines};
pub use process::{ServeError, Telemetry, init_tracing, serve, shutdown_signal};
pub use registry::{FunctionRegistry, Lookup, ReadAt, RegistryError, RegistryWatch};
pub use retry::{Backoff, retry};
pub use schedules::ScheduleTicks;
pub use secrets::{SecretsError, SecretsKey};
pub use services::{RoleService, ServiceError, ServiceSpec, gather_stats, ping_data, register};
pub use shadow::{ShadowOutcomes, ShadowStore, ShadowWatch, publish_outcome as publish_shadow_outcome};
pub use stores::{
    JetStreamLayout, StoreConfig, StoreError, StoreQuota, StoreQuotas, StoreUnavailable, is_full,
    open_or_create,
};
pub use threads::{MAX_THREADS, ThreadEnd, ThreadEnds, thread_count, thread_count_parser};
pub use tokens::{TokenLookup, TokenStore, TokenStoreError, TokenWatch};
pub use transfer::{TransferError, TransferStore};
pub use usage::TokenUsage;
pub use versions::{VersionStore, VersionWatch};
