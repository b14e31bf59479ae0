//! A real nats-server for tests and the local stack.
//!
//! The services rely on NATS request/reply and JetStream, so tests run
//! against the actual server binary rather than a fake. Each instance gets its
//! own port and store directory so tests can run in parallel, and it can be
//! stopped and restarted in place to simulate outages.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::ports::{free_port, wait_for_port};

/// How long a starting server may take before we give up.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// JetStream file storage each server declares (see `spawn`): 8 GiB, above
/// the sum of the platform's default store caps (about 2.5 GiB).
const JETSTREAM_FILE_STORE: &str = "8GB";

/// Go's scheduler threads (`GOMAXPROCS`) each server gets unless the
/// caller's environment sets its own.
///
/// Go sizes it to every CPU. On a box nats-server shares with the api and
/// the executors it uses a fraction of one core, and the extra threads
/// only hand each message from one OS thread to another: with one, a warm
/// call at c=1 costs the server about 6 context switches instead of 10
/// and a fifth less CPU, and the call's p50 drops by about a fifth
/// (`bench/results/2026-12-07-f606fc7-gomaxprocs.md`). A server on a host
/// of its own should keep Go's default.
pub const SHARED_HOST_GOMAXPROCS: &str = "1";

/// The `GOMAXPROCS` the servers started here run with.
pub fn go_max_procs() -> String {
    std::env::var("GOMAXPROCS").unwrap_or_else(|_| SHARED_HOST_GOMAXPROCS.to_owned())
}

/// A nats-server child process with JetStream enabled.
///
/// Dropping it kills the server; a temporary store directory is removed too.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// A configuration file (`-c`) and the environment it reads, if any.
    config: Option<ServerConfig>,
    // Held only to delete the directory on drop; `None` for `start_in`.
    _temp: Option<tempfile::TempDir>,
}

/// A nats-server configuration file and the variables it reads from the
/// environment (passwords).
#[derive(Debug, Clone)]
struct ServerConfig {
    file: PathBuf,
    env: Vec<(String, String)>,
}

