//! `faas-api`: the HTTP front door.
//!
//! The runtime is built by [`bus::serve`] rather than by `#[tokio::main]`,
//! so that its worker count is the api's own setting
//! (`FAAS_API_WORKER_THREADS`) and `run` goes on a worker thread.

/// mimalloc: the warm path allocates per call, and glibc malloc was about a
/// fifth of the api's CPU per call (`bench/results/*-malloc.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::num::NonZeroUsize;

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
    let nats = config.nats.clone();
    bus::serve("faas-api", &nats, worker_threads, |client| api::run(config, client, bus::shutdown_signal()))?;
    Ok(())
}
