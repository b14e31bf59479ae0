//! An S3 server backed by a local folder.
//!
//! The dispatcher and executor speak plain S3, so tests and the local stack
//! serve s3s-fs in-process instead of needing MinIO or RustFS. It runs on its
//! own thread and Tokio runtime: a `#[tokio::test]` runtime is torn down when
//! the test body ends, and the server must keep answering until the
//! `S3Server` itself is dropped, including from synchronous code.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::sync::oneshot;

use crate::ports::{free_port, wait_for_port};

/// Access key the server accepts.
pub const ACCESS_KEY: &str = "faas-local";
/// Secret key belonging to [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "faas-local-secret";
/// Region clients should sign for; s3s-fs ignores it but SigV4 needs one.
pub const REGION: &str = "us-east-1";

const START_TIMEOUT: Duration = Duration::from_secs(10);

/// An s3s-fs server on 127.0.0.1, stopped when dropped.
///
/// Buckets are sub-folders of [`S3Server::root`] and objects are files, so
/// tests can inspect or corrupt stored data directly.
#[derive(Debug)]
pub struct S3Server {
    port: u16,
    root: PathBuf,
    running: Option<Running>,
    // Held only to delete the folder on drop; `None` for `start_in`.
    _temp: Option<tempfile::TempDir>,
}

#[derive(Debug)]
struct Running {
    shutdown: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl S3Server {
    /// Starts a server over a fresh temporary folder on a free port.
    pub fn start() -> anyhow::Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("faas-s3-")
            .tempdir()
            .context("create a temporary directory for the S3 server")?;
        let mut server =
            Self { port: free_port(), root: temp.path().to_path_buf(), running: None, _temp: Some(temp) };
        server.spawn()?;
        Ok(server)
    }

    /// Starts a server over `dir` (created if missing, kept afterwards) on `port`.
    pub fn start_in(dir: &Path, port: u16) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create S3 data directory {}", dir.display()))?;
        let mut server = Self { port, root: dir.to_path_buf(), running: None, _temp: None };
        server.spawn()?;
        Ok(server)
    }

    /// The endpoint URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The access key clients must sign with.
    pub fn access_key(&self) -> &'static str {
        ACCESS_KEY
    }

    /// The secret key clients must sign with.
    pub fn secret_key(&self) -> &'static str {
        SECRET_KEY
    }

    /// The region clients should use.
    pub fn region(&self) -> &'static str {
        REGION
    }

    /// The folder holding the buckets.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stops serving and closes open connections; the data is kept.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            // The receiver is gone only if the thread already ended.
            let _ = running.shutdown.send(());
            if running.thread.join().is_err() {
                ::tracing::error!(port = self.port, "S3 server thread panicked");
            }
        }
    }

    /// Serves again on the same port and folder, stopping first if needed.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let fs = s3s_fs::FileSystem::new(&self.root)
            .map_err(|e| anyhow::anyhow!("open S3 folder {}: {e:?}", self.root.display()))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();

        // Binding here rather than on the server thread turns "port in use"
        // into an error for the caller, and connections queue in the backlog
        // from this moment on.
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .with_context(|| format!("bind the S3 server to 127.0.0.1:{}", self.port))?;
        listener.set_nonblocking(true)?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("s3-{}", self.port))
            .enable_all()
            .build()
            .context("build the S3 server runtime")?;
        let (shutdown, shutdown_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("s3-server-{}", self.port))
            .spawn(move || {
                runtime.block_on(serve(listener, service, shutdown_rx));
                // Dropping the runtime cancels the connection tasks, which
                // is what an outage looks like to clients. The timeout bounds
                // a file operation that is still running on a blocking thread.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .context("spawn the S3 server thread")?;
        self.running = Some(Running { shutdown, thread });

        anyhow::ensure!(
            wait_for_port(self.port, START_TIMEOUT),
            "S3 server on port {} did not accept connections",
            self.port
        );
        Ok(())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(listener: TcpListener, service: S3Service, mut shutdown: oneshot::Receiver<()>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            ::tracing::error!("S3 server cannot use its listener: {e}");
            return;
        }
    };
    let http = ConnBuilder::new(TokioExecutor::new());
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(e) => {
                    // Usually running out of file descriptors; backing off
                    // avoids a hot loop while it lasts.
                    ::tracing::warn!("S3 server accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Without this, small responses following a write wait for the
        // delayed ACK and every S3 call costs about 40 ms.
        if let Err(e) = socket.set_nodelay(true) {
            ::tracing::warn!("S3 server cannot set TCP_NODELAY: {e}");
        }
        let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                ::tracing::debug!("S3 connection ended with an error: {e}");
            }
        });
    }
}
