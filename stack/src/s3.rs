//! An S3 server backed by a local folder.
//!
//! The dispatcher and executor speak plain S3, so tests and the local stack
//! serve s3s-fs in-process instead of needing MinIO or RustFS. It runs on its
//! own thread and Tokio runtime: a `#[tokio::test]` runtime is torn down when
//! the test body ends, and the server must keep answering until the
//! `S3Server` itself is dropped, including from synchronous code.
//!
//! With [`RUSTFS_BIN_ENV`] set, [`S3Server::start`] runs a real RustFS
//! process instead (`scripts/rustfs.sh` does), one per server with its own
//! port, data folder and credentials, so every test runs unchanged against
//! the store production uses and stays isolated from the others.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::sync::oneshot;

use crate::ports::{free_port, wait_for_port};
use crate::process::ChildGuard;

/// Access key the server accepts.
pub const ACCESS_KEY: &str = "faas-local";
/// Secret key belonging to [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "faas-local-secret";
/// Region clients should sign for; s3s-fs ignores it but SigV4 needs one.
pub const REGION: &str = "us-east-1";

/// Environment variable naming a `rustfs` binary; when set (and not
/// empty), [`S3Server::start`] runs RustFS instead of s3s-fs.
pub const RUSTFS_BIN_ENV: &str = "FAAS_TEST_RUSTFS_BIN";

const START_TIMEOUT: Duration = Duration::from_secs(10);

/// RustFS formats its data folder and starts its subsystems first.
const RUSTFS_START_TIMEOUT: Duration = Duration::from_secs(90);

/// An S3 server on 127.0.0.1, stopped when dropped: s3s-fs in-process, or a
/// RustFS process when [`RUSTFS_BIN_ENV`] is set.
///
/// With s3s-fs, buckets are sub-folders of [`S3Server::root`] and objects are
/// files, so tests can inspect or corrupt stored data directly.
#[derive(Debug)]
pub struct S3Server {
    port: u16,
    root: PathBuf,
    backend: Backend,
    access_key: String,
    secret_key: String,
    running: Option<Running>,
    // Held only to delete the folder on drop; `None` for `start_in`.
    _temp: Option<tempfile::TempDir>,
}

/// What serves S3.
#[derive(Debug)]
enum Backend {
    /// s3s-fs on a thread of this process.
    S3sFs,
    /// A RustFS process; its log goes to `log`, next to the data folder.
    RustFs { bin: PathBuf, log: PathBuf },
}

#[derive(Debug)]
enum Running {
    Thread { shutdown: oneshot::Sender<()>, thread: JoinHandle<()> },
    Process(ChildGuard),
}

