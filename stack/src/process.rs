//! Supervision of child processes.
//!
//! A test that panics, or a `faas-local` run that fails half-way, must not
//! leave services running in the background; tying each child to a guard
//! that kills it on drop makes cleanup automatic.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::Context as _;

/// A child process that is killed and reaped when the guard is dropped.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// The operating system's process id of the child.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Kills the child (if it still runs) and waits for it to exit.
    pub fn stop(&mut self) {
        // Killing an already exited child is an error we do not care about:
        // either way the process is gone afterwards.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Spawns a service binary with extra environment variables.
///
/// Stdout and stderr are inherited so the service's logs show up next to the
/// caller's; stdin is closed because services never read it.
pub fn spawn_service(bin: &Path, envs: &[(&str, String)]) -> anyhow::Result<ChildGuard> {
    anyhow::ensure!(
        bin.is_file(),
        "service binary {} not found; build it first (cargo build --workspace)",
        bin.display()
    );
    let child = Command::new(bin)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("spawn {}", bin.display()))?;
    Ok(ChildGuard(child))
}
