//! How the platform's services are pointed at a stack, and how one waits
//! until they serve.
//!
//! The end-to-end tests, the benchmark and `faas-local` all run the same
//! services against a [`NatsServer`] and an [`S3Server`] of this crate, as
//! child processes or in-process. Describing the environment once keeps a
//! setting renamed in a service from being missed in one of them. This crate
//! depends on none of the services, so it speaks what they read: environment
//! variable names, the api's HTTP routes and pings on NATS.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::{NatsCluster, NatsServer, S3Server};

/// The subject prefix (`FAAS_SUBJECT_PREFIX`) services of a stack run under.
pub const SUBJECT_PREFIX: &str = "faas";

/// How long one readiness request may take before it counts as a miss.
const HTTP_TRY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one ping may wait for its answer before it counts as a miss.
const PING_TRY_TIMEOUT: Duration = Duration::from_millis(500);

/// Where the S3 store is and how to sign for it.
#[derive(Debug, Clone)]
pub struct S3Access {
    /// The endpoint URL (`S3_ENDPOINT`).
    pub endpoint: String,
    /// The access key (`S3_ACCESS_KEY`).
    pub access_key: String,
    /// The secret key (`S3_SECRET_KEY`).
    pub secret_key: String,
    /// The region to sign for (`S3_REGION`).
    pub region: String,
}

/// The passwords of the per-role NATS users that `deploy/nats/nats-server.conf`
/// declares (`api`, `dispatcher`, `executor`, and `app` for outside
/// publishers): the server reads them from its environment
/// ([`NatsUsers::server_env`]), each service gets its own as `NATS_USER` and
/// `NATS_PASSWORD`.
#[derive(Clone)]
pub struct NatsUsers {
    api: String,
    dispatcher: String,
    executor: String,
    app: String,
}

impl std::fmt::Debug for NatsUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NatsUsers { .. }")
    }
}

impl NatsUsers {
    /// Fresh random passwords.
    pub fn random() -> Self {
        Self {
            api: random_secret(),
            dispatcher: random_secret(),
            executor: random_secret(),
            app: random_secret(),
        }
    }

