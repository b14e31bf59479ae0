//! `faas-dispatcher`: admin commands against S3, and jobs, triggers and
//! pipelines over the executors (see the library docs).
//!
//! Started by [`bus::serve`], so that `run` goes on a worker thread: what
//! its loops spawn per job or trigger then starts on that worker's local
//! queue instead of waking a parked worker per message.

/// mimalloc, as in the api: 12-15 % less CPU per warm call than glibc
/// malloc in the api and the executor (`bench/results/*-malloc.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let config = dispatcher::DispatcherConfig::parse();
    let nats = config.nats.clone();
    bus::serve("faas-dispatcher", &nats, None, |client| {
        dispatcher::run(config, client, bus::shutdown_signal())
    })?;
    Ok(())
}
