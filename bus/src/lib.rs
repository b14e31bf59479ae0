//! NATS plumbing shared by every role.
//!
//! The protocol crate says what goes on the bus; this crate holds the few
//! pieces of IO that every role needs in exactly the same way, so they are
//! written once: connecting with retry, the transfer object store that carries
//! components larger than one message, the function registry, the job queue,
//! the trigger and pipeline definitions, and process
//! bootstrap (logging, shutdown on Ctrl-C or SIGTERM).

mod acks;
mod definitions;
mod jobs;
mod process;
mod registry;
mod snapshot;
mod transfer;

pub use definitions::{Applied, Change, DefinitionError, DefinitionFeed, DefinitionStore};
pub use jobs::{DEAD_LETTERS_STREAM, JobError, JobQueue, NewJob, QueueLimits, Submitted};
pub use process::{connect, init_tracing, shutdown_signal};
pub use registry::{FunctionRegistry, Lookup, RegistryError, RegistryWatch};
pub use transfer::{TransferError, TransferStore};
