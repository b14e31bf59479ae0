//! `faas-executor`: runs functions for NATS exec requests.
//!
//! The runtime is built by [`bus::serve`] rather than by `#[tokio::main]`,
//! so that the number of workers is a setting
//! (`FAAS_EXECUTOR_WORKER_THREADS`). Calls do not run on it: they run on
//! the call threads `run` starts (`FAAS_EXECUTOR_CALL_THREADS`), each with
//! a runtime and a NATS connection of its own.

use std::num::NonZeroUsize;

use clap::Parser;

/// The executor's settings and the runtime's.
#[derive(Debug, Parser)]
#[command(name = "faas-executor", about = "Runs wasm-faas functions from NATS exec subjects")]
struct Args {
    #[command(flatten)]
    config: executor::ExecutorConfig,
    /// Tokio worker threads of the executor's main runtime (the followed
    /// stores, the call-log batcher, pings, metrics); unset, Tokio's
    /// default (`TOKIO_WORKER_THREADS`, else one per CPU). Calls run on the
    /// call threads instead (`FAAS_EXECUTOR_CALL_THREADS`).
    #[arg(long, env = "FAAS_EXECUTOR_WORKER_THREADS")]
    worker_threads: Option<NonZeroUsize>,
}

fn main() -> anyhow::Result<()> {
    let Args { config, worker_threads } = Args::parse();
    let nats = config.nats.clone();
    bus::serve("faas-executor", &nats, worker_threads, |client| {
        executor::run(config, client, bus::shutdown_signal())
    })?;
    Ok(())
}
