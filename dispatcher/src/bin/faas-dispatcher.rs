//! `faas-dispatcher`: admin commands against S3, and jobs, triggers and
//! pipelines over the executors (see the library docs).
//!
//! Started by [`bus::serve`], so that `run` goes on a worker thread: what
//! its loops spawn per job or trigger then starts on that worker's local
//! queue instead of waking a parked worker per message.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let config = dispatcher::DispatcherConfig::parse();
    let nats = config.nats.clone();
    bus::serve("faas-dispatcher", &nats, None, |client| {
        dispatcher::run(config, client, bus::shutdown_signal())
    })?;
    Ok(())
}
