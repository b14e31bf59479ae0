//! Prometheus metrics of every role: the api's `/metrics`, and each
//! executor's and dispatcher's `--metrics-listen` endpoint. The text must
//! parse as the Prometheus text format (types, `_total` counters,
//! histograms with `le` buckets, `_sum` and `_count`), and the counts must
//! follow what the platform did.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use e2e::{Platform, metric_sum};
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::json;

/// Checks `text` is Prometheus text exposition (version 0.0.4) and returns
/// its samples by series (`name{labels}`).
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut types = HashMap::<String, String>::new();
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line: {line}"));
            match kind {
                "counter" => assert!(name.ends_with("_total"), "counter without _total: {line}"),
                "gauge" | "histogram" => assert!(!name.ends_with("_total"), "{kind} named _total: {line}"),
                _ => panic!("unexpected type: {line}"),
            }
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "declared twice: {line}");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, Some(labels)),
            None => (series, None),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name: {line}"
        );
        if let Some(labels) = labels {
            let labels = labels.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
            for pair in split_labels(labels) {
                let (key, quoted) = pair.split_once('=').unwrap_or_else(|| panic!("bad label: {line}"));
                assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad label name: {line}");
                assert!(quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'), "{line}");
            }
        }
        let family = types.get(name).map(|kind| (name, kind.as_str())).or_else(|| {
            ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                let kind = types.get(base)?;
                (kind == "histogram").then_some((base, "histogram"))
            })
        });
        let (_, kind) = family.unwrap_or_else(|| panic!("sample before its TYPE: {line}"));
        if kind == "histogram" {
            assert!(
                name.ends_with("_bucket") || name.ends_with("_sum") || name.ends_with("_count"),
                "{line}"
            );
            assert_eq!(name.ends_with("_bucket"), series.contains("le=\""), "le on buckets only: {line}");
        }
        samples.insert(series.to_owned(), value);
    }
    check_histograms(&samples);
    samples
}

/// Splits `a="x",b="y,z"` at the commas between labels.
fn split_labels(labels: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < labels.len() {
        parts.push(&labels[start..]);
    }
    parts
}

/// Every histogram's buckets only grow with `le`, end with `+Inf`, and
/// the `+Inf` bucket is its `_count`.
fn check_histograms(samples: &BTreeMap<String, f64>) {
    let mut buckets = BTreeMap::<String, Vec<(f64, f64)>>::new();
    for (series, value) in samples {
        let Some((name, labels)) = series.split_once("_bucket{") else { continue };
        let labels = split_labels(labels.strip_suffix('}').unwrap());
        let le = labels.iter().find_map(|pair| pair.strip_prefix("le=")).expect("a bucket has le");
        let bound = match le.trim_matches('"') {
            "+Inf" => f64::INFINITY,
            bound => bound.parse().unwrap_or_else(|_| panic!("bad le: {series}")),
        };
        let others: Vec<&str> = labels.into_iter().filter(|pair| !pair.starts_with("le=")).collect();
        buckets.entry(format!("{name}{{{}}}", others.join(","))).or_default().push((bound, *value));
    }
    for (series, mut bounds) in buckets {
        bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(bounds.windows(2).all(|w| w[0].1 <= w[1].1), "{series}: buckets shrink: {bounds:?}");
        let (last, infinite) = *bounds.last().unwrap();
        assert!(last.is_infinite(), "{series}: no +Inf bucket");
        let (name, labels) = series.split_once('{').unwrap();
        let labels = labels.trim_end_matches('}');
        let count_series =
            if labels.is_empty() { format!("{name}_count") } else { format!("{name}_count{{{labels}}}") };
        assert_eq!(
            samples.get(&count_series),
            Some(&infinite),
            "{series}: +Inf bucket is not {count_series}"
        );
    }
}