    /// The variables the server configuration reads the passwords from.
    pub fn server_env(&self) -> [(&'static str, &str); 4] {
        [
            ("FAAS_NATS_API_PASSWORD", &self.api),
            ("FAAS_NATS_DISPATCHER_PASSWORD", &self.dispatcher),
            ("FAAS_NATS_EXECUTOR_PASSWORD", &self.executor),
            ("FAAS_NATS_APP_PASSWORD", &self.app),
        ]
    }

    /// The password of the `app` user, for outside publishers.
    pub fn app_password(&self) -> &str {
        &self.app
    }

    /// The login of the platform's operator: the `dispatcher` user, which
    /// may do anything, for harnesses that drive the platform from outside
    /// (the benchmark's load and control clients).
    pub fn operator(&self) -> (&'static str, &str) {
        ("dispatcher", &self.dispatcher)
    }

    fn login(&self, role: Role) -> [(&'static str, String); 2] {
        let (user, password) = match role {
            Role::Api => ("api", &self.api),
            Role::Dispatcher => ("dispatcher", &self.dispatcher),
            Role::Executor => ("executor", &self.executor),
        };
        [("NATS_USER", user.to_owned()), ("NATS_PASSWORD", password.clone())]
    }
}

/// A service of the platform, as it logs in to NATS.
#[derive(Debug, Clone, Copy)]
enum Role {
    Api,
    Dispatcher,
    Executor,
}

/// What the services of one stack are configured with: its NATS, its S3 and
/// the secret they share. In-process services read the fields; child
/// processes get them as environment variables from [`ServiceEnv::api`],
/// [`ServiceEnv::dispatcher`] and [`ServiceEnv::executor`].
#[derive(Debug, Clone)]
pub struct ServiceEnv {
    /// The nats-server client URL (`NATS_URL`); several, comma-separated,
    /// for a cluster.
    pub nats_url: String,
    /// Replicas of every JetStream store the services create
    /// (`FAAS_JS_REPLICAS`): 1, or 3 on a cluster.
    pub js_replicas: usize,
    /// The subject prefix (`FAAS_SUBJECT_PREFIX`).
    pub subject_prefix: String,
    /// The S3 store, which only the dispatcher and executors use.
    pub s3: S3Access,
    /// The secret the dispatcher and executors sign and check precompiled
    /// artifacts with (`FAAS_ARTIFACT_KEY`); `None`: nothing is shared.
    pub artifact_key: Option<String>,
    /// Where executors keep their local copies of artifacts
    /// (`FAAS_ARTIFACT_CACHE_DIR`); `None`: the executor's default, a
    /// folder in the temp dir that every executor on the machine shares.
    pub artifact_copies_dir: Option<std::path::PathBuf>,
    /// The platform key the api seals function secrets with and executors
    /// open them with (`FAAS_SECRETS_KEY`, 64 hex digits); `None`: secrets
    /// are refused.
    pub secrets_key: Option<String>,
    /// The log filter of child processes (`RUST_LOG`).
    pub rust_log: String,
    /// The api's bootstrap admin token (`FAAS_ADMIN_TOKEN`), which
    /// [`authorized`] clients send.
    pub admin_token: String,
    /// The per-role NATS users, when the server checks them; `None`: an
    /// open server.
    pub nats_users: Option<NatsUsers>,
}

impl ServiceEnv {
    /// Services against `nats` and `s3`, under [`SUBJECT_PREFIX`], with a
    /// fresh artifact key and `warn` logging (at `info` every call logs a
    /// line, which costs more than some calls).
    pub fn new(nats: &NatsServer, s3: &S3Server) -> Self {
        Self { nats_url: nats.url(), ..Self::from_parts(s3) }
    }

    /// Services like [`ServiceEnv::new`] against the NATS servers `urls`
    /// (comma-separated), started by someone else.
    pub fn on_urls(urls: String, s3: &S3Server) -> Self {
        Self { nats_url: urls, ..Self::from_parts(s3) }
    }

    fn from_parts(s3: &S3Server) -> Self {
        Self {
            nats_url: String::new(),
            js_replicas: 1,
            subject_prefix: SUBJECT_PREFIX.to_owned(),
            s3: S3Access {
                endpoint: s3.endpoint(),
                access_key: s3.access_key().to_owned(),
                secret_key: s3.secret_key().to_owned(),
                region: s3.region().to_owned(),
            },
            artifact_key: Some(random_secret()),
            artifact_copies_dir: None,
            secrets_key: Some(random_secret()),
            rust_log: "warn".to_owned(),
            admin_token: random_secret(),
            nats_users: None,
        }
    }

    /// Services like [`ServiceEnv::new`] against every node of `cluster`,
    /// with every store replicated on three nodes.
    pub fn on_cluster(cluster: &NatsCluster, s3: &S3Server) -> Self {
        Self { nats_url: cluster.url_list(), js_replicas: 3.min(cluster.len()), ..Self::from_parts(s3) }
    }

    /// Environment of a `faas-api` process listening on `listen`
    /// (`host:port`): NATS only, the api never touches S3.
    pub fn api(&self, listen: &str) -> Vec<(&'static str, String)> {
        let mut env = self.common(Role::Api);
        env.push(("API_LISTEN", listen.to_owned()));
        env.push(("FAAS_ADMIN_TOKEN", self.admin_token.clone()));
        env.extend(self.secrets_key.iter().map(|key| ("FAAS_SECRETS_KEY", key.clone())));
        env
    }

    /// Environment of a `faas-dispatcher` process: NATS, S3 and the
    /// artifact key.
    pub fn dispatcher(&self) -> Vec<(&'static str, String)> {
        self.backend(Role::Dispatcher)
    }

    /// Environment of a `faas-executor` process: NATS, S3, the artifact
    /// key and the secrets key.
    pub fn executor(&self) -> Vec<(&'static str, String)> {
        let mut env = self.backend(Role::Executor);
        env.extend(self.secrets_key.iter().map(|key| ("FAAS_SECRETS_KEY", key.clone())));
        env.extend(
            self.artifact_copies_dir.iter().map(|dir| ("FAAS_ARTIFACT_CACHE_DIR", dir.display().to_string())),
        );
        env
    }

    fn backend(&self, role: Role) -> Vec<(&'static str, String)> {
        let mut env = self.common(role);
        env.extend([
            ("S3_ENDPOINT", self.s3.endpoint.clone()),
            ("S3_ACCESS_KEY", self.s3.access_key.clone()),
            ("S3_SECRET_KEY", self.s3.secret_key.clone()),
            ("S3_REGION", self.s3.region.clone()),
        ]);
        if let Some(key) = &self.artifact_key {
            env.push(("FAAS_ARTIFACT_KEY", key.clone()));
        }
        env
    }

    /// A NATS client for a harness, named `name`: as the operator when the
    /// server checks users ([`NatsUsers::operator`]).
    pub async fn connect_operator(&self, name: &str) -> anyhow::Result<async_nats::Client> {
        let options = match &self.nats_users {
            Some(users) => {
                let (user, password) = users.operator();
                async_nats::ConnectOptions::with_user_and_password(user.to_owned(), password.to_owned())
            }
            None => async_nats::ConnectOptions::new(),
        };
        let servers = self
            .nats_url
            .split(',')
            .map(|url| url.trim().parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{name}: NATS_URL {}", self.nats_url))?;
        options.name(name).connect(servers).await.with_context(|| format!("{name}: connect to NATS"))
    }

    fn common(&self, role: Role) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("NATS_URL", self.nats_url.clone()),
            ("FAAS_SUBJECT_PREFIX", self.subject_prefix.clone()),
            ("FAAS_JS_REPLICAS", self.js_replicas.to_string()),
            ("RUST_LOG", self.rust_log.clone()),
        ];
        env.extend(self.nats_users.iter().flat_map(|users| users.login(role)));
        env
    }
}

/// An HTTP client builder whose requests carry `Authorization: Bearer
/// <token>`, as every api route but the probes needs.
pub fn authorized(builder: reqwest::ClientBuilder, token: &str) -> reqwest::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut bearer: reqwest::header::HeaderValue =
        format!("Bearer {token}").parse().expect("a token is printable ASCII");
    bearer.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    builder.default_headers(headers)
}

