//! The peer: `wasmtime serve` running `hello-http`, the same logic as the
//! platform's `hello` as a `wasi:http/proxy` component.
//!
//! The issue-15 targets are ratios against what Wasmtime's own CLI does with
//! the same work on the same box, measured by the same generator in the same
//! run. It is started as its maintainers would run it for speed and as the
//! platform runs guests: the pooling allocator on, a fresh instance per
//! request (`--max-instance-reuse-count 1`, the default for WASIp2 made
//! explicit), epoch interruption with a 10 s limit (`-W timeout`, the
//! platform's default call limit), and the WASI CLI interfaces a Rust
//! `wasm32-wasip2` component imports (`-S cli=y`).

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use stack::process::ChildGuard;

use crate::ops::{HELLO_INPUT, HELLO_OUTPUT};

/// The flags `wasmtime serve` gets besides `--addr` and the component.
pub const SERVE_FLAGS: [&str; 8] =
    ["-O", "pooling-allocator=y", "-S", "cli=y", "-W", "timeout=10s", "--max-instance-reuse-count", "1"];

/// How long the peer gets to compile the component and answer.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// What the report says about the peer.
#[derive(Debug, Clone, Serialize)]
pub struct PeerInfo {
    /// `wasmtime --version`.
    pub version: String,
    /// The command line, with the component's file name.
    pub command: String,
    /// The component's size, bytes.
    pub component_bytes: u64,
}

/// A running `wasmtime serve`, killed on drop.
pub struct Peer {
    child: ChildGuard,
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    /// For the report.
    pub info: PeerInfo,
}

impl Peer {
    /// Starts `wasmtime serve` with `component` on a free port, its output
    /// in `log_dir/wasmtime-serve.log`, and waits until it answers `hello`'s
    /// input with `hello`'s output.
    pub async fn start(wasmtime: &Path, component: &Path, log_dir: &Path) -> anyhow::Result<Self> {
        let version = Command::new(wasmtime)
            .arg("--version")
            .output()
            .with_context(|| format!("run {} --version", wasmtime.display()))?;
        anyhow::ensure!(version.status.success(), "{} --version failed", wasmtime.display());
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        let component_bytes = std::fs::metadata(component)
            .with_context(|| format!("read {} (scripts/build-functions.sh builds it)", component.display()))?
            .len();
        let addr = format!("127.0.0.1:{}", stack::ports::free_port());
        let log_path = log_dir.join("wasmtime-serve.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("open {}", log_path.display()))?;
        let child = Command::new(wasmtime)
            .arg("serve")
            .args(SERVE_FLAGS)
            .args(["--addr", &addr])
            .arg(component)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {} serve", wasmtime.display()))?;
        let file_name = component
            .file_name()
            .map_or_else(|| component.display().to_string(), |n| n.to_string_lossy().into_owned());
        let info = PeerInfo {
            version,
            command: format!("wasmtime serve {} --addr {addr} {file_name}", SERVE_FLAGS.join(" ")),
            component_bytes,
        };
        let mut peer = Self { child: ChildGuard(child), url: format!("http://{addr}/"), info };
        peer.wait_ready(&log_path).await?;
        Ok(peer)
    }

    /// Its process id, for its CPU time.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let http = reqwest::Client::builder().no_proxy().build()?;
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < READY_WITHIN {
            if !self.child.is_running() {
                bail!("wasmtime serve exited; see {}", log.display());
            }
            match http.post(&self.url).body(HELLO_INPUT).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let body = resp.bytes().await.unwrap_or_default();
                    if status == reqwest::StatusCode::OK && body == HELLO_OUTPUT {
                        return Ok(());
                    }
                    bail!(
                        "wasmtime serve answered {status} {:?}, not hello's output",
                        String::from_utf8_lossy(&body)
                    );
                }
                Err(e) => last = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("wasmtime serve did not answer within {READY_WITHIN:?} ({last}); see {}", log.display())
    }
}