async fn api_metrics(platform: &Platform) -> String {
    let response = platform.http.get(platform.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_apis_metrics_parse_and_count_requests() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let before = parse(&api_metrics(&platform).await);
    for _ in 0..3 {
        let response = platform.http.get(platform.url("/bucket/functions")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let _ =
        platform.http.request(reqwest::Method::from_bytes(b"BREW").unwrap(), platform.url("/x")).send().await;
    let text = api_metrics(&platform).await;
    let after = parse(&text);

    let requests = r#"faas_http_requests_total{method="GET",route="/bucket/{bucket}",status="200"}"#;
    let count = r#"faas_http_request_duration_seconds_count{method="GET",route="/bucket/{bucket}"}"#;
    for series in [requests, count] {
        let grew = after[series] - before.get(series).copied().unwrap_or(0.0);
        assert_eq!(grew, 3.0, "{series}\n{text}");
    }
    let bucket =
        r#"faas_http_request_duration_seconds_bucket{method="GET",route="/bucket/{bucket}",le="+Inf"}"#;
    assert_eq!(after[bucket], after[count]);
    assert_eq!(after[r#"faas_http_requests_total{method="other",route="unmatched",status="404"}"#], 1.0);
    assert!(text.contains("# TYPE faas_http_requests_in_flight gauge"), "{text}");
    // Only the api's own families: each executor and dispatcher is scraped on its own.
    assert!(!text.contains("faas_trigger_events") && !text.contains("faas_exec_"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_executor_counts_calls_by_function_outcome_and_cache_source() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    for _ in 0..2 {
        let (status, body) = platform.exec("functions", "hello", r#"{"name":"Metrics"}"#).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, _) = platform.exec("functions", "nope", "x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let text = platform.executor_metrics().await;
    let samples = parse(&text);
    let calls = |labels: &str| metric_sum(&text, "faas_exec_calls_total", labels);
    let hello = r#"function="functions/hello",outcome="ok""#;
    assert_eq!(calls(&format!(r#"{hello},cache="memory""#)), 1.0, "{text}");
    // The first call found the artifact the upload stored (or compiled).
    let cold =
        calls(&format!(r#"{hello},cache="artifact""#)) + calls(&format!(r#"{hello},cache="compiled""#));
    assert_eq!(cold, 1.0, "{text}");
    assert_eq!(
        calls(r#"function="functions/nope",outcome="function_not_found",cache="none""#),
        1.0,
        "{text}"
    );
    let durations = r#"faas_exec_call_duration_seconds_count{function="functions/hello",cache="memory"}"#;
    assert_eq!(samples[durations], 1.0, "{text}");
    assert_eq!(metric_sum(&text, "faas_exec_cold_starts_total", r#"function="functions/hello""#), 1.0);
    assert_eq!(samples["faas_exec_calls_in_flight"], 0.0);
    assert_eq!(samples["faas_exec_slots"], 4.0);
    assert!(samples.contains_key("faas_exec_queue_group_leaves_total"), "{text}");
    // Call logs are batched; none of these few was dropped.
    assert_eq!(samples["faas_call_logs_dropped_total"], 0.0, "{text}");

    // Anything but GET /metrics is refused.
    let url = platform.executor_metrics_urls()[0].replace("/metrics", "/other");
    let response = platform.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn functions_beyond_the_label_cap_are_counted_as_other() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    for function in ["one", "two", "three"] {
        platform.deploy("functions", function, "hello").await;
    }
    platform.stop_executors().await;
    platform.metrics_max_functions = 2;
    // No shared artifacts: the first call compiles, which is timed.
    platform.share_artifacts = false;
    platform.add_executor(4).await;
    for function in ["one", "two", "three", "one"] {
        let (status, body) = platform.exec("functions", function, r#"{"name":"Cap"}"#).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let text = platform.executor_metrics().await;
    parse(&text);
    let calls =
        |function: &str| metric_sum(&text, "faas_exec_calls_total", &format!(r#"function="{function}""#));
    assert_eq!(calls("functions/one"), 2.0, "{text}");
    assert_eq!(calls("functions/two"), 1.0, "{text}");
    assert_eq!(calls("(other)"), 1.0, "{text}");
    assert!(!text.contains("functions/three"), "{text}");
    // One component (the same bytes) compiled once, then taken from memory.
    let compiled = metric_sum(&text, "faas_exec_cold_starts_total", r#"source="compiled""#);
    assert_eq!(compiled, 1.0, "{text}");
    assert!(text.contains("faas_exec_compile_duration_seconds_count 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dispatcher_counts_jobs_and_trigger_events() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;

    // A job, submitted over HTTP and finished by the dispatcher.
    let response = platform
        .http
        .post(platform.url("/async/functions/hello"))
        .body(r#"{"name":"Job"}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = e2e::json(response).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let response = platform.http.get(platform.url(&format!("/jobs/{job_id}"))).send().await.unwrap();
        let (_, record) = e2e::json(response).await;
        if record["status"] == "succeeded" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the job never finished: {record}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A trigger event.
    let mut out = platform.client.subscribe("greetings.out").await.unwrap();
    platform.client.flush().await.unwrap();
    let spec =
        json!({"subject": "greetings.in", "function": "functions/hello", "output_subject": "greetings.out"});
    let response = platform.http.put(platform.url("/trigger/greet")).json(&spec).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    platform.client.publish("greetings.in", r#"{"name":"Event"}"#.into()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), out.next()).await.expect("the trigger ran").unwrap();

    // The event's count is taken just before its output is published.
    let started = Instant::now();
    let text = loop {
        let text = platform.dispatcher_metrics().await;
        if metric_sum(&text, "faas_trigger_events_total", r#"trigger="greet",outcome="ok""#) >= 1.0 {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the event was not counted: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let samples = parse(&text);
    assert_eq!(samples[r#"faas_trigger_events_total{trigger="greet",outcome="ok"}"#], 1.0, "{text}");
    assert_eq!(samples[r#"faas_jobs_finished_total{target="functions/hello",status="succeeded"}"#], 1.0);
    assert_eq!(samples["faas_jobs_queued"], 0.0, "read from the stream at the scrape: {text}");
    assert_eq!(samples["faas_jobs_dead_letters"], 0.0, "{text}");
    assert_eq!(samples["faas_dispatcher_degraded"], 0.0, "{text}");
    let api = api_metrics(&platform).await;
    assert_eq!(metric_sum(&api, "faas_jobs_submitted_total", r#"outcome="accepted""#), 1.0, "{api}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_executor_process_serves_metrics_on_faas_metrics_listen() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    platform.stop_executors().await;
    let port = stack::ports::free_port();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_faas-e2e-executor"));
    let _executor = platform
        .spawn_executor_process_with(bin, 2, &[("FAAS_METRICS_LISTEN", format!("127.0.0.1:{port}"))])
        .await;
    let (status, body) = platform.exec("functions", "hello", r#"{"name":"Process"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let text = platform.http.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap();
    let text = text.text().await.unwrap();
    parse(&text);
    let calls = metric_sum(&text, "faas_exec_calls_total", r#"function="functions/hello",outcome="ok""#);
    assert_eq!(calls, 1.0, "{text}");
    assert!(text.contains("faas_exec_slots 2"), "{text}");
}