impl S3Server {
    /// Starts a server over a fresh temporary folder on a free port: s3s-fs,
    /// or RustFS with fresh credentials if [`RUSTFS_BIN_ENV`] names a binary.
    pub fn start() -> anyhow::Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("faas-s3-")
            .tempdir()
            .context("create a temporary directory for the S3 server")?;
        let mut server = match std::env::var_os(RUSTFS_BIN_ENV).filter(|bin| !bin.is_empty()) {
            // Port 0: the listener takes the kernel's ephemeral port when it
            // binds, so no other socket can take it in between.
            None => Self::s3s_fs(temp.path().to_path_buf(), 0, Some(temp)),
            Some(bin) => Self::rustfs(bin.into(), temp)?,
        };
        server.spawn()?;
        Ok(server)
    }

    /// Starts an s3s-fs server over `dir` (created if missing, kept
    /// afterwards) on `port`.
    pub fn start_in(dir: &Path, port: u16) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create S3 data directory {}", dir.display()))?;
        let mut server = Self::s3s_fs(dir.to_path_buf(), port, None);
        server.spawn()?;
        Ok(server)
    }

    fn s3s_fs(root: PathBuf, port: u16, temp: Option<tempfile::TempDir>) -> Self {
        Self {
            port,
            root,
            backend: Backend::S3sFs,
            access_key: ACCESS_KEY.to_owned(),
            secret_key: SECRET_KEY.to_owned(),
            running: None,
            _temp: temp,
        }
    }

    /// RustFS's data goes to `data/` in `temp`, its log next to it.
    fn rustfs(bin: PathBuf, temp: tempfile::TempDir) -> anyhow::Result<Self> {
        let root = temp.path().join("data");
        std::fs::create_dir(&root).context("create the RustFS data directory")?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        Ok(Self {
            port: free_port(),
            root,
            backend: Backend::RustFs { bin, log: temp.path().join("rustfs.log") },
            access_key: format!("faas-{}", &id[..12]),
            secret_key: format!("secret-{id}"),
            running: None,
            _temp: Some(temp),
        })
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
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret key clients must sign with.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The region clients should use.
    pub fn region(&self) -> &'static str {
        REGION
    }

    /// The folder holding the data (RustFS's own format with RustFS).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether this is a RustFS process rather than s3s-fs.
    pub fn is_rustfs(&self) -> bool {
        matches!(self.backend, Backend::RustFs { .. })
    }

    /// Stops serving and closes open connections; the data is kept.
    pub fn stop(&mut self) {
        match self.running.take() {
            None => {}
            Some(Running::Thread { shutdown, thread }) => {
                // The receiver is gone only if the thread already ended.
                let _ = shutdown.send(());
                if thread.join().is_err() {
                    ::tracing::error!(port = self.port, "S3 server thread panicked");
                }
            }
            Some(Running::Process(mut child)) => child.stop(),
        }
    }

    /// Serves again on the same port and folder, stopping first if needed.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::S3sFs => self.spawn_s3s_fs(),
            Backend::RustFs { bin, log } => {
                let child =
                    spawn_rustfs(bin, log, &self.root, self.port, &self.access_key, &self.secret_key)?;
                self.running = Some(Running::Process(child));
                Ok(())
            }
        }
    }

    fn spawn_s3s_fs(&mut self) -> anyhow::Result<()> {
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
        // A server started on port 0 keeps the port it got, so a restart
        // (after `stop`) comes back on the same endpoint.
        self.port = listener.local_addr().context("read the S3 server's port")?.port();
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
        self.running = Some(Running::Thread { shutdown, thread });

        anyhow::ensure!(
            wait_for_port(self.port, START_TIMEOUT),
            "S3 server on port {} did not accept connections",
            self.port
        );
        Ok(())
    }
}

/// Starts RustFS serving `data` on `127.0.0.1:port` with the given
/// credentials, and waits until it reports ready.
fn spawn_rustfs(
    bin: &Path,
    log: &Path,
    data: &Path,
    port: u16,
    access_key: &str,
    secret_key: &str,
) -> anyhow::Result<ChildGuard> {
    anyhow::ensure!(bin.is_file(), "{RUSTFS_BIN_ENV}={} is not a file", bin.display());
    // Appending keeps the log of a run before a restart.
    let log_file = File::options().create(true).append(true).open(log).context("open the RustFS log")?;
    let work_dir = log.parent().unwrap_or(data);
    let child = Command::new(bin)
        .arg("server")
        .arg(data)
        .env("RUSTFS_ADDRESS", format!("127.0.0.1:{port}"))
        .env("RUSTFS_ACCESS_KEY", access_key)
        .env("RUSTFS_SECRET_KEY", secret_key)
        // The console would bind 9001 in every instance.
        .env("RUSTFS_CONSOLE_ENABLE", "false")
        .env("RUSTFS_OBS_LOG_DIRECTORY", work_dir.join("logs"))
        .current_dir(work_dir)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().context("share the RustFS log")?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("spawn {}", bin.display()))?;
    let mut child = ChildGuard(child);

    let deadline = Instant::now() + RUSTFS_START_TIMEOUT;
    while !rustfs_ready(port) {
        if !child.is_running() || Instant::now() >= deadline {
            child.stop();
            let mut text = String::new();
            let _ = File::open(log).and_then(|mut f| f.read_to_string(&mut text));
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            anyhow::bail!("RustFS on port {port} did not become ready; its log ends:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child)
}

/// Whether RustFS answers its readiness probe with 200: the port alone
/// opens before the storage layer is up.
fn rustfs_ready(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status_line = [0u8; 12];
    stream.read_exact(&mut status_line).is_ok() && status_line.ends_with(b" 200")
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
