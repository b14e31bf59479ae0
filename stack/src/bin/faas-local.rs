//! Runs the whole wasm-faas platform on this machine.
//!
//! Starts nats-server and an S3 server with data under `.data/`, spawns the
//! dispatcher, executor and API binaries built next to this one, and by
//! default deploys and calls two example functions so a new checkout can be
//! tried with one command. Ctrl-C stops everything.
//!
//! The api checks tokens, as a deployed one does: its admin token is
//! `FAAS_ADMIN_TOKEN` if set, else the one kept in `<data dir>/admin-token`
//! (made on first run), and is printed as a ready-to-paste `export`.
//!
//! nats-server listens on loopback without users, so the walk-through's
//! `nats` commands work on any subject. With `--secure-nats` it runs with
//! the repository's per-role configuration instead
//! (`deploy/nats/nats-server.conf`, as docker-compose does) and passwords
//! made for this run: each service logs in as its own user with the
//! standard `NATS_USER`/`NATS_PASSWORD`, and the `app` user's login is
//! printed for outside publishers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use faas_stack::guests::guest_path;
use faas_stack::process::{ChildGuard, spawn_service};
use faas_stack::services::{NatsUsers, Readiness, ServiceEnv, authorized, random_secret};
use faas_stack::{NatsServer, S3Server};
use serde_json::{Value, json};

/// Bring up nats-server, S3 and the wasm-faas services locally.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Port for nats-server.
    #[arg(long, env = "FAAS_NATS_PORT", default_value_t = 4222)]
    nats_port: u16,
    /// Port for the S3 server.
    #[arg(long, env = "FAAS_S3_PORT", default_value_t = 9000)]
    s3_port: u16,
    /// Port for the HTTP API.
    #[arg(long, env = "FAAS_API_PORT", default_value_t = 3000)]
    api_port: u16,
    /// Where NATS and S3 keep their data between runs.
    #[arg(long, env = "FAAS_DATA_DIR", default_value = ".data")]
    data_dir: PathBuf,
    /// Directory holding faas-dispatcher, faas-executor and faas-api
    /// (default: the directory of this executable).
    #[arg(long, env = "FAAS_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// Do not deploy and call the example functions.
    #[arg(long, env = "FAAS_NO_DEMO")]
    no_demo: bool,
    /// Run nats-server with the per-role users and permissions of
    /// `--nats-config`; each service logs in as its own user.
    #[arg(long, env = "FAAS_SECURE_NATS")]
    secure_nats: bool,
    /// The nats-server configuration with the per-role users.
    #[arg(long, env = "FAAS_NATS_CONFIG", default_value = "deploy/nats/nats-server.conf")]
    nats_config: PathBuf,
    /// Use this NATS instead of starting one: one or more servers,
    /// comma-separated, e.g. the three nodes of `scripts/nats-cluster.sh`.
    #[arg(long, env = "FAAS_LOCAL_NATS_URL", conflicts_with = "secure_nats")]
    nats_url: Option<String>,
    /// Replicas of every JetStream store the services create: 3 on a
    /// cluster.
    #[arg(long, env = "FAAS_JS_REPLICAS", default_value_t = 1)]
    js_replicas: usize,
}

