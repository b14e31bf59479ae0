//! Job callbacks (`X-Callback-Url`) against real local receivers: where they
//! may go, that they are signed, retried, never redirected, redacted, and
//! that a delivery survives a dispatcher restart.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use e2e::{Platform, error_code};
use hmac::{Hmac, Mac as _};
use serde_json::Value;

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Delivery {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

type Deliveries = Arc<Mutex<Vec<Delivery>>>;

/// A receiver on a loopback port that keeps every POST and answers the n-th
/// (from 1) on each path with `answer(path, n)`; returns its base URL.
async fn receiver(answer: fn(&str, usize) -> Response) -> (Deliveries, String) {
    let (received, app) = receiver_app(answer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (received, base)
}

fn receiver_app(answer: fn(&str, usize) -> Response) -> (Deliveries, axum::Router) {
    let received = Deliveries::default();
    let store = received.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
        let mut seen = store.lock().unwrap();
        let path = uri.path().to_owned();
        seen.push(Delivery { path: path.clone(), headers, body: body.to_vec() });
        let n = seen.iter().filter(|d| d.path == path).count();
        let response = answer(&path, n);
        async move { response }
    });
    (received, app)
}

/// 500 to the first POST on `/done`, 200 after; `/moved` redirects to `/done`.
fn refuse_once_then_accept(path: &str, n: usize) -> Response {
    match (path, n) {
        ("/moved", _) => Redirect::temporary("/done").into_response(),
        (_, 1) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        _ => StatusCode::OK.into_response(),
    }
}

fn accept(_: &str, _: usize) -> Response {
    StatusCode::OK.into_response()
}

/// Job settings whose callbacks may reach this machine's loopback.
fn loopback_allowed() -> dispatcher::JobSettings {
    let mut settings = e2e::test_job_settings();
    settings.callbacks.callback_allow = vec!["127.0.0.0/8".into(), "::1".into()];
    settings
}