impl NatsServer {
    /// Starts a server on a free port with a temporary JetStream store.
    pub fn start() -> anyhow::Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("faas-nats-")
            .tempdir()
            .context("create a temporary directory for nats-server")?;
        let mut server = Self {
            child: None,
            port: free_port(),
            dir: temp.path().to_path_buf(),
            config: None,
            _temp: Some(temp),
        };
        server.spawn_on_a_free_port()?;
        Ok(server)
    }

    /// Starts a server like [`NatsServer::start`], with the configuration
    /// file `config` (users, permissions), which reads `env` from its
    /// environment. Port, JetStream and its store still come from the
    /// command line.
    pub fn start_with_config(config: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("faas-nats-")
            .tempdir()
            .context("create a temporary directory for nats-server")?;
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut server = Self {
            child: None,
            port: free_port(),
            dir: temp.path().to_path_buf(),
            config: Some(ServerConfig { file: config.to_path_buf(), env }),
            _temp: Some(temp),
        };
        server.spawn_on_a_free_port()?;
        Ok(server)
    }

    /// Starts a server on `port` that keeps its JetStream store in `dir`.
    ///
    /// The directory is created if needed and survives the server, which is
    /// what the local stack wants between runs.
    pub fn start_in(dir: &Path, port: u16) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create nats data directory {}", dir.display()))?;
        let mut server = Self { child: None, port, dir: dir.to_path_buf(), config: None, _temp: None };
        server.spawn()?;
        Ok(server)
    }

    /// Starts a server like [`NatsServer::start_in`] (on `port`, its
    /// JetStream store kept in `dir`), with the configuration file `config`,
    /// which reads `env` from its environment: the local stack with the
    /// per-role users of `deploy/nats/`.
    pub fn start_in_with_config(
        dir: &Path,
        port: u16,
        config: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create nats data directory {}", dir.display()))?;
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let config = Some(ServerConfig { file: config.to_path_buf(), env });
        let mut server = Self { child: None, port, dir: dir.to_path_buf(), config, _temp: None };
        server.spawn()?;
        Ok(server)
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory, which also holds `nats-server.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Connects a client with default options.
    ///
    /// # Panics
    ///
    /// If the server cannot be reached; tests have nothing useful to do then.
    pub async fn connect(&self) -> async_nats::Client {
        let url = self.url();
        async_nats::connect(&url).await.unwrap_or_else(|e| panic!("connect to nats-server at {url}: {e}"))
    }

    /// Connects a client with `options` (a user, an inbox prefix, ...).
    pub async fn connect_with(
        &self,
        options: async_nats::ConnectOptions,
    ) -> anyhow::Result<async_nats::Client> {
        let url = self.url();
        options.connect(&url).await.with_context(|| format!("connect to nats-server at {url}"))
    }

    /// Kills the server and waits for it to exit; the store is kept.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A child that already died cannot be killed; it is gone either way.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same store.
    ///
    /// Stops it first if it is still running, so this also works as a bounce.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }

    /// Process id of the server, while it runs (the bench reads its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the server process is alive.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Spawns a fresh server, on another free port if the one picked was
    /// taken in between (`free_port` releases the port it found, and any
    /// process may bind it before nats-server does). Restarts keep their
    /// port: clients reconnect to it.
    fn spawn_on_a_free_port(&mut self) -> anyhow::Result<()> {
        const ATTEMPTS: usize = 3;
        for attempt in 1.. {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(err) if attempt < ATTEMPTS && err.to_string().contains("address already in use") => {
                    self.port = free_port();
                }
                Err(err) => return Err(err),
            }
        }
        unreachable!("the loop returns")
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let bin = std::env::var_os("NATS_SERVER_BIN").unwrap_or_else(|| "nats-server".into());
        let log_path = self.dir.join("nats-server.log");
        // Appending keeps the log of earlier runs, which is what one wants to
        // read after a restart test fails.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("open {}", log_path.display()))?;
        // The log is appended to across restarts: this start is ready once
        // it holds one more "ready" line than now.
        let ready_before = ready_lines(&log_path);
        let mut command = Command::new(&bin);
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]).env("GOMAXPROCS", go_max_procs());
        if let Some(config) = &self.config {
            // A given configuration (users, permissions) keeps JetStream's
            // default storage limit.
            command.arg("-c").arg(&config.file).envs(config.env.iter().map(|(k, v)| (k, v)));
            command.arg("-js").arg("-sd").arg(&self.dir);
        } else {
            // JetStream reserves every store's byte cap against its storage
            // limit, which by default is a share of the disk that is free at
            // start: on a busy disk the platform's stores would not fit. A fixed
            // limit, larger than the sum of the caps, makes start-up independent
            // of free space (the tests and the local stack write far less).
            let config_path = self.dir.join("nats-server.conf");
            let store_dir = self.dir.display().to_string().replace('\\', "/");
            std::fs::write(
                &config_path,
                format!(
                    "jetstream {{\n  store_dir: \"{store_dir}\"\n  max_file_store: {JETSTREAM_FILE_STORE}\n}}\n"
                ),
            )
            .with_context(|| format!("write {}", config_path.display()))?;
            command.arg("-c").arg(&config_path);
        }
        let child =
            command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).spawn().with_context(|| {
                format!("spawn {} (install nats-server or set NATS_SERVER_BIN)", Path::new(&bin).display())
            })?;
        self.child = Some(child);

        // An open port alone could be another process's (the port was only
        // free when it was picked): the server's own log must say it is ready.
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        while self.is_running() && std::time::Instant::now() < deadline {
            if ready_lines(&log_path) > ready_before && wait_for_port(self.port, Duration::from_secs(1)) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Either it exited (port taken, bad flags) or never got ready; the
        // log says which.
        self.stop();
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        anyhow::bail!(
            "nats-server on port {} did not become ready within {:?}; log {}:\n{}",
            self.port,
            START_TIMEOUT,
            log_path.display(),
            tail.join("\n")
        )
    }
}

/// How many times the server's log at `path` says it is ready.
fn ready_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |log| log.matches("Server is ready").count())
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
