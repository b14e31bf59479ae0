//! S3 and NATS outages: clear errors while they last, recovery after.

use std::time::{Duration, Instant};

use e2e::{Platform, error_code};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_s3_outage_is_a_clear_503_and_the_platform_recovers() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    platform.deploy("functions", "fibonacci", "fibonacci").await;
    // An executor that shares no precompiled artifacts must read S3 for a
    // function it has not run yet.
    platform.stop_executors().await;
    platform.share_artifacts = false;
    platform.add_executor(4).await;
    let (status, _) = platform.exec("functions", "hello", r#"{"name":"warm"}"#).await;
    assert_eq!(status, StatusCode::OK);

    platform.s3.stop();
    // Warm functions need neither S3 nor a compile: they keep serving.
    let (status, body) = platform.exec("functions", "hello", r#"{"name":"x"}"#).await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("Hello x, how are you?")), "{body}");
    // What needs S3 fails clearly, and soon.
    let started = Instant::now();
    let (status, body) = platform.exec("functions", "fibonacci", r#"{"n":5}"#).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(error_code(&body).0, "storage_error");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    let resp = platform.http.get(platform.url("/bucket")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);

    platform.s3.restart().expect("S3 restarts");
    let (status, body) = platform.exec("functions", "fibonacci", r#"{"n":10}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "55");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_executor_stopped_during_a_nats_outage_still_stops() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    let (status, _) = platform.exec("functions", "hello", r#"{"name":"warm"}"#).await;
    assert_eq!(status, StatusCode::OK);

    platform.nats_server().stop();
    // No server confirms the drain and no flush goes out: each call thread
    // gives up after its bounded waits instead of waiting for NATS forever.
    tokio::time::timeout(Duration::from_secs(30), platform.stop_executors())
        .await
        .expect("the executor stopped without NATS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nats_outage_makes_the_api_unready_until_it_is_back() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;

    platform.nats_server().stop();
    let resp = platform.http.get(platform.url("/ready")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = platform.exec("functions", "hello", r#"{"name":"x"}"#).await;
    assert!(status.is_server_error(), "{status} {body}");
    assert!(["unavailable", "timeout"].contains(&error_code(&body).0), "{body}");

    platform.nats_server().restart().expect("nats-server restarts");
    // Every service reconnects by itself.
    let mut last = None;
    for _ in 0..100 {
        let (status, body) = platform.exec("functions", "hello", r#"{"name":"back"}"#).await;
        if status == StatusCode::OK {
            last = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.expect("the platform recovered")["result"], "Hello back, how are you?");
}

/// One request of the load in the NATS fault test.
#[derive(Debug, Clone)]
struct Sent {
    started: Instant,
    ended: Instant,
    status: u16,
    job_id: Option<String>,
}

/// Longest answer while NATS is down: the 100 ms the platform promises,
/// plus slack for a busy 2-core test machine.
const DOWN_ANSWER_LIMIT: Duration = Duration::from_millis(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_killed_under_load_answers_fast_recovers_in_5s_and_loses_no_accepted_job() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    let http = e2e::admin_http().timeout(Duration::from_secs(10)).build().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Sent>::new()));

    // Load: exec calls and job submissions, each worker one at a time.
    let mut workers = Vec::new();
    for worker in 0..6 {
        let (http, stop, sent) = (http.clone(), stop.clone(), sent.clone());
        let exec_url = platform.url("/exec/functions/hello");
        let async_url = platform.url("/async/functions/hello");
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                let submit = worker % 3 == 0;
                let request = if submit {
                    http.post(&async_url).header("Idempotency-Key", format!("w{worker}-{n}"))
                } else {
                    http.post(&exec_url)
                };
                let started = Instant::now();
                let response = request.body(r#"{"name":"load"}"#).send().await;
                let (status, body) = match response {
                    Ok(response) => (response.status().as_u16(), response.text().await.unwrap_or_default()),
                    Err(err) => panic!("no answer after {:?}: {err}", started.elapsed()),
                };
                let job_id = (status == 202)
                    .then(|| serde_json::from_str::<serde_json::Value>(&body).ok())
                    .flatten()
                    .and_then(|v| v["job_id"].as_str().map(str::to_owned));
                sent.lock().unwrap().push(Sent { started, ended: Instant::now(), status, job_id });
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = Instant::now();
    platform.nats_server().stop();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    platform.nats_server().restart().expect("nats-server restarts");
    let back = Instant::now();
    // Run until a call succeeds again, then a little longer.
    let first_success = loop {
        let success = sent
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.started >= back && s.status == 200)
            .map(|s| s.ended)
            .min();
        if let Some(at) = success {
            break at;
        }
        assert!(back.elapsed() < Duration::from_secs(10), "no call succeeded 10 s after NATS came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("every request was answered");
    }
    let sent = sent.lock().unwrap().clone();

    // While it was down (and until the api reconnected), every request
    // was answered at once: a success, or a 503.
    let down: Vec<&Sent> = sent.iter().filter(|s| s.ended > killed && s.started < back).collect();
    assert!(down.len() > 20, "too little load while NATS was down: {}", down.len());
    for s in &down {
        let waited = s.ended - s.started.max(killed);
        assert!(waited <= DOWN_ANSWER_LIMIT, "a request waited {waited:?} while NATS was down: {s:?}");
        assert!([200, 202, 503].contains(&s.status), "{s:?}");
    }
    let recovered = first_success - back;
    assert!(recovered < Duration::from_secs(5), "first success {recovered:?} after NATS came back");

    // Every accepted job runs to its end.
    let accepted: Vec<&String> = sent.iter().filter_map(|s| s.job_id.as_ref()).collect();
    assert!(!accepted.is_empty());
    let deadline = Instant::now() + Duration::from_secs(30);
    for job_id in accepted {
        loop {
            let resp = http.get(platform.url(&format!("/jobs/{job_id}"))).send().await.unwrap();
            let (status, record) = e2e::json(resp).await;
            if status == StatusCode::OK && record["status"] == "succeeded" {
                break;
            }
            assert!(Instant::now() < deadline, "accepted job {job_id} never succeeded: {status} {record}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!(
        "fault: {} requests, {} while down (slowest {:?}), first success {recovered:?} after restart",
        sent.len(),
        down.len(),
        down.iter().map(|s| s.ended - s.started.max(killed)).max().unwrap_or_default()
    );
}
