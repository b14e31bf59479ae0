//! A whole platform per test: a real nats-server and a real S3 server on free
//! ports, dispatcher and executors running in-process against them, and the
//! api serving HTTP on a free port. Everything stops when it is dropped.
//!
//! The end-to-end tests in `tests/` are the only tests that run every role
//! together, so this crate is the only one that depends on all of them; the
//! roles' own tests stay within their role.

use std::time::Duration;

use executor::{ExecLimits, ExecutorConfig};
use protocol::Subjects;
use protocol::subjects::{ROLE_DISPATCHER, ROLE_EXECUTOR};
use reqwest::StatusCode;
use serde_json::Value;
use stack::nats::NatsServer;
use stack::nats_cluster::NatsCluster;
use stack::s3::S3Server;
use stack::services::{Readiness, S3Access, ServiceEnv};
use storage::S3Config;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long the platform's services get to answer.
const READINESS: Readiness =
    Readiness { timeout: Duration::from_secs(10), interval: Duration::from_millis(50) };

/// Running services and the servers under them.
pub struct Platform {
    /// The nats-server of a platform on one server ([`Platform::nats_server`]).
    nats: Option<NatsServer>,
    /// The nats-server cluster of a platform started on one
    /// ([`Platform::start_on_cluster`]); tests kill and restart its nodes.
    pub cluster: Option<NatsCluster>,
    /// The S3 server; tests stop and restart it for outages.
    pub s3: S3Server,
    /// A client of the platform's NATS, for tests that speak NATS.
    pub client: async_nats::Client,
    /// An HTTP client for the api; it sends [`TEST_ADMIN_TOKEN`].
    pub http: reqwest::Client,
    /// The api's base URL, `http://127.0.0.1:PORT`.
    pub base: String,
    /// The limits executors started from now on run calls with.
    pub limits: ExecLimits,
    /// How the services reach NATS and S3, and the secret dispatcher and
    /// executors sign precompiled artifacts with.
    pub env: ServiceEnv,
    /// Whether executors started from now on use the shared artifacts.
    pub share_artifacts: bool,
    /// Whether (and how much of) each call's log executors started from
    /// now on publish.
    pub call_logs: executor::CallLogSettings,
    /// `--metrics-max-functions` of executors started from now on.
    pub metrics_max_functions: usize,
    /// `FAAS_CACHE_MAX_BYTES` of executors started from now on (`None`:
    /// the default share of memory).
    pub cache_max_bytes: Option<u64>,
    /// Where HTTP functions' outgoing requests may go, on executors
    /// started from now on (default: nowhere).
    pub http_outgoing: executor::HttpOutgoingSettings,
    /// Per-call capability limits of executors started after it is set.
    pub capability_limits: executor::capabilities::CapabilityLimits,
    /// Whether nats-server runs `deploy/nats/nats-server.conf` and every
    /// role connects as its own user ([`NATS_USERS`]).
    secure: bool,
    stop: watch::Sender<bool>,
    dispatcher_config: Option<dispatcher::DispatcherConfig>,
    api_config: Option<api::ApiConfig>,
    dispatchers: Vec<(watch::Sender<bool>, JoinHandle<()>)>,
    executors: Vec<(watch::Sender<bool>, JoinHandle<()>)>,
    /// The metrics URL of each running dispatcher, in start order.
    dispatcher_metrics: Vec<String>,
    /// The metrics URL of each running executor, in start order.
    executor_metrics: Vec<String>,
    tasks: Vec<JoinHandle<()>>,
    /// The executors' local artifact folders, one per executor (those of
    /// concurrent tests hold other keys), deleted with the platform.
    artifact_dirs: tempfile::TempDir,
}

/// Limits small enough that hostile guests fail fast in tests.
pub fn test_limits() -> ExecLimits {
    ExecLimits {
        timeout_ms: 1_500,
        memory_mib: 64,
        max_output: 1 << 20,
        max_log: 64 << 10,
        ..ExecLimits::DEFAULT
    }
}

/// The bootstrap admin token of every test platform's api (which checks
/// tokens, as a deployed one does).
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token-5d1c0f8e9b2a47c3a6e4b0d7f1e2c3a9";