/// How long the services get to report ready.
const READY: Readiness = Readiness { timeout: Duration::from_secs(60), interval: Duration::from_millis(250) };

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rust_log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(&rust_log)).init();

    let bin_dir = match args.bin_dir.clone() {
        Some(dir) => dir,
        None => std::env::current_exe()
            .context("locate faas-local")?
            .parent()
            .context("faas-local has no parent directory")?
            .to_path_buf(),
    };

    // Building the guests can take a while on a fresh checkout; overlap it
    // with starting the services.
    let guests = (!args.no_demo)
        .then(|| tokio::task::spawn_blocking(|| (guest_path("hello"), guest_path("fibonacci"))));

    let nats_dir = args.data_dir.join("nats");
    let users = args.secure_nats.then(NatsUsers::random);
    let mut nats = match (&users, &args.nats_url) {
        (_, Some(_)) => None,
        (None, None) => Some(NatsServer::start_in(&nats_dir, args.nats_port)),
        (Some(users), None) => {
            if !args.nats_config.is_file() {
                bail!(
                    "no nats-server configuration at {} (run from the repository root, or set \
                     FAAS_NATS_CONFIG)",
                    args.nats_config.display()
                );
            }
            Some(NatsServer::start_in_with_config(
                &nats_dir,
                args.nats_port,
                &args.nats_config,
                &users.server_env(),
            ))
        }
    }
    .transpose()
    .context("start nats-server")?;
    let login = if users.is_some() { "users and permissions of the config" } else { "open: no users" };
    match (&nats, &args.nats_url) {
        (Some(nats), _) => {
            println!("nats-server  {} ({login}; data in {})", nats.url(), nats.dir().display())
        }
        (None, Some(url)) => {
            println!("NATS         {url} (not started here; {} replica(s))", args.js_replicas)
        }
        (None, None) => unreachable!("either started here or given"),
    }
    let mut s3 =
        S3Server::start_in(&args.data_dir.join("s3"), args.s3_port).context("start the S3 server")?;
    println!("S3 server    {} (data in {})", s3.endpoint(), s3.root().display());

    let mut env = match (&nats, &args.nats_url) {
        (Some(nats), _) => ServiceEnv::new(nats, &s3),
        (None, url) => ServiceEnv::on_urls(url.clone().unwrap_or_default(), &s3),
    };
    env.js_replicas = args.js_replicas.max(1);
    // The dispatcher and executor it starts share precompiled artifacts,
    // and nothing else can sign one. The key is kept with the data, like the
    // secrets key: a key made per run refused, after every restart, each
    // artifact stored and copied before it, and each function was compiled
    // again. FAAS_ARTIFACT_KEY, if set, wins.
    env.artifact_key = Some(kept_secret(&args.data_dir, "FAAS_ARTIFACT_KEY", "artifact-key")?);
    env.rust_log = rust_log;
    env.admin_token = admin_token(&args.data_dir)?;
    // Kept with the data: secrets sealed in an earlier run still open.
    env.secrets_key = Some(kept_secret(&args.data_dir, "FAAS_SECRETS_KEY", "secrets-key")?);
    env.nats_users = users.clone();
    // Its local artifact copies beside the data, signed with the data's key:
    // in the shared default folder (the temp dir), executors of tests and
    // benchmarks, with keys of their own, overwrote them, and every start
    // refused them ("local artifact copy refused") and read the store.
    // FAAS_ARTIFACT_CACHE_DIR, if set, wins.
    if std::env::var_os("FAAS_ARTIFACT_CACHE_DIR").is_none() {
        env.artifact_copies_dir = Some(args.data_dir.join("artifact-copies"));
    }
    let (dispatcher_env, executor_env) = (env.dispatcher(), env.executor());
    let api_env = env.api(&format!("127.0.0.1:{}", args.api_port));
    let mut services: Vec<(&str, ChildGuard)> = Vec::new();
    for (name, env) in
        [("faas-dispatcher", &dispatcher_env), ("faas-executor", &executor_env), ("faas-api", &api_env)]
    {
        let child = spawn_service(&bin_dir.join(name), env).with_context(|| format!("start {name}"))?;
        println!("{name:<12} pid {}", child.id());
        services.push((name, child));
    }

    let api = format!("http://127.0.0.1:{}", args.api_port);
    // Local calls only; a configured HTTP proxy would just get in the way.
    faas_stack::install_crypto_provider();
    let http = authorized(reqwest::Client::builder(), &env.admin_token).no_proxy().build()?;
    let outcome = async {
        wait_ready(&http, &api, &mut services).await?;
        println!("faas-api     {api} is ready");
        if let Some(guests) = guests {
            let (hello, fibonacci) = guests.await.context("building the guests")?;
            demo(&http, &api, &hello, &fibonacci).await?;
        }
        print_try_next(&api, &env.admin_token, users.as_ref());
        println!("\nRunning. Press Ctrl-C to stop.");
        wait_for_shutdown_signal().await
    }
    .await;

    for (name, child) in services.iter_mut().rev() {
        child.stop();
        println!("stopped {name}");
    }
    s3.stop();
    println!("stopped S3 server");
    if let Some(nats) = nats.as_mut() {
        nats.stop();
        println!("stopped nats-server");
    }
    outcome
}

/// Polls `/ready`, failing early if a service exits meanwhile.
async fn wait_ready(
    http: &reqwest::Client,
    api: &str,
    services: &mut [(&str, ChildGuard)],
) -> anyhow::Result<()> {
    let mut reported = Duration::ZERO;
    let check = |waited: Duration| {
        for (name, child) in services.iter_mut() {
            if !child.is_running() {
                bail!("{name} exited before the platform became ready");
            }
        }
        if waited >= reported + Duration::from_secs(5) {
            println!("waiting for {api}/ready ({}s)...", waited.as_secs());
            reported = waited;
        }
        Ok(())
    };
    READY.http_ok(http, &format!("{api}/ready"), check).await?;
    Ok(())
}

