//! `faas-dispatcher`: serves bucket and function commands against S3.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bus::init_tracing();
    let config = dispatcher::DispatcherConfig::parse();
    let client = bus::connect(&config.nats_url, "faas-dispatcher").await?;
    dispatcher::run(config, client, bus::shutdown_signal()).await?;
    Ok(())
}
