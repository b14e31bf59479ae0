//! `faas-dispatcher`: admin commands against S3, and jobs, triggers and
//! pipelines over the executors (see the library docs).
//!
//! `run` goes on a worker thread, not the thread blocked on `main`'s
//! future: what its loops spawn per job or trigger then starts on that
//! worker's local queue instead of the runtime's inject queue, which woke
//! a parked worker (a futex and a context switch) per message. The
//! executor measured this (`bench/results/*-xwake.md`).

use anyhow::Context as _;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = bus::init_tracing("faas-dispatcher");
    let config = dispatcher::DispatcherConfig::parse();
    let client = bus::connect(&config.nats, "faas-dispatcher").await?;
    tokio::spawn(dispatcher::run(config, client, bus::shutdown_signal()))
        .await
        .context("the dispatcher's task panicked")??;
    Ok(())
}
