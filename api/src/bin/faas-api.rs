//! `faas-api`: the HTTP front door.
//!
//! The runtime is built here rather than by `#[tokio::main]` so that its
//! worker count is the api's own setting (`FAAS_API_WORKER_THREADS`), and
//! `run` goes on a worker
//! thread: the connection tasks its accept loop spawns then start on that
//! worker's local queue, not the inject queue (which wakes a parked worker),
//! as the executor measured (`bench/results/*-xwake.md`).

use std::num::NonZeroUsize;

use anyhow::Context as _;
use clap::Parser;

/// The api's settings and the runtime's.
#[derive(Debug, Parser)]
#[command(name = "faas-api", about = "HTTP front door of wasm-faas")]
struct Args {
    #[command(flatten)]
    config: api::ApiConfig,
    /// Tokio worker threads of the api's runtime; unset, Tokio's default
    /// (`TOKIO_WORKER_THREADS`, else one per CPU). One worker keeps a call's two wake-ups (the HTTP
    /// request, the NATS reply) on one thread but caps the api at one core:
    /// on 2 cores it served 14-15 % fewer warm calls at c=64 and no faster
    /// at c=1 (interleaved `scripts/bench.sh --only peer` runs, in
    /// `bench/results/2026-12-07-1f2ece7-awake.md`'s addendum).
    #[arg(long, env = "FAAS_API_WORKER_THREADS")]
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
        let _telemetry = bus::init_tracing("faas-api");
        let client = bus::connect(&config.nats, "faas-api").await?;
        tokio::spawn(api::run(config, client, bus::shutdown_signal()))
            .await
            .context("the api's task panicked")??;
        Ok(())
    })
}
