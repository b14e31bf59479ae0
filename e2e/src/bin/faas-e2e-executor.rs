//! `faas-e2e-executor`: the executor as a process of its own, for the tests
//! that kill one with SIGKILL.
//!
//! Cargo builds a package's binaries for its own integration tests only, so
//! this crate has its own, started as `faas-executor` starts (by
//! [`bus::serve`], the worker count left to Tokio).

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let config = executor::ExecutorConfig::parse();
    let nats = config.nats.clone();
    bus::serve("faas-executor", &nats, None, |client| executor::run(config, client, bus::shutdown_signal()))?;
    Ok(())
}
