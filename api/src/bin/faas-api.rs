//! `faas-api`: the HTTP front door.
//!
//! The runtime is built by [`bus::serve`] rather than by `#[tokio::main]`,
//! so that its worker count is the api's own setting
//! (`FAAS_API_WORKER_THREADS`) and `run` goes on a worker thread. HTTP
//! connections are not served on it: `run` starts the serving threads
//! (`FAAS_API_SERVE_THREADS`), each with a runtime and a NATS connection of
//! its own.

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
    /// Tokio worker threads of the api's main runtime (the accept loop,
    /// the followed stores, the token usage flush); unset, Tokio's default
    /// (`TOKIO_WORKER_THREADS`, else one per CPU). Connections are served
    /// on the serving threads instead (`FAAS_API_SERVE_THREADS`).
    #[arg(long, env = "FAAS_API_WORKER_THREADS")]
    worker_threads: Option<NonZeroUsize>,
}

fn main() -> anyhow::Result<()> {
    let Args { config, worker_threads } = Args::parse();
    let nats = config.nats.clone();
    bus::serve("faas-api", &nats, worker_threads, |client| api::run(config, client, bus::shutdown_signal()))?;
    Ok(())
}
