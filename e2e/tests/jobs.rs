//! Asynchronous jobs: submitted over HTTP, stored in JetStream, run by the
//! dispatchers' workers on the executors, recorded once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{Platform, error_code};
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::Value;

async fn submit(platform: &Platform, function: &str, input: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut request =
        platform.http.post(platform.url(&format!("/async/functions/{function}"))).body(input.to_owned());
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    e2e::json(request.send().await.unwrap()).await
}

async fn job(platform: &Platform, job_id: &str) -> (StatusCode, Value) {
    e2e::json(platform.http.get(platform.url(&format!("/jobs/{job_id}"))).send().await.unwrap()).await
}

/// Polls the job until `done` says so; returns the record.
async fn wait_for(platform: &Platform, job_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, record) = job(platform, job_id).await;
        assert_eq!(status, StatusCode::OK, "{record}");
        if done(&record) {
            return record;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "job never got there: {record}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn finished(record: &Value) -> bool {
    matches!(record["status"].as_str(), Some("succeeded" | "failed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_runs_in_the_background_and_its_outcome_is_recorded_and_announced() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    let mut results = platform.client.subscribe("faas.results.functions.hello").await.unwrap();
    platform.client.flush().await.unwrap();

    let (status, body) = submit(&platform, "hello", r#"{"name":"Async"}"#, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(body["status_url"], format!("/jobs/{job_id}"));

    let record = wait_for(&platform, &job_id, finished).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["result"], "Hello Async, how are you?");
    assert_eq!(record["attempts"], 1);
    assert_eq!(record["function"], "functions/hello");
    assert!(record["finished_at_ms"].as_u64() >= record["submitted_at_ms"].as_u64());

    let announced = tokio::time::timeout(Duration::from_secs(5), results.next()).await.unwrap().unwrap();
    let announced: Value = serde_json::from_slice(&announced.payload).unwrap();
    assert_eq!(announced, record, "subscribers get the same record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_makes_a_retried_submission_the_same_job() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    let mut results = platform.client.subscribe("faas.results.functions.hello").await.unwrap();
    platform.client.flush().await.unwrap();

    let (status, first) = submit(&platform, "hello", r#"{"name":"Once"}"#, Some("order-42")).await;
    assert_eq!((status, first["duplicate"].as_bool()), (StatusCode::ACCEPTED, Some(false)), "{first}");
    let (status, again) = submit(&platform, "hello", r#"{"name":"Once"}"#, Some("order-42")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["job_id"], first["job_id"]);
    assert_eq!(again["duplicate"], true);

    let job_id = first["job_id"].as_str().unwrap();
    wait_for(&platform, job_id, finished).await;
    let mut announcements = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(700), results.next()).await {
        announcements += 1;
    }
    assert_eq!(announcements, 1, "the function ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trapping_job_fails_at_once_is_listed_and_can_be_re_driven() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "trap", "trap").await;

    let (_, body) = submit(&platform, "trap", "boom", None).await;
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let record = wait_for(&platform, &job_id, finished).await;
    assert_eq!(record["status"], "failed");
    assert_eq!(record["attempts"], 1, "a trap is the function's fault: not retried by default");
    assert_eq!(record["error"]["code"], "function_trapped");

    let resp = platform.http.get(platform.url("/jobs?status=failed")).send().await.unwrap();
    let (status, listed) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> =
        listed["jobs"].as_array().unwrap().iter().map(|j| j["job_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![job_id.as_str()]);

    let resp = platform.http.post(platform.url(&format!("/jobs/{job_id}/redrive"))).send().await.unwrap();
    let (status, body) = e2e::json(resp).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::ACCEPTED, Some("queued")), "{body}");
    let record = wait_for(&platform, &job_id, finished).await;
    assert_eq!(
        (record["status"].as_str(), record["attempts"].as_u64()),
        (Some("failed"), Some(1)),
        "{record}"
    );

    // Only failed jobs can be re-driven.
    let platform_ok =
        platform.http.post(platform.url(&format!("/jobs/{job_id}/redrive"))).send().await.unwrap();
    assert_eq!(platform_ok.status(), StatusCode::ACCEPTED, "still failed, so again allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_wait_out_an_executor_outage_with_retries() {
    let settings = dispatcher::JobSettings { job_max_attempts: 50, ..e2e::test_job_settings() };
    let mut platform = Platform::start_with_jobs(1, settings).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    platform.stop_executors().await;

    let (status, body) = submit(&platform, "hello", r#"{"name":"Later"}"#, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let waiting =
        wait_for(&platform, &job_id, |r| r["attempts"].as_u64() >= Some(2) && r["status"] == "queued").await;
    assert_eq!(waiting["error"]["code"], "unavailable", "the reason for the retry is visible");

    platform.add_executor(4).await;
    let record = wait_for(&platform, &job_id, finished).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["result"], "Hello Later, how are you?");
    assert!(record.get("error").is_none(), "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_refuses_jobs_with_429_and_bad_requests_get_clear_errors() {
    // Jobs cannot run (no executor) and retry slowly, so they stay queued.
    let settings = dispatcher::JobSettings {
        job_max_attempts: 100,
        job_retry_delay_ms: 10_000,
        max_jobs_per_function: 2,
        ..e2e::test_job_settings()
    };
    let platform = Platform::start_with_jobs(0, settings).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    platform.deploy("functions", "other", "hello").await;
    for i in 0..2 {
        let (status, body) = submit(&platform, "hello", &format!("{i}"), None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let (status, body) = submit(&platform, "hello", "2", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(error_code(&body).0, "queue_full");
    // Another function has its own share.
    let (status, _) = submit(&platform, "other", "x", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // The refused job left no record behind.
    let resp = platform.http.get(platform.url("/jobs")).send().await.unwrap();
    let (_, listed) = e2e::json(resp).await;
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 3, "{listed}");

    let (status, body) = job(&platform, "not-a-uuid").await;
    assert_eq!((status, error_code(&body).0), (StatusCode::BAD_REQUEST, "bad_request"));
    let (status, body) = job(&platform, &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "job_not_found"));
    let resp = platform.http.post(platform.url("/async/Bad.Bucket/hello")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = platform.http.get(platform.url("/jobs?status=bogus")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callback_url_receives_the_outcome_and_a_refusal_is_retried() {
    // A receiver that refuses the first delivery and accepts the next.
    let (received, app) =
        callback_receiver(|n| if n == 1 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback = format!("http://{}/done", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    let record = submit_with_callback(&platform, &callback, r#"{"name":"Callback"}"#).await;
    wait_for_deliveries(&received, 2).await;
    let deliveries = received.lock().unwrap().clone();
    assert_eq!(deliveries[1], record, "the receiver gets the job's record");
    assert_eq!(deliveries[1]["result"], "Hello Callback, how are you?");
    assert_eq!(deliveries[1]["callback_url"], callback);

    for bad in ["ftp://example/x", "https:///x", "not a url"] {
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
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_https_callback_reaches_a_receiver_only_when_its_ca_is_trusted() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let (received, app) = callback_receiver(|_| StatusCode::OK);
    let listener = TlsListener::bind(&fixtures).await;
    let callback = format!("https://{}/done", listener.tcp.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Without the CA the receiver's certificate is refused: nothing arrives.
    let untrusting = Platform::start().await;
    untrusting.create_bucket("functions").await;
    untrusting.deploy("functions", "hello", "hello").await;
    submit_with_callback(&untrusting, &callback, r#"{"name":"Nope"}"#).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(received.lock().unwrap().is_empty(), "delivered to an untrusted certificate");
    drop(untrusting);

    let settings = dispatcher::JobSettings {
        callback_ca_file: Some(fixtures.join("ca.pem")),
        ..e2e::test_job_settings()
    };
    let platform = Platform::start_with_jobs(1, settings).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    let record = submit_with_callback(&platform, &callback, r#"{"name":"TLS"}"#).await;
    wait_for_deliveries(&received, 1).await;
    assert_eq!(received.lock().unwrap()[0], record);
}

type Deliveries = Arc<Mutex<Vec<Value>>>;

/// A callback receiver at `/done` that keeps every delivery and answers the
/// n-th (from 1) with `answer(n)`.
fn callback_receiver(answer: fn(usize) -> StatusCode) -> (Deliveries, axum::Router) {
    let received = Deliveries::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/done",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let mut seen = store.lock().unwrap();
            seen.push(body);
            let status = answer(seen.len());
            async move { status }
        }),
    );
    (received, app)
}

/// Submits `hello` with `X-Callback-Url: callback`; returns the finished record.
async fn submit_with_callback(platform: &Platform, callback: &str, input: &str) -> Value {
    let resp = platform
        .http
        .post(platform.url("/async/functions/hello"))
        .header("X-Callback-Url", callback)
        .body(input.to_owned())
        .send()
        .await
        .unwrap();
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_for(platform, body["job_id"].as_str().unwrap(), finished).await
}

/// Waits until the receiver holds `n` deliveries.
async fn wait_for_deliveries(received: &Deliveries, n: usize) {
    let started = Instant::now();
    while received.lock().unwrap().len() < n {
        assert!(started.elapsed() < Duration::from_secs(10), "{n} callback deliveries did not arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
