//! `faas-api`: the HTTP front door.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = bus::init_tracing("faas-api");
    let config = api::ApiConfig::parse();
    let client = bus::connect(&config.nats, "faas-api").await?;
    api::run(config, client, bus::shutdown_signal()).await?;
    Ok(())
}
