//! The platform under test: the real service binaries as child processes.
//!
//! In-process services would hide costs users pay (process boundaries, real
//! sockets, each binary's own runtime), so the bench runs the binaries
//! `faas-local` runs, against a throwaway nats-server and S3 server. Unlike
//! `faas-local` it sends the services' output to log files: interleaved with
//! the results table it would be noise, and printing costs CPU the services
//! are being measured on.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::StatusCode;
use stack::process::ChildGuard;
use stack::{NatsServer, S3Server};

/// How long the services get to report ready, and a restarted executor to
/// answer a ping.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Subject prefix of this platform.
pub const PREFIX: &str = "faas";

/// How an executor is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorMode {
    /// As deployed: with the shared artifact key.
    Normal,
    /// The original platform's path: download and compile on every call.
    CompileEveryCall,
    /// Without the artifact key, so no precompiled artifact can be trusted.
    NoArtifactKey,
}

/// nats-server, S3 and the three services, stopped on drop.
pub struct Platform {
    // Field order is drop order: services before the servers they use.
    api: ChildGuard,
    executor: ChildGuard,
    dispatcher: ChildGuard,
    nats: NatsServer,
    s3: S3Server,
    bin_dir: PathBuf,
    log_dir: PathBuf,
    artifact_key: String,
    /// Base URL of the api, `http://127.0.0.1:PORT`.
    pub api_url: String,
    /// A client for control requests (pings); load uses its own.
    pub control: async_nats::Client,
    /// An HTTP client for control requests (deploys, single calls).
    pub http: reqwest::Client,
}

impl Platform {
    /// Starts everything and waits until the api reports ready.
    pub async fn start(bin_dir: &Path, log_dir: &Path) -> anyhow::Result<Self> {
        for name in ["faas-dispatcher", "faas-executor", "faas-api"] {
            let bin = bin_dir.join(name);
            anyhow::ensure!(
                bin.is_file(),
                "{} not found; build it first (cargo build --bins)",
                bin.display()
            );
        }
        std::fs::create_dir_all(log_dir).with_context(|| format!("create {}", log_dir.display()))?;
        // Both wait for their port with blocking sleeps.
        let (nats, s3) = tokio::task::spawn_blocking(|| -> anyhow::Result<_> {
            Ok((NatsServer::start().context("start nats-server")?, S3Server::start().context("start S3")?))
        })
        .await??;
        // A fresh secret per run: the shared artifact cache trusts only what
        // was signed with it, so nothing from an earlier run can be reused.
        let artifact_key = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let api_url = format!("http://127.0.0.1:{}", stack::ports::free_port());
        let control = async_nats::connect(nats.url()).await.context("connect to nats-server")?;
        let http = reqwest::Client::builder().no_proxy().build()?;

        let spawner = Spawner { bin_dir, log_dir };
        let dispatcher = spawner.spawn("faas-dispatcher", &backend_env(&nats, &s3, Some(&artifact_key)))?;
        let executor =
            spawner.spawn("faas-executor", &executor_env(&nats, &s3, &artifact_key, ExecutorMode::Normal))?;
        let mut api_env = common_env(&nats);
        api_env.push(("API_LISTEN", api_url.trim_start_matches("http://").to_owned()));
        let api = spawner.spawn("faas-api", &api_env)?;

        let mut platform = Self {
            api,
            executor,
            dispatcher,
            nats,
            s3,
            bin_dir: bin_dir.to_path_buf(),
            log_dir: log_dir.to_path_buf(),
            artifact_key,
            api_url,
            control,
            http,
        };
        platform.wait_ready().await?;
        Ok(platform)
    }

    /// The nats-server client URL.
    pub fn nats_url(&self) -> String {
        self.nats.url()
    }

    /// Process id of the executor now running.
    pub fn executor_pid(&self) -> u32 {
        self.executor.id()
    }

    /// Process id of the api.
    pub fn api_pid(&self) -> u32 {
        self.api.id()
    }

    /// Process id of the dispatcher.
    pub fn dispatcher_pid(&self) -> u32 {
        self.dispatcher.id()
    }

