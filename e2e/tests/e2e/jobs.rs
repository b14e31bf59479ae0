//! Asynchronous jobs: submitted over HTTP, stored in JetStream, run by the
//! dispatchers' workers on the executors, recorded once.

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

    // The api's copy of the registry (started by the first submission) is
    // exact: a deletion or a deploy is seen by the next submission.
    for round in 0..3 {
        let resp = platform.http.delete(platform.url("/file/functions/hello")).send().await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        let (status, body) = submit(&platform, "hello", "{}", None).await;
        assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "function_not_found"), "{round}");
        platform.deploy("functions", "hello", "hello").await;
        let (status, body) = submit(&platform, "hello", "{}", None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{round}: {body}");
    }
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
async fn a_job_waiting_for_its_first_worker_answers_queued_and_runs_once() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    // No worker: the job's record is left to the one that takes it.
    platform.stop_dispatchers().await;
    let mut results = platform.client.subscribe("faas.results.functions.hello").await.unwrap();
    platform.client.flush().await.unwrap();

    let (status, body) = submit(&platform, "hello", r#"{"name":"Later"}"#, None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::ACCEPTED, Some("queued")), "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let (status, queued) = job(&platform, &job_id).await;
    assert_eq!(status, StatusCode::OK, "{queued}");
    assert_eq!(
        (queued["status"].as_str(), queued["attempts"].as_u64(), queued["function"].as_str()),
        (Some("queued"), Some(0), Some("functions/hello")),
        "{queued}"
    );
    assert!(queued["submitted_at_ms"].as_u64() > Some(0), "{queued}");
    let listed_ids = |listed: &Value| -> Vec<String> {
        listed["jobs"].as_array().unwrap().iter().map(|j| j["job_id"].as_str().unwrap().to_owned()).collect()
    };
    for path in ["/jobs", "/jobs?status=queued"] {
        let (status, listed) = e2e::json(platform.http.get(platform.url(path)).send().await.unwrap()).await;
        assert_eq!((status, listed_ids(&listed)), (StatusCode::OK, vec![job_id.clone()]), "{path}: {listed}");
    }
    let (_, listed) =
        e2e::json(platform.http.get(platform.url("/jobs?status=succeeded")).send().await.unwrap()).await;
    assert!(listed_ids(&listed).is_empty(), "{listed}");
    // Not finished: no replay.
    let resp = platform
        .http
        .post(platform.url(&format!("/jobs/{job_id}/replay")))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);

    platform.add_dispatcher().await;
    let record = wait_for(&platform, &job_id, finished).await;
    assert_eq!(
        (record["status"].as_str(), record["attempts"].as_u64(), record["result"].as_str()),
        (Some("succeeded"), Some(1), Some("Hello Later, how are you?")),
        "{record}"
    );
    assert_eq!(
        record["submitted_at_ms"], queued["submitted_at_ms"],
        "the worker's record is the submitted one"
    );
    let (_, listed) = e2e::json(platform.http.get(platform.url("/jobs")).send().await.unwrap()).await;
    assert_eq!(listed_ids(&listed), vec![job_id.clone()], "listed once: {listed}");
    let mut announcements = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(500), results.next()).await {
        announcements += 1;
    }
    assert_eq!(announcements, 1, "one outcome");
}
