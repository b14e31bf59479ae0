//! `faas-executor`: runs functions for NATS exec requests.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = bus::init_tracing("faas-executor");
    let config = executor::ExecutorConfig::parse();
    let client = bus::connect(&config.nats, "faas-executor").await?;
    executor::run(config, client, bus::shutdown_signal()).await?;
    Ok(())
}
