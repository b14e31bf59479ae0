//! NATS plumbing shared by every role.
//!
//! The protocol crate says what goes on the bus; this crate holds the few
//! pieces of IO that every role needs in exactly the same way, so they are
//! written once: connecting with retry, the transfer object store that carries
//! components larger than one message, the function registry, and process
//! bootstrap (logging, shutdown on Ctrl-C or SIGTERM).

mod jobs;
mod process;
mod registry;
mod transfer;

pub use jobs::{DEAD_LETTERS_STREAM, JobError, JobQueue, QueueLimits, Submitted};
pub use process::{connect, init_tracing, shutdown_signal};
pub use registry::{FunctionRegistry, Lookup, RegistryError, RegistryWatch};
pub use transfer::{TransferError, TransferStore};
