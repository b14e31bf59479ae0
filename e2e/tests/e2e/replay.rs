//! Replay on a whole platform (real NATS, real S3): a job that failed on
//! one version succeeds replayed on the next, both outcomes in its record
//! and the original listing it; a failed sync call's input is kept only
//! where asked and replays the same way; a replay acts (callback, key-value
//! writes) only with `side_effects: true`; and unknown, unfinished or
//! misaddressed replays are refused with their codes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{StatusCode as AxumStatus, Uri};
use e2e::{Platform, error_code, json};
use reqwest::StatusCode;
use serde_json::{Value, json as j};
use stack::guests::guest_bytes;

type Deliveries = Arc<Mutex<Vec<Value>>>;

/// A loopback receiver that keeps the JSON body of every callback POST.
async fn receiver() -> (Deliveries, String) {
    let received = Deliveries::default();
    let store = received.clone();
    let app = axum::Router::new().fallback(move |_: Uri, body: axum::body::Bytes| {
        store.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        async { AxumStatus::OK }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (received, base)
}

async fn start() -> Platform {
    let mut settings = e2e::test_job_settings();
    settings.callbacks.callback_allow = vec!["127.0.0.0/8".into()];
    let platform = Platform::start_with_jobs(1, settings).await;
    platform.create_bucket("functions").await;
    platform
}

async fn upload(platform: &Platform, function: &str, guest: &str) -> String {
    let (status, body) = platform.upload("functions", function, guest_bytes(guest)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["digest"].as_str().unwrap().to_owned()
}

/// `POST /async/functions/{function}`; returns the job id.
async fn submit(platform: &Platform, function: &str, input: &str, callback: Option<&str>) -> String {
    let mut request =
        platform.http.post(platform.url(&format!("/async/functions/{function}"))).body(input.to_owned());
    if let Some(callback) = callback {
        request = request.header("X-Callback-Url", callback);
    }
    let (status, body) = json(request.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["job_id"].as_str().unwrap().to_owned()
}

/// `POST {path}` with `body`: status and JSON answer.
async fn replay(platform: &Platform, path: &str, body: Value) -> (StatusCode, Value) {
    json(platform.http.post(platform.url(path)).json(&body).send().await.unwrap()).await
}

/// A replay that must be accepted; returns the new job's id.
async fn replayed(platform: &Platform, path: &str, body: Value) -> String {
    let (status, answer) = replay(platform, path, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let job_id = answer["job_id"].as_str().unwrap().to_owned();
    assert_eq!(answer["status_url"], format!("/jobs/{job_id}"));
    job_id
}

async fn record(platform: &Platform, job_id: &str) -> Value {
    let (status, record) =
        json(platform.http.get(platform.url(&format!("/jobs/{job_id}"))).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    record
}

/// The job's record once it is final.
async fn finished(platform: &Platform, job_id: &str) -> Value {
    let started = Instant::now();
    loop {
        let record = record(platform, job_id).await;
        if matches!(record["status"].as_str(), Some("succeeded" | "failed")) {
            return record;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the job never finished: {record}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a callback for `job_id` arrived.
async fn delivered(received: &Deliveries, job_id: &str) {
    let started = Instant::now();
    while !received.lock().unwrap().iter().any(|d| d["job_id"] == job_id) {
        assert!(started.elapsed() < Duration::from_secs(20), "no callback for {job_id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_failed_on_v1_succeeds_replayed_on_v2_with_both_outcomes_in_its_record() {
    let platform = start().await;
    let (received, base) = receiver().await;
    let callback = format!("{base}/done");
    let v1 = upload(&platform, "flaky", "trap").await;
    let original = submit(&platform, "flaky", r#"{"name":"R"}"#, Some(&callback)).await;
    let failed = finished(&platform, &original).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["digest"], v1.as_str(), "the record names the digest that ran: {failed}");
    delivered(&received, &original).await;

    // Unknown jobs and versions are refused before anything is stored.
    let unknown = format!("/jobs/{}/replay", uuid::Uuid::new_v4());
    let (status, body) = replay(&platform, &unknown, j!({})).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "job_not_found"), "{body}");
    let path = format!("/jobs/{original}/replay");
    let (status, body) = replay(&platform, &path, j!({"version": "deadbeefdeadbeef"})).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "version_not_found"), "{body}");
    let (status, body) = replay(&platform, &path, j!({"versoin": "x"})).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::BAD_REQUEST, "bad_request"), "{body}");

    let v2 = upload(&platform, "flaky", "hello").await;
    let on_v2 = replayed(&platform, &path, j!({"version": v2})).await;
    let replay_record = finished(&platform, &on_v2).await;
    assert_eq!(replay_record["status"], "succeeded", "{replay_record}");
    assert_eq!(replay_record["result"], "Hello R, how are you?");
    assert_eq!(replay_record["version"], v2.as_str());
    assert_eq!(replay_record["digest"], v2.as_str());
    let of = &replay_record["replay_of"];
    assert_eq!(of["job_id"], original.as_str(), "{replay_record}");
    assert_eq!(of["status"], "failed");
    assert_eq!(of["error"]["code"], "function_trapped");
    assert_eq!(of["digest"], v1.as_str());
    assert_eq!(of["side_effects"], false);

    // The default is the current version (v2 now); an empty body is `{}`.
    let resp = platform.http.post(platform.url(&path)).send().await.unwrap();
    let (status, answer) = json(resp).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let on_current = answer["job_id"].as_str().unwrap().to_owned();
    let current_record = finished(&platform, &on_current).await;
    assert_eq!(current_record["status"], "succeeded", "{current_record}");
    assert_eq!(current_record["digest"], v2.as_str());
    assert!(current_record.get("version").is_none(), "{current_record}");

    // With side effects, the original's callback is POSTed for the replay.
    let acting = replayed(&platform, &path, j!({"side_effects": true})).await;
    finished(&platform, &acting).await;
    delivered(&received, &acting).await;
    let seen: Vec<Value> = received.lock().unwrap().iter().map(|d| d["job_id"].clone()).collect();
    assert!(
        !seen.contains(&j!(on_v2)) && !seen.contains(&j!(on_current)),
        "replays without side effects called back: {seen:?}"
    );

    let original_record = record(&platform, &original).await;
    assert_eq!(original_record["status"], "failed", "the original keeps its outcome");
    assert_eq!(original_record["replays"], j!([on_v2, on_current, acting]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_sync_call_s_input_is_kept_only_where_asked_and_replays_on_v2() {
    let platform = start().await;
    let v1 = upload(&platform, "fails", "trap").await;
    let call = |input: &'static str| {
        let platform = &platform;
        async move {
            let resp =
                platform.http.post(platform.url("/exec/functions/fails")).body(input).send().await.unwrap();
            let call_id = resp.headers().get("x-faas-call-id").map(|v| v.to_str().unwrap().to_owned());
            let (status, body) = json(resp).await;
            assert_eq!(
                (status, error_code(&body).0),
                (StatusCode::INTERNAL_SERVER_ERROR, "function_trapped")
            );
            call_id
        }
    };
    assert_eq!(call(r#"{"name":"Off"}"#).await, None, "keeping is off by default");

    let url = platform.url("/config/functions/fails");
    let (status, body) =
        json(platform.http.put(url).json(&j!({"keep_inputs": "failures"})).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["keep_inputs"], "failures", "{body}");
    let call_id = call(r#"{"name":"Kept"}"#).await.expect("a kept input's call id");

    let v2 = upload(&platform, "fails", "hello").await;
    let job = replayed(&platform, &format!("/calls/{call_id}/replay"), j!({"version": v2})).await;
    let record = finished(&platform, &job).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["result"], "Hello Kept, how are you?");
    assert_eq!(record["function"], "functions/fails");
    let of = &record["replay_of"];
    assert_eq!(of["call_id"], call_id.as_str(), "{record}");
    assert_eq!(of["error"]["code"], "function_trapped");
    assert_eq!(of["digest"], v1.as_str());

    let unknown = format!("/calls/{}/replay", uuid::Uuid::new_v4());
    let (status, body) = replay(&platform, &unknown, j!({})).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "call_not_found"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replay_without_side_effects_cannot_write_and_an_unfinished_job_is_not_replayed() {
    let platform = start().await;
    upload(&platform, "counter", "counter").await;
    let url = platform.url("/config/functions/counter");
    let config = j!({"capabilities": {"keyvalue": "write"}});
    let (status, body) = json(platform.http.put(url).json(&config).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let original = submit(&platform, "counter", "", None).await;
    assert_eq!(finished(&platform, &original).await["result"], "1");

    let path = format!("/jobs/{original}/replay");
    let read_only = replayed(&platform, &path, j!({})).await;
    let record = finished(&platform, &read_only).await;
    assert_eq!(record["result"], "error: Error::AccessDenied", "a replay may not write: {record}");
    assert_eq!(record["replay_of"]["result"], "1");
    let acting = replayed(&platform, &path, j!({"side_effects": true})).await;
    assert_eq!(finished(&platform, &acting).await["result"], "2", "the read-only replay wrote nothing");

    upload(&platform, "slow", "sleepy").await;
    let running = submit(&platform, "slow", r#"{"ms":1200}"#, None).await;
    let (status, body) = replay(&platform, &format!("/jobs/{running}/replay"), j!({})).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::CONFLICT, "job_not_finished"), "{body}");
    finished(&platform, &running).await;
}