/// Submits `hello` with `X-Callback-Url: callback`; returns the job id.
async fn submit(platform: &Platform, callback: &str) -> String {
    let resp = platform
        .http
        .post(platform.url("/async/functions/hello"))
        .header("X-Callback-Url", callback)
        .body(r#"{"name":"Callback"}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["job_id"].as_str().unwrap().to_owned()
}

/// Polls the job's record until `done` says so; returns it.
async fn record_when(platform: &Platform, job_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let resp = platform.http.get(platform.url(&format!("/jobs/{job_id}"))).send().await.unwrap();
        let (status, record) = e2e::json(resp).await;
        assert_eq!(status, StatusCode::OK, "{record}");
        if done(&record) {
            return record;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the record never got there: {record}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn finished(record: &Value) -> bool {
    matches!(record["status"].as_str(), Some("succeeded" | "failed"))
}

/// Waits until the receiver holds `n` deliveries on `path`; returns them.
async fn deliveries_on(received: &Deliveries, path: &str, n: usize) -> Vec<Delivery> {
    let started = Instant::now();
    loop {
        let on_path: Vec<Delivery> =
            received.lock().unwrap().iter().filter(|d| d.path == path).cloned().collect();
        if on_path.len() >= n {
            return on_path;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{n} deliveries on {path} did not arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks a delivery's Standard Webhooks signature as a receiver would,
/// with nothing of the platform's code: HMAC-SHA256 under the secret's
/// base64 key, over `{id}.{timestamp}.{body}`.
fn assert_signed(delivery: &Delivery) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(e2e::TEST_WEBHOOK_SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let (id, timestamp) = (delivery.header("webhook-id"), delivery.header("webhook-timestamp"));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&delivery.body);
    let expected =
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    let signatures: Vec<&str> = delivery.header("webhook-signature").split(' ').collect();
    assert!(signatures.contains(&expected.as_str()), "bad signature {signatures:?}, expected {expected}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let timestamp: u64 = timestamp.parse().unwrap();
    assert!(now.abs_diff(timestamp) < 60, "timestamp {timestamp} is not now ({now})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callbacks_to_internal_addresses_are_refused_and_bad_urls_never_accepted() {
    let (received, base) = receiver(accept).await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;

    // A literal loopback address, and a name that resolves to one.
    for callback in [format!("{base}/done?token=s3cret"), format!("http://localhost:{port}/done")] {
        let job_id = submit(&platform, &callback).await;
        let record =
            record_when(&platform, &job_id, |r| finished(r) && r["callback_error"].is_string()).await;
        assert_eq!(record["status"], "succeeded", "{record}");
        let why = record["callback_error"].as_str().unwrap();
        assert!(why.contains("loopback") && why.contains("FAAS_CALLBACK_ALLOW"), "{why}");
        let shown = record["callback_url"].as_str().unwrap();
        assert!(shown.ends_with("/…") && !record.to_string().contains("s3cret"), "{record}");
    }
    assert!(received.lock().unwrap().is_empty(), "a refused destination got a POST");
    let metrics = platform.dispatcher_metrics().await;
    let failed = "faas_callbacks_total{target=\"functions/hello\",outcome=\"failed\"} 2";
    assert!(metrics.contains(failed), "{metrics}");

    for bad in [
        "ftp://example/x",
        "https:///x",
        "not a url",
        "https://user:pass@hooks.example/x",
        "https://token@hooks.example/x",
    ] {
        let resp = platform
            .http
            .post(platform.url("/async/functions/hello"))
            .header("X-Callback-Url", bad)
            .body("{}")
            .send()
            .await
            .unwrap();
        let (status, body) = e2e::json(resp).await;
        assert_eq!((status, error_code(&body).0), (StatusCode::BAD_REQUEST, "bad_request"), "{bad}: {body}");
        let message = error_code(&body).1;
        assert!(message.contains("X-Callback-Url") && !message.contains("hooks.example"), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_allowed_callback_is_signed_retried_redacted_and_never_redirected() {
    let (received, base) = receiver(refuse_once_then_accept).await;
    let platform = Platform::start_with_jobs(1, loopback_allowed()).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;

    let job_id = submit(&platform, &format!("{base}/done?token=s3cret")).await;
    let both = deliveries_on(&received, "/done", 2).await;
    let record = record_when(&platform, &job_id, finished).await;
    for delivery in &both {
        assert_signed(delivery);
        assert_eq!(delivery.json(), record, "the receiver gets the job's record");
        assert_eq!(delivery.header("faas-job-id"), job_id);
    }
    assert_eq!(both[0].header("webhook-id"), both[1].header("webhook-id"), "one id across retries");
    assert_eq!(record["result"], "Hello Callback, how are you?");
    assert_eq!(record["callback_url"], format!("{base}/…"), "the record keeps the URL redacted");
    assert!(!String::from_utf8_lossy(&both[1].body).contains("s3cret"));

    // A redirect is final, and never followed.
    let job_id = submit(&platform, &format!("{base}/moved")).await;
    let record = record_when(&platform, &job_id, |r| r["callback_error"].is_string()).await;
    assert!(record["callback_error"].as_str().unwrap().contains("redirects are not followed"), "{record}");
    let seen = received.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|d| d.path == "/moved").count(), 1, "a redirect was retried");
    assert_eq!(seen.iter().filter(|d| d.path == "/done").count(), 2, "a redirect was followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pending_callback_survives_a_dispatcher_restart() {
    let (received, base) = receiver(refuse_once_then_accept).await;
    // The retry waits long enough to stop the only dispatcher before it.
    let settings = dispatcher::JobSettings { job_retry_delay_ms: 1_500, ..loopback_allowed() };
    let mut platform = Platform::start_with_jobs(1, settings).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;

    submit(&platform, &format!("{base}/done")).await;
    deliveries_on(&received, "/done", 1).await;
    platform.stop_dispatchers().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(received.lock().unwrap().len(), 1, "delivered with no dispatcher running");

    platform.add_dispatcher().await;
    let both = deliveries_on(&received, "/done", 2).await;
    assert_eq!(both[0].header("webhook-id"), both[1].header("webhook-id"));
    assert_eq!(both[0].body, both[1].body);
    assert_signed(&both[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_https_callback_reaches_a_receiver_only_when_its_ca_is_trusted() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let (received, app) = receiver_app(accept);
    let listener = TlsListener::bind(&fixtures).await;
    let callback = format!("https://{}/done", listener.tcp.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Without the CA the receiver's certificate is refused: nothing arrives.
    let untrusting = Platform::start_with_jobs(1, loopback_allowed()).await;
    untrusting.create_bucket("functions").await;
    untrusting.deploy("functions", "hello", "hello").await;
    let job_id = submit(&untrusting, &callback).await;
    record_when(&untrusting, &job_id, finished).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(received.lock().unwrap().is_empty(), "delivered to an untrusted certificate");
    drop(untrusting);

    let mut settings = loopback_allowed();
    settings.callbacks.callback_ca_file = Some(fixtures.join("ca.pem"));
    let platform = Platform::start_with_jobs(1, settings).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    let job_id = submit(&platform, &callback).await;
    let delivered = deliveries_on(&received, "/done", 1).await;
    let record = record_when(&platform, &job_id, finished).await;
    assert_eq!(delivered[0].json(), record);
    assert_signed(&delivered[0]);
}

/// Serves HTTPS with the test CA's server certificate.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl TlsListener {
    async fn bind(fixtures: &std::path::Path) -> Self {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let certs: Vec<_> =
            CertificateDer::pem_file_iter(fixtures.join("server.pem")).unwrap().map(Result::unwrap).collect();
        let key = PrivateKeyDer::from_pem_file(fixtures.join("server.key")).unwrap();
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap();
        Self {
            tcp: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else { continue };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
