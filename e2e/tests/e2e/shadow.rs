//! Shadow traffic on a whole platform (real NATS, real S3): a candidate
//! that differs on some inputs shows exactly those in the report; a
//! candidate that traps or loops is counted with its code while the live
//! answer stays the live version's; a shadow run cannot write key-value;
//! `DELETE` stops new outcomes; bad specs are refused; a shadowed
//! candidate cannot be deleted.

use std::time::Duration;

use e2e::{Platform, error_code, json, metric_sum};
use reqwest::StatusCode;
use serde_json::{Value, json as j};
use stack::guests::{guest_bytes, with_custom_section};

const BUCKET: &str = "shadowed";

async fn upload(platform: &Platform, function: &str, bytes: Vec<u8>) -> String {
    let (status, body) = platform.upload(BUCKET, function, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["digest"].as_str().unwrap().to_owned()
}

async fn put_shadow(platform: &Platform, function: &str, spec: Value) -> (StatusCode, Value) {
    let url = platform.url(&format!("/file/{BUCKET}/{function}/shadow"));
    json(platform.http.put(url).json(&spec).send().await.unwrap()).await
}

async fn shadow_request(platform: &Platform, method: reqwest::Method, path: &str) -> (StatusCode, Value) {
    let url = platform.url(&format!("/file/{BUCKET}/{path}"));
    json(platform.http.request(method, url).send().await.unwrap()).await
}

/// Calls `function` by its plain name; the result and the digest that ran.
async fn call(platform: &Platform, function: &str, input: &str) -> (String, String) {
    let resp = platform
        .http
        .post(platform.url(&format!("/exec/{BUCKET}/{function}")))
        .body(input.to_owned())
        .send()
        .await
        .unwrap();
    let digest = resp.headers().get("x-faas-digest").map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (body["result"].as_str().unwrap().to_owned(), digest.expect("the digest is reported"))
}

/// The report once it counts `outcomes` outcomes (shadow runs finish after
/// the live answers).
async fn report_with(platform: &Platform, function: &str, outcomes: u64) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let (status, body) =
            shadow_request(platform, reqwest::Method::GET, &format!("{function}/shadow/report")).await;
        if status == StatusCode::OK && body["outcomes"] == outcomes {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the report never counted {outcomes} outcomes: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_candidate_that_differs_on_some_inputs_shows_exactly_those_in_the_report() {
    let platform = Platform::start().await;
    platform.create_bucket(BUCKET).await;
    // `normalize` and `validate` both take `{"name": ...}`: validate hands
    // it back, normalize capitalises it, so they agree on tidy names only.
    let candidate = upload(&platform, "greet", guest_bytes("normalize")).await;
    let http = upload(&platform, "greet", guest_bytes("echo-http")).await;
    let live = upload(&platform, "greet", guest_bytes("validate")).await;

    // Bad specs.
    let (status, body) = shadow_request(&platform, reqwest::Method::GET, "greet/shadow").await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "shadow_not_found"), "{body}");
    for bad in [j!({"version": candidate, "sample": 0}), j!({"version": candidate, "sample": 1.5})] {
        let (status, body) = put_shadow(&platform, "greet", bad).await;
        assert_eq!((status, error_code(&body).0), (StatusCode::BAD_REQUEST, "bad_request"), "{body}");
    }
    let (status, body) =
        put_shadow(&platform, "greet", j!({"version": "deadbeefdeadbeef", "sample": 1})).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "version_not_found"), "{body}");
    let (status, body) = put_shadow(&platform, "greet", j!({"version": http, "sample": 1})).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::BAD_REQUEST, "bad_request"), "{body}");
    assert!(error_code(&body).1.contains("http"), "{body}");

    let (status, config) =
        put_shadow(&platform, "greet", j!({"version": &candidate[..12], "sample": 1.0, "max_per_sec": 1000}))
            .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["candidate"], candidate.as_str());
    let (status, shown) = shadow_request(&platform, reqwest::Method::GET, "greet/shadow").await;
    assert_eq!((status, &shown), (StatusCode::OK, &config));

    let inputs = [
        (r#"{"name":"Ada"}"#, true),
        (r#"{"name":"ada lovelace"}"#, false),
        (r#"{"name":"Grace Hopper"}"#, true),
        (r#"{"name":"  alan   TURING "}"#, false),
        (r#"{"name":"Edsger"}"#, true),
    ];
    let mut differing = Vec::new();
    for (n, (input, same)) in inputs.into_iter().enumerate() {
        let (result, digest) = call(&platform, "greet", input).await;
        // One pair at a time: a pair sampled while every shadow slot is
        // busy would be skipped.
        report_with(&platform, "greet", n as u64 + 1).await;
        assert_eq!(digest, live, "the live answer is the live version's");
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(result, value.to_string(), "validate hands its input back");
        if !same {
            differing.push(result);
        }
    }
    let report = report_with(&platform, "greet", inputs.len() as u64).await;
    assert_eq!(report["verdicts"]["equal"], 3, "{report}");
    assert_eq!(report["verdicts"]["different"], 2, "{report}");
    assert_eq!(report["verdicts"]["candidate_failed"], 0, "{report}");
    // Shadow runs finish in any order: compared as sets.
    let differences = report["differences"].as_array().unwrap();
    let mut shown: Vec<&str> = differences.iter().map(|d| d["live"]["output"].as_str().unwrap()).collect();
    shown.sort_unstable();
    differing.sort_unstable();
    assert_eq!(shown, differing.iter().map(String::as_str).collect::<Vec<_>>(), "{report}");
    let mut candidates: Vec<&str> =
        differences.iter().map(|d| d["candidate"]["output"].as_str().unwrap()).collect();
    candidates.sort_unstable();
    assert_eq!(candidates, [r#"{"name":"Ada Lovelace"}"#, r#"{"name":"Alan Turing"}"#], "{report}");
    for difference in differences {
        assert_eq!(difference["live"]["digest"], live.as_str(), "{report}");
        assert_eq!(difference["candidate"]["digest"], candidate.as_str(), "{report}");
    }
    assert!(report["live_latency"]["p99_us"].as_u64().unwrap() > 0, "{report}");
    let metrics = platform.executor_metrics().await;
    assert_eq!(metric_sum(&metrics, "faas_shadow_calls_total", r#"verdict="different""#), 2.0, "{metrics}");
    assert_eq!(metric_sum(&metrics, "faas_shadow_calls_total", r#"verdict="equal""#), 3.0, "{metrics}");

    // Calls naming a version are not shadowed.
    let resp = platform
        .http
        .post(platform.url(&format!("/exec/{BUCKET}/greet@{live}")))
        .body(r#"{"name":"bob"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, report) = shadow_request(&platform, reqwest::Method::GET, "greet/shadow/report").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["outcomes"], inputs.len() as u64, "a call naming a version was shadowed: {report}");

    // The candidate is pinned while shadowed.
    let (status, body) =
        shadow_request(&platform, reqwest::Method::DELETE, &format!("greet?version={candidate}")).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::CONFLICT, "version_in_use"), "{body}");

    // DELETE stops new outcomes; the report stays readable.
    let (status, body) = shadow_request(&platform, reqwest::Method::DELETE, "greet/shadow").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for _ in 0..3 {
        call(&platform, "greet", r#"{"name":"ada"}"#).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = report_with(&platform, "greet", inputs.len() as u64).await;
    assert!(report.get("config").is_none(), "{report}");
    let (status, body) = shadow_request(&platform, reqwest::Method::GET, "greet/shadow").await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "shadow_not_found"), "{body}");
    let (status, body) = shadow_request(&platform, reqwest::Method::DELETE, "greet/shadow").await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "shadow_not_found"), "{body}");
    let (status, body) =
        shadow_request(&platform, reqwest::Method::DELETE, &format!("greet?version={candidate}")).await;
    assert_eq!(status, StatusCode::OK, "no longer pinned: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_candidate_that_traps_or_loops_is_counted_and_the_live_answer_stays_the_live_one() {
    let platform = Platform::start().await;
    platform.create_bucket(BUCKET).await;
    let trap = upload(&platform, "hello", guest_bytes("trap")).await;
    let spin = upload(&platform, "hello", guest_bytes("spin")).await;
    let live = upload(&platform, "hello", guest_bytes("hello")).await;

    let (status, body) = put_shadow(&platform, "hello", j!({"version": trap, "sample": 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for n in 1..=3 {
        assert_eq!(
            call(&platform, "hello", r#"{"name":"v"}"#).await,
            ("Hello v, how are you?".into(), live.clone())
        );
        report_with(&platform, "hello", n).await;
    }
    let report = report_with(&platform, "hello", 3).await;
    assert_eq!(report["verdicts"]["candidate_failed"], 3, "{report}");
    assert_eq!(report["candidate_errors"], j!({"function_trapped": 3}), "{report}");

    // A new PUT starts a fresh report.
    let (status, body) = put_shadow(&platform, "hello", j!({"version": spin, "sample": 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for n in 1..=2 {
        assert_eq!(
            call(&platform, "hello", r#"{"name":"w"}"#).await,
            ("Hello w, how are you?".into(), live.clone())
        );
        report_with(&platform, "hello", n).await;
    }
    let report = report_with(&platform, "hello", 2).await;
    assert_eq!(report["candidate_errors"], j!({"function_timeout": 2}), "{report}");
    assert_eq!(report["config"]["candidate"], spin.as_str(), "{report}");

    // Deleting the function stops its shadowing.
    let (status, body) = shadow_request(&platform, reqwest::Method::DELETE, "hello").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = shadow_request(&platform, reqwest::Method::GET, "hello/shadow").await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "shadow_not_found"), "{body}");
    // And its report: a new function of the name does not inherit it.
    let (status, body) = shadow_request(&platform, reqwest::Method::GET, "hello/shadow/report").await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "shadow_not_found"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shadow_run_cannot_write_key_value() {
    let platform = Platform::start().await;
    platform.create_bucket(BUCKET).await;
    let counter = guest_bytes("counter");
    let candidate = upload(&platform, "count", with_custom_section(&counter, counter.len() + 64)).await;
    upload(&platform, "count", counter).await;
    let url = platform.url(&format!("/config/{BUCKET}/count"));
    let grant = j!({"capabilities": {"keyvalue": "write"}});
    let (status, body) = json(platform.http.put(url).json(&grant).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = put_shadow(&platform, "count", j!({"version": candidate, "sample": 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for expected in 1..=5 {
        assert_eq!(call(&platform, "count", "").await.0, expected.to_string());
        // The shadow copy ran before the next live call.
        report_with(&platform, "count", expected).await;
    }
    let report = report_with(&platform, "count", 5).await;
    assert_eq!(report["verdicts"]["different"], 5, "{report}");
    let refused = report["differences"][0]["candidate"]["output"].as_str().unwrap();
    assert!(refused.starts_with("error:"), "the shadow copy's write is refused: {report}");
    // Only the live calls counted.
    assert_eq!(call(&platform, "count", "").await.0, "6");
}
