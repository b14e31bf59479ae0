//! NATS plumbing shared by every role.
//!
//! The protocol crate says what goes on the bus; this crate holds the few
//! pieces of IO that every role needs in exactly the same way, so they are
//! written once: connecting with retry, exec calls and their reply format,
//! reading headers off messages, the transfer object store that carries
//! components larger than one message, the function registry, the job queue,
//! the trigger and pipeline definitions, the wire code of each of their
//! errors, and process bootstrap (logging, shutdown on Ctrl-C or SIGTERM).

mod acks;
mod codes;
mod definitions;
mod exec;
mod jobs;
mod message;
mod process;
mod registry;
mod snapshot;
mod transfer;

pub use definitions::{Applied, Change, DefinitionError, DefinitionFeed, DefinitionStore};
pub use exec::{ExecClient, ExecFailure, ExecReply, Responder, encode_reply, request};
pub use jobs::{JobError, JobQueue, NewJob, QueueLimits, Submitted};
pub use message::{header, hops, request_id};
pub use process::{connect, init_tracing, shutdown_signal};
pub use registry::{FunctionRegistry, Lookup, RegistryError, RegistryWatch};
pub use transfer::{TransferError, TransferStore};
