//! `faas-api`: the HTTP front door.
//!
//! The runtime is built here rather than by `#[tokio::main]` so that its
//! worker count is the api's own setting (`FAAS_API_WORKER_THREADS`), not
//! one every process in the environment shares.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let config = api::ApiConfig::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(config.worker_threads))
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let _telemetry = bus::init_tracing("faas-api");
        let client = bus::connect(&config.nats, "faas-api").await?;
        api::run(config, client, bus::shutdown_signal()).await?;
        Ok(())
    })
}