/// An HTTP client builder whose requests carry [`TEST_ADMIN_TOKEN`].
pub fn admin_http() -> reqwest::ClientBuilder {
    stack::services::authorized(reqwest::Client::builder(), TEST_ADMIN_TOKEN)
}

/// The webhook secret test dispatchers sign callbacks with.
pub const TEST_WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Job settings that retry fast, so tests of retries take fractions of a
/// second, and sign callbacks with [`TEST_WEBHOOK_SECRET`].
pub fn test_job_settings() -> dispatcher::JobSettings {
    dispatcher::JobSettings {
        job_retry_delay_ms: 100,
        job_exec_wait_secs: 5,
        job_ack_wait_secs: 10,
        callbacks: dispatcher::CallbackSettings {
            webhook_secret: Some(TEST_WEBHOOK_SECRET.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The users of `deploy/nats/nats-server.conf`: name, the environment
/// variable the config reads its password from, and the password a secure
/// test platform gives it.
pub const NATS_USERS: [(&str, &str, &str); 4] = [
    ("api", "FAAS_NATS_API_PASSWORD", "api-test-password"),
    ("dispatcher", "FAAS_NATS_DISPATCHER_PASSWORD", "dispatcher-test-password"),
    ("executor", "FAAS_NATS_EXECUTOR_PASSWORD", "executor-test-password"),
    ("app", "FAAS_NATS_APP_PASSWORD", "app-test-password"),
];

/// The NATS options of `user` on a secure platform.
pub fn nats_login(url: &str, user: &str) -> bus::NatsOptions {
    let (_, _, password) = NATS_USERS.iter().find(|(name, ..)| *name == user).expect("a deploy/nats user");
    bus::NatsOptions {
        user: Some(user.to_owned()),
        password: Some((*password).to_owned()),
        ..bus::NatsOptions::url(url)
    }
}

/// Trigger and pipeline settings with a short wait for executors.
pub fn test_flow_settings() -> dispatcher::FlowSettings {
    dispatcher::FlowSettings { call_wait_secs: 10, ..Default::default() }
}

/// The NATS a platform runs on.
enum Servers {
    /// One nats-server, open or (`secure`) with `deploy/nats/`'s users.
    Single { secure: bool },
    /// A cluster, every store replicated.
    Cluster(NatsCluster),
}

impl Platform {
    /// nats, S3, one dispatcher, one executor, the api.
    pub async fn start() -> Self {
        Self::start_with(1, 64 << 20).await
    }

    /// Like [`Platform::start`], with nats-server running the shipped
    /// permission layout (`deploy/nats/`) and each role connected as its
    /// own user; the test's own client is the dispatcher's user.
    pub async fn start_secure() -> Self {
        Self::start_full(1, 64 << 20, test_job_settings(), |_| {}, true).await
    }

    /// With `executors` executors and an upload limit.
    pub async fn start_with(executors: usize, max_upload_bytes: usize) -> Self {
        Self::start_full(executors, max_upload_bytes, test_job_settings(), |_| {}, false).await
    }

    /// With `executors` executors and these job settings.
    pub async fn start_with_jobs(executors: usize, jobs: dispatcher::JobSettings) -> Self {
        Self::start_full(executors, 64 << 20, jobs, |_| {}, false).await
    }

    /// With one executor and dispatchers configured by `tune` from the test defaults.
    pub async fn start_with_dispatcher(tune: impl FnOnce(&mut dispatcher::DispatcherConfig)) -> Self {
        Self::start_full(1, 64 << 20, test_job_settings(), tune, false).await
    }

    /// One executor, dispatchers with these trigger and pipeline settings.
    pub async fn start_with_flows(flows: dispatcher::FlowSettings) -> Self {
        Self::start_full(1, 64 << 20, test_job_settings(), move |config| config.flows = flows, false).await
    }

    /// On `cluster` (every role connected to every node, every store with
    /// three replicas): `dispatchers` dispatchers, `executors` executors
    /// and the api. The test's own client is connected to every node too.
    pub async fn start_on_cluster(cluster: NatsCluster, dispatchers: usize, executors: usize) -> Self {
        let tune = |config: &mut dispatcher::DispatcherConfig| config.flows = test_flow_settings();
        let mut platform =
            Self::start_on(Servers::Cluster(cluster), executors, 64 << 20, test_job_settings(), tune).await;
        for _ in 1..dispatchers {
            platform.add_dispatcher().await;
        }
        platform
    }

    async fn start_full(
        executors: usize,
        max_upload_bytes: usize,
        jobs: dispatcher::JobSettings,
        tune: impl FnOnce(&mut dispatcher::DispatcherConfig),
        secure: bool,
    ) -> Self {
        Self::start_on(Servers::Single { secure }, executors, max_upload_bytes, jobs, tune).await
    }

    async fn start_on(
        servers: Servers,
        executors: usize,
        max_upload_bytes: usize,
        jobs: dispatcher::JobSettings,
        tune: impl FnOnce(&mut dispatcher::DispatcherConfig),
    ) -> Self {
        stack::tracing::init_test_tracing();
        let s3 = S3Server::start().expect("S3 server starts");
        let (nats, cluster, secure) = match servers {
            Servers::Single { secure } => (Some(Self::start_nats(secure)), None, secure),
            Servers::Cluster(cluster) => (None, Some(cluster), false),
        };
        let env = match (&nats, &cluster) {
            (Some(nats), _) => ServiceEnv::new(nats, &s3),
            (None, Some(cluster)) => ServiceEnv::on_cluster(cluster, &s3),
            (None, None) => unreachable!("a platform has a NATS"),
        };
        let client = match &nats {
            Some(nats) if secure => bus::connect(&nats_login(&nats.url(), "dispatcher"), "e2e-test")
                .await
                .expect("connect as dispatcher"),
            Some(nats) => nats.connect().await,
            None => env.connect_operator("e2e-test").await.expect("connect to the cluster"),
        };
        let (stop, _) = watch::channel(false);
        let mut platform = Self {
            base: String::new(),
            http: admin_http().build().expect("an HTTP client"),
            client: client.clone(),
            limits: test_limits(),
            env,
            share_artifacts: true,
            call_logs: executor::CallLogSettings::default(),
            metrics_max_functions: bus::metrics::DEFAULT_MAX_FUNCTIONS,
            cache_max_bytes: None,
            http_outgoing: executor::HttpOutgoingSettings::default(),
            capability_limits: executor::capabilities::CapabilityLimits::default(),
            secure,
            nats,
            cluster,
            s3,
            stop,
            dispatcher_config: None,
            api_config: None,
            dispatchers: Vec::new(),
            executors: Vec::new(),
            dispatcher_metrics: Vec::new(),
            executor_metrics: Vec::new(),
            tasks: Vec::new(),
            artifact_dirs: tempfile::tempdir().expect("a temporary folder"),
        };
        platform.start_services(executors, max_upload_bytes, jobs, tune).await;
        platform
    }

    fn start_nats(secure: bool) -> NatsServer {
        if secure {
            let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/nats/nats-server.conf");
            let env: Vec<(&str, &str)> =
                NATS_USERS.iter().map(|(_, var, password)| (*var, *password)).collect();
            NatsServer::start_with_config(std::path::Path::new(config), &env).expect("nats-server starts")
        } else {
            NatsServer::start().expect("nats-server starts")
        }
    }

    async fn start_services(
        &mut self,
        executors: usize,
        max_upload_bytes: usize,
        jobs: dispatcher::JobSettings,
        tune: impl FnOnce(&mut dispatcher::DispatcherConfig),
    ) {
        let platform = self;
        let mut dispatcher_config = dispatcher::DispatcherConfig {
            nats: platform.nats_options("dispatcher"),
            subject_prefix: platform.env.subject_prefix.clone(),
            s3: s3_config(&platform.env.s3),
            max_component_bytes: 64 << 20,
            validate_timeout_secs: 60,
            compile_concurrency: 2,
            artifact_key: platform.env.artifact_key.clone(),
            artifact_sweep_secs: 3600,
            artifact_grace_secs: 3600,
            keep_versions: protocol::versions::DEFAULT_KEEP_VERSIONS,
            jobs,
            flows: test_flow_settings(),
            stores: bus::StoreQuotas::default(),
            metrics: bus::metrics::MetricsOptions::default(),
        };
        tune(&mut dispatcher_config);
        platform.dispatcher_config = Some(dispatcher_config);
        // Waits until it serves: only the dispatcher's user may create the
        // registry, which executors open at start.
        platform.add_dispatcher().await;
        for _ in 0..executors {
            platform.add_executor(4).await;
        }

        let mut api_config = api::ApiConfig::local(platform.env.nats_url.clone());
        api_config.nats = platform.nats_options("api");
        api_config.max_upload_bytes = max_upload_bytes;
        api_config.exec_wait_secs = 20;
        // Several serving threads whatever the machine: connections spread over them.
        api_config.serve_threads = 2;
        api_config.auth = api::config::AuthSetting::On;
        api_config.admin_token = Some(TEST_ADMIN_TOKEN.to_owned());
        api_config.secrets_key =
            platform.env.secrets_key.as_deref().map(|key| key.parse().expect("a 32-byte hex key"));
        platform.api_config = Some(api_config);
        platform.base = platform.add_api().await;
        if executors > 0 {
            platform.wait_ready().await;
        } else {
            platform.wait_healthy().await;
        }
    }

    /// The nats-server of a platform on one server; tests stop and restart
    /// it for outages.
    ///
    /// # Panics
    ///
    /// On a platform started on a cluster.
    pub fn nats_server(&mut self) -> &mut NatsServer {
        self.nats.as_mut().expect("a platform on one nats-server, not a cluster")
    }

    /// How `role` reaches NATS: as its own user on a secure platform, with
    /// the platform's replica count.
    fn nats_options(&self, role: &str) -> bus::NatsOptions {
        let options = if self.secure {
            nats_login(&self.env.nats_url, role)
        } else {
            bus::NatsOptions::url(&self.env.nats_url)
        };
        bus::NatsOptions { js_replicas: self.env.js_replicas, ..options }
    }

    /// A client for a service of `role`, connected as it would connect.
    async fn role_client(&self, role: &str) -> async_nats::Client {
        if let (Some(nats), false) = (&self.nats, self.secure) {
            return nats.connect().await;
        }
        bus::connect(&self.nats_options(role), role).await.unwrap_or_else(|e| panic!("{role} connects: {e}"))
    }

    fn shutdown_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    /// The settings of dispatchers started from now on ([`Self::add_dispatcher`]).
    pub fn dispatcher_config_mut(&mut self) -> &mut dispatcher::DispatcherConfig {
        self.dispatcher_config.as_mut().expect("set by start")
    }

    /// The settings of apis started from now on ([`Self::add_api`]).
    pub fn api_config_mut(&mut self) -> &mut api::ApiConfig {
        self.api_config.as_mut().expect("set by start")
    }

    /// Starts one more api process (the first is started by `start`), in
    /// this process, and returns its base URL.
    pub async fn add_api(&mut self) -> String {
        let config = self.api_config.clone().expect("set by start");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let client = self.role_client("api").await;
        let shutdown = self.shutdown_signal();
        self.tasks.push(tokio::spawn(async move {
            api::serve(listener, config, client, shutdown).await.expect("api serves");
        }));
        base
    }

    /// Starts one more dispatcher (the first is started by `start`), serving
    /// its metrics on a free port ([`Self::dispatcher_metrics`]).
    pub async fn add_dispatcher(&mut self) {
        let mut config = self.dispatcher_config.clone().expect("set by start");
        let (address, url) = metrics_address();
        config.metrics.metrics_listen = Some(address);
        self.dispatcher_metrics.push(url);
        let client = self.role_client("dispatcher").await;
        let (stop, mut stopped) = watch::channel(false);
        let handle = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            dispatcher::run(config, client, shutdown).await.expect("dispatcher runs");
        });
        self.dispatchers.push((stop, handle));
        self.wait_for_instances(ROLE_DISPATCHER, self.dispatchers.len()).await;
    }

    /// Stops the dispatcher started last and waits until it has finished
    /// what it was running.
    pub async fn stop_dispatcher(&mut self) {
        if let Some((stop, handle)) = self.dispatchers.pop() {
            self.dispatcher_metrics.pop();
            let _ = stop.send(true);
            let _ = handle.await;
        }
    }

    /// Stops every dispatcher and waits until they have finished what they
    /// were running.
    pub async fn stop_dispatchers(&mut self) {
        self.dispatcher_metrics.clear();
        for (stop, handle) in self.dispatchers.drain(..) {
            let _ = stop.send(true);
            let _ = handle.await;
        }
    }

    /// Starts an executor as a separate process from the executor binary at
    /// `bin` (which a test can kill for real), and waits until an executor
    /// answers pings.
    pub async fn spawn_executor_process(
        &self,
        bin: &std::path::Path,
        concurrency: usize,
    ) -> stack::process::ChildGuard {
        self.spawn_executor_process_with(bin, concurrency, &[]).await
    }

    /// [`Self::spawn_executor_process`] with more environment variables.
    pub async fn spawn_executor_process_with(
        &self,
        bin: &std::path::Path,
        concurrency: usize,
        more: &[(&'static str, String)],
    ) -> stack::process::ChildGuard {
        let mut env = self.env.executor();
        env.push(("FAAS_EXEC_CONCURRENCY", concurrency.to_string()));
        env.extend(more.iter().cloned());
        let mut child = stack::process::spawn_service(bin, &env).expect("executor starts");
        // Any executor may answer the ping: start this one while no other
        // runs to know it is the one serving.
        self.wait_for_responder("faas.ping.executor").await;
        assert!(child.is_running(), "the executor process exited at start");
        child
    }

    /// Starts one more executor with `concurrency` slots; returns its index.
    pub async fn add_executor(&mut self, concurrency: usize) -> usize {
        self.add_executor_with(concurrency, 64).await
    }

    /// Starts one more executor with `concurrency` slots and `backlog`
    /// waiting room, serving its metrics on a free port
    /// ([`Self::executor_metrics`]).
    pub async fn add_executor_with(&mut self, concurrency: usize, backlog: usize) -> usize {
        let (address, url) = metrics_address();
        self.executor_metrics.push(url);
        let config = ExecutorConfig {
            nats: self.nats_options("executor"),
            subject_prefix: self.env.subject_prefix.clone(),
            s3: s3_config(&self.env.s3),
            limits: self.limits.clone(),
            concurrency,
            // Two, whatever the machine: the threads' shared bounds are exercised.
            call_threads: 2,
            backlog,
            shadow_concurrency: 2,
            cache_max_bytes: self.cache_max_bytes,
            cache_entries: None,
            artifact_cache_dir: Some(self.artifact_dirs.path().join(self.executors.len().to_string())),
            artifact_cache_max_bytes: 1 << 30,
            compile_every_call: false,
            keep_failed_inputs: false,
            compile: executor::CompileSettings::default(),
            artifact_key: self.env.artifact_key.clone().filter(|_| self.share_artifacts),
            secrets_key: self.env.secrets_key.as_deref().map(|key| key.parse().expect("a 32-byte hex key")),
            call_logs: self.call_logs.clone(),
            metrics: bus::metrics::MetricsOptions {
                metrics_listen: Some(address),
                metrics_max_functions: self.metrics_max_functions,
            },
            http_outgoing: self.http_outgoing.clone(),
            capabilities: self.capability_limits.clone(),
        };
        let client = self.role_client("executor").await;
        let (stop, mut rx) = watch::channel(false);
        let handle = tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|stop| *stop).await;
            };
            executor::run(config, client, shutdown).await.expect("executor runs");
        });
        self.executors.push((stop, handle));
        self.wait_for_instances(ROLE_EXECUTOR, self.executors.len()).await;
        self.executors.len() - 1
    }

    /// Stops every executor and waits until they are gone.
    pub async fn stop_executors(&mut self) {
        self.executor_metrics.clear();
        for (stop, handle) in self.executors.drain(..) {
            let _ = stop.send(true);
            let _ = handle.await;
        }
    }

    /// Waits until at least `count` instances of the service `name` answer
    /// the service API: a queue-group ping is answered by any one of them,
    /// so it cannot tell that the one just started serves.
    async fn wait_for_instances(&self, role: &str, count: usize) {
        let name = Subjects::new(&self.env.subject_prefix).service_name(role);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let answered = bus::gather_stats(&self.client, &name, Duration::from_secs(2)).await.len();
            if answered >= count {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{answered} of {count} {name} instances answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a service answers a ping on `subject`.
    async fn wait_for_responder(&self, subject: &str) {
        let waited = READINESS.nats_answer(&self.client, subject, |_| Ok(())).await;
        waited.unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// Waits until the api serves, whether or not the platform is ready.
    async fn wait_healthy(&self) {
        let waited = READINESS.http_ok(&self.http, &self.url("/health"), |_| Ok(())).await;
        waited.unwrap_or_else(|e| panic!("api never answered: {e:#}"));
    }

    /// Waits until the api reports the platform ready.
    async fn wait_ready(&self) {
        let waited = READINESS.http_ok(&self.http, &self.url("/ready"), |_| Ok(())).await;
        waited.unwrap_or_else(|e| panic!("platform never became ready: {e:#}"));
    }

    /// Every running dispatcher's Prometheus metrics (`--metrics-listen`),
    /// one scrape after the other.
    pub async fn dispatcher_metrics(&self) -> String {
        self.scrape(&self.dispatcher_metrics).await
    }

    /// Every running in-process executor's Prometheus metrics, one scrape
    /// after the other.
    pub async fn executor_metrics(&self) -> String {
        self.scrape(&self.executor_metrics).await
    }

    /// The metrics URL of each running in-process executor.
    pub fn executor_metrics_urls(&self) -> &[String] {
        &self.executor_metrics
    }

    async fn scrape(&self, urls: &[String]) -> String {
        let mut text = String::new();
        for url in urls {
            let response = self.http.get(url).send().await.unwrap_or_else(|e| panic!("scraping {url}: {e}"));
            assert_eq!(response.status(), StatusCode::OK, "scraping {url}");
            text.push_str(&response.text().await.unwrap());
        }
        text
    }

    /// The platform's S3 store as the roles see it, for tests that look
    /// at what is kept there.
    pub fn function_store(&self) -> storage::FunctionStore {
        storage::FunctionStore::new(&s3_config(&self.env.s3))
    }

    /// Absolute URL of an api path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `PUT /bucket/{bucket}`, asserting 201.
    pub async fn create_bucket(&self, bucket: &str) {
        let resp = self.http.put(self.url(&format!("/bucket/{bucket}"))).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "creating {bucket}: {:?}", resp.text().await);
    }

    /// Multipart upload; returns status and JSON body.
    pub async fn upload(&self, bucket: &str, function: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(format!("{function}.wasm"));
        let form = reqwest::multipart::Form::new().part("file", part);
        let resp = self
            .http
            .post(self.url(&format!("/file/{bucket}/{function}")))
            .multipart(form)
            .send()
            .await
            .unwrap();
        json(resp).await
    }

    /// Uploads a guest from `functions/`, asserting 201.
    pub async fn deploy(&self, bucket: &str, function: &str, guest: &str) {
        let (status, body) = self.upload(bucket, function, stack::guests::guest_bytes(guest)).await;
        assert_eq!(status, StatusCode::CREATED, "deploying {guest}: {body}");
    }

    /// `POST /exec/{bucket}/{function}`; returns status and JSON body.
    pub async fn exec(&self, bucket: &str, function: &str, input: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(&format!("/exec/{bucket}/{function}")))
            .body(input.to_owned())
            .send()
            .await
            .unwrap();
        json(resp).await
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for (stop, _) in self.executors.iter().chain(&self.dispatchers) {
            let _ = stop.send(true);
        }
        for task in &self.tasks {
            task.abort();
        }
        for (_, task) in self.executors.iter().chain(&self.dispatchers) {
            task.abort();
        }
    }
}

/// The S3 settings of the test S3 server, as the dispatcher and executors
/// take them.
fn s3_config(access: &S3Access) -> S3Config {
    S3Config {
        endpoint: access.endpoint.clone(),
        access_key: access.access_key.clone(),
        secret_key: access.secret_key.clone(),
        region: access.region.clone(),
    }
}

/// A free loopback address for a service's metrics, and its `/metrics` URL.
fn metrics_address() -> (std::net::SocketAddr, String) {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], stack::ports::free_port()));
    (address, format!("http://{address}/metrics"))
}

/// The sum of the samples of `series` (a metric name, `_total` included)
/// whose labels contain `labels`, in Prometheus text.
pub fn metric_sum(text: &str, series: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{series}{{")) && line.contains(labels))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// Status and JSON body of a response, asserting the body is JSON.
pub async fn json(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, value)
}

/// Asserts an error body's code and returns its message.
pub fn error_code(body: &Value) -> (&str, &str) {
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"));
    let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("no error message in {body}"));
    (code, message)
}
