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
use stack::services::{NatsUsers, Readiness, ServiceEnv};
use stack::{NatsServer, S3Server};

/// How long the services get to report ready.
const READY: Readiness = Readiness { timeout: Duration::from_secs(60), interval: Duration::from_millis(50) };
/// How long a restarted executor gets to answer a ping; polled often, since
/// the time to the first pong is a figure of the report.
const RESTART: Readiness = Readiness { timeout: Duration::from_secs(60), interval: Duration::from_millis(5) };

/// Subject prefix of this platform.
pub use stack::services::SUBJECT_PREFIX as PREFIX;

/// How an executor is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorMode {
    /// As deployed: with the shared artifact key.
    Normal,
    /// The original platform's path: download and compile on every call.
    CompileEveryCall,
    /// Without the artifact key, so no precompiled artifact can be trusted.
    NoArtifactKey,
    /// As deployed, with the component cache bounded at `max_bytes`
    /// (`FAAS_CACHE_MAX_BYTES`) and metrics served on `metrics_port`.
    CacheBudget {
        /// The cache budget, bytes.
        max_bytes: u64,
        /// Port of `/metrics` on 127.0.0.1.
        metrics_port: u16,
    },
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
    /// `--service-env`: given to every service after its own variables.
    settings: Vec<(String, String)>,
    env: ServiceEnv,
    /// Base URL of the api, `http://127.0.0.1:PORT`.
    pub api_url: String,
    /// A client for control requests (pings); load uses its own.
    pub control: async_nats::Client,
    /// An HTTP client for control requests (deploys, single calls).
    pub http: reqwest::Client,
}

impl Platform {
    /// The api's admin token: load clients send it, as deployed ones do.
    pub fn admin_token(&self) -> &str {
        &self.env.admin_token
    }