/// A secret of 64 random hex characters (two v4 uuids' 244 random bits): a
/// fresh artifact key per stack means no artifact from an earlier run is
/// trusted; a fresh admin token, that no earlier one is.
pub fn random_secret() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Waits for a service by asking again every `interval` until it answers,
/// for at most `timeout`.
///
/// Between two tries it calls the caller's check with the time waited so
/// far; an error from it ends the wait at once (a child process that exited
/// will never answer), and it may report progress.
#[derive(Debug, Clone, Copy)]
pub struct Readiness {
    /// How long to wait in all.
    pub timeout: Duration,
    /// How long to sleep between two tries.
    pub interval: Duration,
}

impl Readiness {
    /// Polls `GET url` until it answers 200; returns the time waited. On the
    /// api, `/ready` answers 200 once NATS is connected and an executor and
    /// a dispatcher answer pings, `/health` as soon as it serves.
    pub async fn http_ok(
        &self,
        http: &reqwest::Client,
        url: &str,
        check: impl FnMut(Duration) -> anyhow::Result<()>,
    ) -> anyhow::Result<Duration> {
        let answered = || async {
            let resp = http.get(url).timeout(HTTP_TRY_TIMEOUT).send().await;
            resp.is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
        };
        self.poll(answered, check, || format!("{url} did not answer 200")).await
    }

    /// Requests on `subject` until someone answers; returns the time waited.
    ///
    /// A flushed subscription is not proof the server registered it; an
    /// answer through the server is. Until a service subscribes, NATS
    /// answers "no responders" at once, so a short interval costs nothing.
    pub async fn nats_answer(
        &self,
        client: &async_nats::Client,
        subject: &str,
        check: impl FnMut(Duration) -> anyhow::Result<()>,
    ) -> anyhow::Result<Duration> {
        let answered = || async {
            let ping = async_nats::Request::new().payload("ping".into()).timeout(Some(PING_TRY_TIMEOUT));
            client.send_request(subject.to_owned(), ping).await.is_ok()
        };
        self.poll(answered, check, || format!("nobody answered on {subject}")).await
    }

    async fn poll<F: Future<Output = bool>>(
        &self,
        mut answered: impl FnMut() -> F,
        mut check: impl FnMut(Duration) -> anyhow::Result<()>,
        failure: impl FnOnce() -> String,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            if answered().await {
                return Ok(started.elapsed());
            }
            let waited = started.elapsed();
            check(waited)?;
            if waited > self.timeout {
                bail!("{} within {:?}", failure(), self.timeout);
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}
