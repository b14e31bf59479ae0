//! `faas-e2e-executor`: the executor as a process of its own, for the tests
//! that kill one with SIGKILL.
//!
//! Cargo builds a package's binaries for its own integration tests only, so
//! this crate has its own, started as `faas-executor` starts: `run` on a
//! worker thread of a multi-thread runtime (the worker count left to Tokio).

use anyhow::Context as _;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = bus::init_tracing("faas-executor");
    let config = executor::ExecutorConfig::parse();
    let client = bus::connect(&config.nats, "faas-executor").await?;
    tokio::spawn(executor::run(config, client, bus::shutdown_signal()))
        .await
        .context("the executor's task panicked")??;
    Ok(())
}
