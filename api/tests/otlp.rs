//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the api binary exports its spans
//! over OTLP/HTTP, in the trace the caller's `traceparent` names: checked
//! against a collector stand-in that records what it is sent.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::post;
use stack::NatsServer;

/// Kills the api process when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the collector stand-in received: each POST's path and body.
type Received = Arc<Mutex<Vec<(String, Bytes)>>>;

async fn collector() -> (String, Received) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(("/v1/traces".to_owned(), body));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_in_the_callers_trace() {
    stack::install_crypto_provider();
    let nats = NatsServer::start().unwrap();
    let (endpoint, received) = collector().await;
    let port = stack::ports::free_port();
    let api = Command::new(env!("CARGO_BIN_EXE_faas-api"))
        .env("NATS_URL", nats.url())
        .env("API_LISTEN", format!("127.0.0.1:{port}"))
        .env("FAAS_AUTH", "off")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        // Export at once rather than every 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _api = Running(api);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let readiness =
        stack::services::Readiness { timeout: Duration::from_secs(30), interval: Duration::from_millis(50) };
    readiness.http_ok(&http, &format!("{base}/health"), |_| Ok(())).await.unwrap();

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{trace}-00f067aa0ba902b7-01");
    let resp = http.get(format!("{base}/bucket")).header("traceparent", traceparent).send().await.unwrap();
    // No dispatcher runs: the answer does not matter, the span does.
    assert_eq!(resp.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);

    // OTLP/protobuf carries ids as raw bytes, and the service name as text.
    let trace_bytes: Vec<u8> =
        (0..trace.len()).step_by(2).map(|i| u8::from_str_radix(&trace[i..i + 2], 16).unwrap()).collect();
    for _ in 0..200 {
        let found = received.lock().unwrap().iter().any(|(path, body)| {
            path == "/v1/traces"
                && body.windows(trace_bytes.len()).any(|w| w == trace_bytes)
                && body.windows(8).any(|w| w == b"faas-api")
        });
        if found {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no span of trace {trace} from faas-api reached the collector");
}
