//! `faas-executor`: runs functions for NATS exec requests.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bus::init_tracing();
    let config = executor::ExecutorConfig::parse();
    let client = bus::connect(&config.nats, "faas-executor").await?;
    executor::run(config, client, bus::shutdown_signal()).await?;
    Ok(())
}