/// Deploys the example guests and calls them, failing on any unexpected answer.
async fn demo(http: &reqwest::Client, api: &str, hello: &Path, fibonacci: &Path) -> anyhow::Result<()> {
    println!("\n== demo");
    let resp = http.put(format!("{api}/bucket/functions")).send().await?;
    let status = resp.status();
    println!("PUT  /bucket/functions -> {status} {}", body_text(resp).await);
    // 409 means an earlier run created it; the data dir persists.
    if status != reqwest::StatusCode::CREATED && status != reqwest::StatusCode::CONFLICT {
        bail!("creating the bucket failed with {status}");
    }

    for (name, path) in [("hello", hello), ("fibonacci", fibonacci)] {
        let bytes = tokio::fs::read(path).await.with_context(|| format!("read {}", path.display()))?;
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(format!("{name}.wasm"))
            .mime_str("application/wasm")?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let resp = http.post(format!("{api}/file/functions/{name}")).multipart(form).send().await?;
        let status = resp.status();
        println!("POST /file/functions/{name} -> {status} {}", body_text(resp).await);
        if !status.is_success() {
            bail!("uploading {name} failed with {status}");
        }
    }

    for (name, input, expected) in [
        ("hello", json!({"name": "World"}), "Hello World, how are you?"),
        ("fibonacci", json!({"n": 10}), "55"),
    ] {
        let resp = http.post(format!("{api}/exec/functions/{name}")).json(&input).send().await?;
        let status = resp.status();
        let body = body_text(resp).await;
        println!("POST /exec/functions/{name} {input} -> {status} {body}");
        let result = serde_json::from_str::<Value>(&body).ok().and_then(|v| v.get("result").cloned());
        if !status.is_success() || result != Some(Value::from(expected)) {
            bail!("calling {name} returned {status} {body}, expected {{\"result\":\"{expected}\"}}");
        }
    }
    Ok(())
}

async fn body_text(resp: reqwest::Response) -> String {
    resp.text().await.unwrap_or_else(|e| format!("<unreadable body: {e}>"))
}

fn print_try_next(api: &str, admin_token: &str, users: Option<&NatsUsers>) {
    let guests = "functions/target/wasm32-wasip2/release";
    let auth = r#"-H "Authorization: Bearer $FAAS_TOKEN""#;
    println!("\n== try next (in another shell)");
    println!("export FAAS_TOKEN={admin_token}");
    println!("curl {auth} -X PUT {api}/bucket/functions");
    println!("curl {auth} -F file=@{guests}/hello.wasm {api}/file/functions/hello");
    println!(
        "curl {auth} -X POST -H 'content-type: application/json' -d '{{\"name\":\"World\"}}' {api}/exec/functions/hello"
    );
    println!(
        "curl {auth} -X POST -H 'content-type: application/json' -d '{{\"n\":10}}' {api}/exec/functions/fibonacci"
    );
    // Outside publishers log in as the `app` user, which reads replies on
    // its own inbox prefix only.
    let app = users.map_or_else(String::new, |users| {
        format!(" --user app --password {} --inbox-prefix _INBOX.app", users.app_password())
    });
    println!("nats req{app} faas.exec.functions.hello '{{\"name\":\"NATS\"}}'");
}

/// The api's admin token: `FAAS_ADMIN_TOKEN`, or the data directory's own,
/// made (readable by this user only) on its first run.
fn admin_token(data_dir: &Path) -> anyhow::Result<String> {
    kept_secret(data_dir, "FAAS_ADMIN_TOKEN", "admin-token")
}

/// `var` if set, else the secret kept in `data_dir/file` (made on first
/// use): the same across runs, as stored data needs (tokens, sealed
/// function secrets).
fn kept_secret(data_dir: &Path, var: &str, file: &str) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var(var)
        && !token.trim().is_empty()
    {
        return Ok(token.trim().to_owned());
    }
    let path = data_dir.join(file);
    if let Ok(token) = std::fs::read_to_string(&path) {
        return Ok(token.trim().to_owned());
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("create {}", data_dir.display()))?;
    let token = random_secret();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).with_context(|| format!("create {}", path.display()))?;
    std::io::Write::write_all(&mut file, token.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(token)
}

async fn wait_for_shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("listen for SIGTERM")?;
        tokio::select! {
            res = tokio::signal::ctrl_c() => res.context("listen for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.context("listen for Ctrl-C")?;
    println!("\nshutting down");
    Ok(())
}
