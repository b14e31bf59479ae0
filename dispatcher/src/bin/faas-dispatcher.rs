//! `faas-dispatcher`: admin commands against S3, and jobs, triggers and
//! pipelines over the executors (see the library docs).

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = bus::init_tracing("faas-dispatcher");
    let config = dispatcher::DispatcherConfig::parse();
    let client = bus::connect(&config.nats, "faas-dispatcher").await?;
    dispatcher::run(config, client, bus::shutdown_signal()).await?;
    Ok(())
}