    /// Starts everything and waits until the api reports ready.
    pub async fn start(
        bin_dir: &Path,
        log_dir: &Path,
        settings: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        for name in ["faas-dispatcher", "faas-executor", "faas-api"] {
            let bin = bin_dir.join(name);
            anyhow::ensure!(
                bin.is_file(),
                "{} not found; build it first (cargo build --bins)",
                bin.display()
            );
        }
        std::fs::create_dir_all(log_dir).with_context(|| format!("create {}", log_dir.display()))?;
        // NATS as deployed: the per-role users and permissions of
        // deploy/nats, each service logged in as its own user.
        let users = NatsUsers::random();
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats/nats-server.conf");
        // Both wait for their port with blocking sleeps.
        let server_users = users.clone();
        let (nats, s3) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let nats = NatsServer::start_with_config(&config, &server_users.server_env())
                .context("start nats-server")?;
            Ok((nats, S3Server::start().context("start S3")?))
        })
        .await??;
        // With a fresh artifact key: the shared artifact cache trusts only
        // what was signed with it, so nothing from an earlier run is reused.
        let mut env = ServiceEnv::new(&nats, &s3);
        env.nats_users = Some(users);
        // The api checks tokens, as deployed; its admin token is the
        // caller's `FAAS_ADMIN_TOKEN`, else a fresh one (as `scripts/up.sh`).
        if let Ok(token) = std::env::var("FAAS_ADMIN_TOKEN")
            && !token.trim().is_empty()
        {
            env.admin_token = token.trim().to_owned();
        }
        let api_url = format!("http://127.0.0.1:{}", stack::ports::free_port());
        let control = env.connect_operator("faas-bench control").await?;
        let http =
            stack::services::authorized(reqwest::Client::builder(), &env.admin_token).no_proxy().build()?;

        let spawner = Spawner { bin_dir, log_dir, settings: &settings };
        let dispatcher = spawner.spawn("faas-dispatcher", &env.dispatcher())?;
        let executor = spawner.spawn("faas-executor", &executor_env(&env, ExecutorMode::Normal))?;
        let api = spawner.spawn("faas-api", &env.api(api_url.trim_start_matches("http://")))?;

        let mut platform = Self {
            api,
            executor,
            dispatcher,
            nats,
            s3,
            bin_dir: bin_dir.to_path_buf(),
            log_dir: log_dir.to_path_buf(),
            settings,
            env,
            api_url,
            control,
            http,
        };
        platform.wait_ready().await?;
        Ok(platform)
    }

    /// A NATS client of the bench's own, logged in as the operator.
    pub async fn nats_client(&self, name: &str) -> anyhow::Result<async_nats::Client> {
        self.env.connect_operator(name).await
    }

    /// Process id of the executor now running.
    pub fn executor_pid(&self) -> u32 {
        self.executor.id()
    }

    /// Process id of the api.
    pub fn api_pid(&self) -> u32 {
        self.api.id()
    }

    /// Process id of nats-server, while it runs.
    pub fn nats_pid(&self) -> Option<u32> {
        self.nats.pid()
    }

    /// Where the services' (and the peer's) log files go.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
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
        let (http, url) = (self.http.clone(), format!("{}/ready", self.api_url));
        READY.http_ok(&http, &url, |_| self.check_alive()).await?;
        Ok(())
    }

    /// Kills the executor (SIGKILL: no graceful drain, like a crash or a
    /// scale-down that does not wait), starts a new one in `mode`, and waits
    /// until it answers a ping. Returns the time from spawn to first pong.
    pub async fn restart_executor(&mut self, mode: ExecutorMode) -> anyhow::Result<Duration> {
        self.executor.stop();
        let env = executor_env(&self.env, mode);
        let started = Instant::now();
        self.executor = Spawner { bin_dir: &self.bin_dir, log_dir: &self.log_dir, settings: &self.settings }
            .spawn("faas-executor", &env)?;
        let (control, subject) = (self.control.clone(), format!("{PREFIX}.ping.executor"));
        let executor = &mut self.executor;
        let log = self.log_dir.join("faas-executor.log");
        RESTART
            .nats_answer(&control, &subject, |_| {
                if !executor.is_running() {
                    bail!("the restarted executor exited; see {}", log.display());
                }
                Ok(())
            })
            .await?;
        Ok(started.elapsed())
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

    /// `PUT /config/{bucket}/{function}` with `config`.
    pub async fn put_config(
        &self,
        bucket: &str,
        function: &str,
        config: serde_json::Value,
    ) -> anyhow::Result<()> {
        let resp = self
            .http
            .put(format!("{}/config/{bucket}/{function}", self.api_url))
            .json(&config)
            .send()
            .await?;
        let status = resp.status();
        if status != StatusCode::OK {
            bail!("PUT /config/{bucket}/{function}: {status} {}", resp.text().await.unwrap_or_default());
        }
        Ok(())
    }

    /// `POST /tokens` as the admin: a token holding `scopes`; returns its secret.
    pub async fn mint_token(&self, name: &str, scopes: &[&str]) -> anyhow::Result<String> {
        let body = serde_json::json!({ "name": name, "scopes": scopes });
        let resp = self.http.post(format!("{}/tokens", self.api_url)).json(&body).send().await?;
        let status = resp.status();
        let answer: serde_json::Value = resp.json().await.context("read the token")?;
        if status != StatusCode::CREATED {
            bail!("POST /tokens: {status} {answer}");
        }
        answer["token"].as_str().map(str::to_owned).context("no token in the answer")
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

    /// Starts a second api with `FAAS_AUTH=off`, to measure what checking
    /// tokens costs; returns it (stopped on drop) and its base URL once it
    /// reports ready.
    pub async fn start_api_without_auth(&self) -> anyhow::Result<(ChildGuard, String)> {
        let listen = format!("127.0.0.1:{}", stack::ports::free_port());
        let mut env = self.env.api(&listen);
        env.push(("FAAS_AUTH", "off".to_owned()));
        let spawner = Spawner { bin_dir: &self.bin_dir, log_dir: &self.log_dir, settings: &self.settings };
        let mut api = spawner.spawn_as("faas-api", "faas-api-auth-off", &env)?;
        let url = format!("http://{listen}");
        let log = self.log_dir.join("faas-api-auth-off.log");
        READY
            .http_ok(&self.http, &format!("{url}/ready"), |_| {
                if !api.is_running() {
                    bail!("the api without auth exited; see {}", log.display());
                }
                Ok(())
            })
            .await?;
        Ok((api, url))
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

fn executor_env(env: &ServiceEnv, mode: ExecutorMode) -> Vec<(&'static str, String)> {
    let mut env = env.clone();
    if mode == ExecutorMode::NoArtifactKey {
        env.artifact_key = None;
    }
    let mut vars = env.executor();
    if mode == ExecutorMode::CompileEveryCall {
        vars.push(("FAAS_EXEC_COMPILE_EVERY_CALL", "true".to_owned()));
    }
    if let ExecutorMode::CacheBudget { max_bytes, metrics_port } = mode {
        vars.push(("FAAS_CACHE_MAX_BYTES", max_bytes.to_string()));
        vars.push(("FAAS_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")));
    }
    vars
}

struct Spawner<'a> {
    bin_dir: &'a Path,
    settings: &'a [(String, String)],
    log_dir: &'a Path,
}

impl Spawner<'_> {
    /// Starts `bin_dir/name` with `env`, appending its output to
    /// `log_dir/name.log` (appending keeps a restarted executor's earlier
    /// lines).
    fn spawn(&self, name: &str, env: &[(&str, String)]) -> anyhow::Result<ChildGuard> {
        self.spawn_as(name, name, env)
    }

    /// Starts `bin_dir/name` with `env`, its output in `log_dir/log.log`.
    fn spawn_as(&self, name: &str, log: &str, env: &[(&str, String)]) -> anyhow::Result<ChildGuard> {
        if let Some(key) = clashing_setting(self.settings, env) {
            // The bench's own variables are what its modes are (auth off,
            // no artifact key, the original path): overriding one would
            // measure something else under that mode's name.
            anyhow::bail!("--service-env {key}: the bench sets {key} itself for {log}");
        }
        let log_path = self.log_dir.join(format!("{log}.log"));
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
            .envs(self.settings.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        Ok(ChildGuard(child))
    }
}

/// The first `--service-env` key that the bench already sets for a service.
fn clashing_setting<'a>(settings: &'a [(String, String)], env: &[(&str, String)]) -> Option<&'a str> {
    settings.iter().map(|(key, _)| key.as_str()).find(|key| env.iter().any(|(own, _)| own == key))
}

#[cfg(test)]
mod tests {
    use super::clashing_setting;

    #[test]
    fn a_setting_may_not_override_the_benchs_own() {
        let own = [("FAAS_AUTH", "off".to_owned()), ("NATS_URL", "nats://x".to_owned())];
        let setting = |key: &str| vec![(key.to_owned(), "v".to_owned())];
        assert_eq!(clashing_setting(&setting("FAAS_AUTH"), &own), Some("FAAS_AUTH"));
        assert_eq!(clashing_setting(&setting("FAAS_CALL_LOGS"), &own), None);
        assert_eq!(clashing_setting(&[], &own), None);
    }
}
