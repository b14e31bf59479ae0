//! `faas-executor`: runs functions for NATS exec requests.
//!
//! The runtime is built by [`bus::serve`] rather than by `#[tokio::main]`,
//! so that `run` goes on a worker thread (on the thread blocked on `main`'s
//! future every call it spawned woke a parked worker:
//! `bench/results/*-xwake.md`) and the number of workers is a setting
//! (`FAAS_EXECUTOR_WORKER_THREADS`).

use std::num::NonZeroUsize;

use clap::Parser;

/// The executor's settings and the runtime's.
#[derive(Debug, Parser)]
#[command(name = "faas-executor", about = "Runs wasm-faas functions from NATS exec subjects")]
struct Args {
    #[command(flatten)]
    config: executor::ExecutorConfig,
    /// Tokio worker threads of the executor's runtime; unset, Tokio's
    /// default (`TOKIO_WORKER_THREADS`, else one per CPU). Wasm calls run on these threads.
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