    /// Fails if a service has exited, naming it and its log.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for (name, child) in [
            ("faas-api", &mut self.api),
            ("faas-executor", &mut self.executor),
            ("faas-dispatcher", &mut self.dispatcher),
        ] {
            if !child.is_running() {
                bail!("{name} exited; see {}", self.log_dir.join(format!("{name}.log")).display());
            }
        }
        Ok(())
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let ready =
                self.http.get(format!("{}/ready", self.api_url)).timeout(Duration::from_secs(2)).send().await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return Ok(());
            }
            self.check_alive()?;
            if started.elapsed() > READY_TIMEOUT {
                bail!("{}/ready did not answer 200 within {READY_TIMEOUT:?}", self.api_url);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the executor (SIGKILL: no graceful drain, like a crash or a
    /// scale-down that does not wait), starts a new one in `mode`, and waits
    /// until it answers a ping. Returns the time from spawn to first pong.
    pub async fn restart_executor(&mut self, mode: ExecutorMode) -> anyhow::Result<Duration> {
        self.executor.stop();
        let env = executor_env(&self.nats, &self.s3, &self.artifact_key, mode);
        let started = Instant::now();
        self.executor =
            Spawner { bin_dir: &self.bin_dir, log_dir: &self.log_dir }.spawn("faas-executor", &env)?;
        let subject = format!("{PREFIX}.ping.executor");
        loop {
            let ping = async_nats::Request::new().timeout(Some(Duration::from_millis(500)));
            // Until the new executor subscribes, the server answers "no
            // responders" at once, so this loop does not wait on timeouts.
            if self.control.send_request(subject.clone(), ping).await.is_ok() {
                return Ok(started.elapsed());
            }
            if !self.executor.is_running() {
                bail!(
                    "the restarted executor exited; see {}",
                    self.log_dir.join("faas-executor.log").display()
                );
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("the restarted executor did not answer a ping within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// `PUT /bucket/{bucket}`.
    pub async fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let resp = self.http.put(format!("{}/bucket/{bucket}", self.api_url)).send().await?;
        let status = resp.status();
        if status != StatusCode::CREATED {
            bail!("PUT /bucket/{bucket}: {status} {}", resp.text().await.unwrap_or_default());
        }
        Ok(())
    }

    /// `POST /file/{bucket}/{function}` with `component` as multipart field
    /// `file`; returns how long the upload took.
    pub async fn upload(&self, bucket: &str, function: &str, component: Vec<u8>) -> anyhow::Result<Duration> {
        let part = reqwest::multipart::Part::bytes(component)
            .file_name(format!("{function}.wasm"))
            .mime_str("application/wasm")?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let started = Instant::now();
        let resp = self
            .http
            .post(format!("{}/file/{bucket}/{function}", self.api_url))
            .multipart(form)
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status != StatusCode::CREATED {
            bail!("POST /file/{bucket}/{function}: {status} {body}");
        }
        Ok(started.elapsed())
    }

    /// One `POST /exec/{bucket}/{function}`; returns the time taken, failing
    /// unless the answer is 200 with exactly `expected`.
    pub async fn exec_once(
        &self,
        bucket: &str,
        function: &str,
        input: &'static [u8],
        expected: &[u8],
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let resp = self
            .http
            .post(format!("{}/exec/{bucket}/{function}", self.api_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(input)
            .send()
            .await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        let elapsed = started.elapsed();
        if status != StatusCode::OK || body != expected {
            bail!(
                "POST /exec/{bucket}/{function}: {status} {}, expected {}",
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(expected)
            );
        }
        Ok(elapsed)
    }

    /// Stops the services, then the servers.
    pub fn stop(mut self) {
        self.api.stop();
        self.executor.stop();
        self.dispatcher.stop();
        self.s3.stop();
        self.nats.stop();
    }
}

fn common_env(nats: &NatsServer) -> Vec<(&'static str, String)> {
    vec![
        ("NATS_URL", nats.url()),
        ("FAAS_SUBJECT_PREFIX", PREFIX.to_owned()),
        // Per-request logging at info would cost more than some calls.
        ("RUST_LOG", "warn".to_owned()),
    ]
}

fn backend_env(nats: &NatsServer, s3: &S3Server, artifact_key: Option<&str>) -> Vec<(&'static str, String)> {
    let mut env = common_env(nats);
    env.extend([
        ("S3_ENDPOINT", s3.endpoint()),
        ("S3_ACCESS_KEY", s3.access_key().to_owned()),
        ("S3_SECRET_KEY", s3.secret_key().to_owned()),
        ("S3_REGION", s3.region().to_owned()),
    ]);
    if let Some(key) = artifact_key {
        env.push(("FAAS_ARTIFACT_KEY", key.to_owned()));
    }
    env
}

fn executor_env(
    nats: &NatsServer,
    s3: &S3Server,
    key: &str,
    mode: ExecutorMode,
) -> Vec<(&'static str, String)> {
    let mut env = backend_env(nats, s3, (mode != ExecutorMode::NoArtifactKey).then_some(key));
    if mode == ExecutorMode::CompileEveryCall {
        env.push(("FAAS_EXEC_COMPILE_EVERY_CALL", "true".to_owned()));
    }
    env
}

struct Spawner<'a> {
    bin_dir: &'a Path,
    log_dir: &'a Path,
}

impl Spawner<'_> {
    /// Starts `bin_dir/name` with `env`, appending its output to
    /// `log_dir/name.log` (appending keeps a restarted executor's earlier
    /// lines).
    fn spawn(&self, name: &str, env: &[(&str, String)]) -> anyhow::Result<ChildGuard> {
        let log_path = self.log_dir.join(format!("{name}.log"));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("open {}", log_path.display()))?;
        let bin = self.bin_dir.join(name);
        let mut command = Command::new(&bin);
        // Variables from the caller's shell (a FAAS_ARTIFACT_KEY, say) must
        // not change what is measured; only these reach the service.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FAAS_") {
                command.env_remove(&key);
            }
        }
        let child = command
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        Ok(ChildGuard(child))
    }
}
