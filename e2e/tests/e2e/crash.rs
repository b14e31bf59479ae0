//! An executor process killed with SIGKILL in the middle of a batch of
//! asynchronous jobs: no job is lost and each is recorded once.
//!
//! Apart from the other job tests because it needs an executor that is a
//! process of its own: this crate's `faas-e2e-executor`, which cargo builds
//! fresh for this crate's tests (`CARGO_BIN_EXE_faas-e2e-executor`).

use std::time::{Duration, Instant};

use e2e::Platform;
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::Value;

async fn submit(platform: &Platform, function: &str, input: &str) -> (StatusCode, Value) {
    let request =
        platform.http.post(platform.url(&format!("/async/functions/{function}"))).body(input.to_owned());
    e2e::json(request.send().await.unwrap()).await
}

async fn job(platform: &Platform, job_id: &str) -> (StatusCode, Value) {
    e2e::json(platform.http.get(platform.url(&format!("/jobs/{job_id}"))).send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_executor_killed_mid_batch_loses_no_job_and_records_each_once() {
    // Calls that take 40 ms, 16 at a time over two executors: whenever the
    // victim dies, several of its calls are in flight and never answer.
    let settings = dispatcher::JobSettings { job_exec_wait_secs: 2, ..e2e::test_job_settings() };
    let mut platform = Platform::start_with_jobs(0, settings).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "sleepy", "sleepy").await;
    // The victim is a real executor process, started first so it is
    // known to serve; then an in-process survivor joins the queue group.
    let mut victim = platform
        .spawn_executor_process(std::path::Path::new(env!("CARGO_BIN_EXE_faas-e2e-executor")), 8)
        .await;
    platform.add_executor(8).await;
    let mut results = platform.client.subscribe("faas.results.functions.sleepy").await.unwrap();
    platform.client.flush().await.unwrap();

    let mut ids = std::collections::HashSet::new();
    for _ in 0..200 {
        let (status, body) = submit(&platform, "sleepy", r#"{"ms":40}"#).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.insert(body["job_id"].as_str().unwrap().to_owned());
    }

    let mut announced = std::collections::HashMap::<String, usize>::new();
    fn record_announcement(announced: &mut std::collections::HashMap<String, usize>, payload: &[u8]) {
        let record: Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(record["status"], "succeeded", "{record}");
        *announced.entry(record["job_id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut killed = false;
    while Instant::now() < deadline {
        if let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(1), results.next()).await {
            record_announcement(&mut announced, &message.payload);
        }
        if !killed && announced.len() >= 40 {
            // SIGKILL: no drain, no goodbye; its connection just drops.
            victim.0.kill().expect("SIGKILL the executor");
            victim.0.wait().unwrap();
            killed = true;
        }
        if announced.len() == ids.len() {
            // Late duplicates would show up now.
            while let Ok(Some(message)) =
                tokio::time::timeout(Duration::from_millis(500), results.next()).await
            {
                record_announcement(&mut announced, &message.payload);
            }
            break;
        }
    }
    assert!(killed, "the batch finished before the kill");
    assert_eq!(announced.len(), 200, "every job finished");
    assert!(announced.values().all(|&n| n == 1), "one outcome per job");
    let mut retried = 0;
    for id in &ids {
        let (_, record) = job(&platform, id).await;
        assert_eq!(record["status"], "succeeded", "{record}");
        if record["attempts"].as_u64() > Some(1) {
            retried += 1;
        }
    }
    println!("jobs retried after the kill: {retried}");
    // The kill caught calls in flight, and their jobs ran again elsewhere.
    assert!(retried > 0, "no job needed a second attempt: the kill caught nothing in flight");
}
