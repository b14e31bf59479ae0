//! `faas-executor`: runs functions for NATS exec requests.
//!
//! The runtime is built by hand rather than by `#[tokio::main]` for two
//! reasons measured on the warm path (`bench/results/*-xwake.md`): the
//! accept loop must run on a worker thread, not on the thread that blocks
//! on `main`'s future (there, every spawned call went through the
//! runtime's inject queue and woke a parked worker: a futex and a context
//! switch per call), and the number of workers is a setting
//! (`FAAS_EXECUTOR_WORKER_THREADS`).

use std::num::NonZeroUsize;

use anyhow::Context as _;
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
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = worker_threads {
        runtime.worker_threads(threads.get());
    }
    let runtime = runtime.enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let _telemetry = bus::init_tracing("faas-executor");
        let client = bus::connect(&config.nats, "faas-executor").await?;
        // On a worker: the calls it spawns then start on the same worker's
        // local queue, next to the NATS connection task that woke it.
        tokio::spawn(executor::run(config, client, bus::shutdown_signal()))
            .await
            .context("the executor's task panicked")??;
        Ok(())
    })
}
