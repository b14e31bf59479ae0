//! Distributed traces end to end: a W3C `traceparent` sent to the api is the
//! trace of every span the request causes, across NATS hops, in every role
//! (api → dispatcher → executor for a pipeline, a queued job, a trigger and
//! the trigger's output feeding the next one).
//!
//! The roles run in this process, so one in-memory span exporter sees them
//! all; the only link between their spans is what travels in the messages'
//! headers (each role opens its span on a task of its own, from a message).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use e2e::{Platform, json};
use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use reqwest::StatusCode;
use serde_json::json as j;
use tracing_subscriber::layer::SubscriberExt as _;

/// The exporter behind this process's one subscriber.
fn exporter() -> &'static InMemorySpanExporter {
    // The provider lives as long as the process: dropping it would shut it
    // down and empty the exporter.
    static TRACING: OnceLock<(SdkTracerProvider, InMemorySpanExporter)> = OnceLock::new();
    &TRACING
        .get_or_init(|| {
            let exporter = InMemorySpanExporter::default();
            let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("e2e"));
            let filter = tracing_subscriber::filter::LevelFilter::INFO;
            let subscriber = tracing_subscriber::registry().with(filter).with(layer);
            tracing::subscriber::set_global_default(subscriber)
                .expect("the only subscriber of this test process");
            (provider, exporter)
        })
        .1
}

/// A fresh W3C trace context: its trace id, its span id and the header.
fn traceparent() -> (String, String, String) {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let header = format!("00-{trace}-{span}-01");
    (trace, span, header)
}

/// Waits until the trace has at least the given spans (by name and count),
/// and returns all of its spans.
async fn spans_of(trace: &str, expected: &[(&str, usize)]) -> Vec<SpanData> {
    let mut spans = Vec::new();
    for _ in 0..200 {
        spans = exporter()
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .filter(|s| s.span_context.trace_id().to_string() == trace)
            .collect();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for span in &spans {
            *counts.entry(span.name.as_ref()).or_default() += 1;
        }
        if expected.iter().all(|(name, n)| counts.get(name).copied().unwrap_or(0) >= *n) {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let names: Vec<_> = spans.iter().map(|s| s.name.to_string()).collect();
    panic!("trace {trace} never had {expected:?}; it has {names:?}");
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn id(span: &SpanData) -> SpanId {
    span.span_context.span_id()
}

async fn platform() -> Platform {
    exporter();
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    for guest in ["validate", "normalize", "hello"] {
        platform.deploy("functions", guest, guest).await;
    }
    platform
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pipeline_call_is_one_trace_from_the_api_to_each_executor() {
    let platform = platform().await;
    let steps = j!({"steps": ["functions/validate", "functions/normalize", "functions/hello"]});
    let resp = platform.http.put(platform.url("/pipeline/greet")).json(&steps).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let (trace, caller, header) = traceparent();
    let resp = platform
        .http
        .post(platform.url("/exec/pipeline/greet"))
        .header("traceparent", header)
        .header("tracestate", "caller=1")
        .body(r#"{"name":"  ada   LOVELACE "}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!((status, &body), (StatusCode::OK, &j!({"result": "Hello Ada Lovelace, how are you?"})));

    let spans = spans_of(&trace, &[("http", 1), ("pipeline", 1), ("exec", 3)]).await;
    let http = named(&spans, "http")[0];
    assert_eq!(http.parent_span_id.to_string(), caller, "the api's span continues the caller's");
    assert!(http.span_context.trace_state().get("caller").is_some(), "tracestate is kept");
    let pipeline = named(&spans, "pipeline")[0];
    assert_eq!(pipeline.parent_span_id, id(http), "the dispatcher's span is the api's child");
    let execs = named(&spans, "exec");
    assert_eq!(execs.len(), 3, "one executor span per step");
    for exec in execs {
        assert_eq!(exec.parent_span_id, id(pipeline), "each step's executor span is the pipeline's child");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_and_a_chain_of_triggers_stay_in_the_callers_trace() {
    let platform = platform().await;

    // A queued job: api → stream → dispatcher's worker → executor.
    let (trace, _, header) = traceparent();
    let resp = platform
        .http
        .post(platform.url("/async/functions/hello"))
        .header("traceparent", header)
        .body(r#"{"name":"Job"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let spans = spans_of(&trace, &[("http", 1), ("job", 1), ("exec", 1)]).await;
    let job = named(&spans, "job")[0];
    assert_eq!(job.parent_span_id, id(named(&spans, "http")[0]));
    assert_eq!(named(&spans, "exec")[0].parent_span_id, id(job));

    // Two triggers chained by subject, started by a plain NATS publish that
    // carries a trace context: the second trigger's event is the first's
    // output, one hop on, and still in the same trace.
    for (name, spec) in [
        (
            "first",
            j!({"subject": "chain.start", "function": "functions/normalize", "output_subject": "chain.next"}),
        ),
        (
            "second",
            j!({"subject": "chain.next", "function": "functions/hello", "output_subject": "chain.done"}),
        ),
    ] {
        let resp =
            platform.http.put(platform.url(&format!("/trigger/{name}"))).json(&spec).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let mut done = platform.client.subscribe("chain.done").await.unwrap();
    platform.client.flush().await.unwrap();
    let (trace, caller, header) = traceparent();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("traceparent", header.as_str());
    platform
        .client
        .publish_with_headers("chain.start", headers, r#"{"name":"  grace  HOPPER"}"#.into())
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(15), futures::StreamExt::next(&mut done))
        .await
        .expect("the chain's output in time")
        .unwrap();
    assert_eq!(&out.payload[..], b"Hello Grace Hopper, how are you?");

    let spans = spans_of(&trace, &[("trigger", 2), ("exec", 2)]).await;
    let triggers = named(&spans, "trigger");
    let first = triggers.iter().find(|s| s.parent_span_id.to_string() == caller).expect("the first trigger");
    let second =
        triggers.iter().find(|s| s.parent_span_id == id(first)).expect("the second, the first's child");
    let execs = named(&spans, "exec");
    assert!(execs.iter().any(|e| e.parent_span_id == id(first)));
    assert!(execs.iter().any(|e| e.parent_span_id == id(second)));
}
