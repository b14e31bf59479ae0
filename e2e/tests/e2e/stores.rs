//! Jobs and stores under abuse: messages on the jobs stream that are not
//! jobs, stores at their byte caps, artifacts no function uses any more, and
//! a dispatcher whose job worker stopped.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use e2e::{Platform, error_code};
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_message_without_a_job_id_is_terminated_and_reported_once() {
    let platform = Platform::start().await;
    let mut rejected = platform.client.subscribe("faas.errors.jobs").await.unwrap();
    platform.client.flush().await.unwrap();
    let js = jetstream::new(platform.client.clone());
    js.publish("faas.jobs.functions.hello", "not a job".into()).await.unwrap().await.unwrap();

    let report = tokio::time::timeout(Duration::from_secs(10), rejected.next()).await.unwrap().unwrap();
    let report: Value = serde_json::from_slice(&report.payload).unwrap();
    assert_eq!(report["subject"], "faas.jobs.functions.hello", "{report}");
    assert!(report["reason"].as_str().unwrap().contains("Faas-Job-Id"), "{report}");
    assert!(report.get("job_id").is_none(), "{report}");
    // Terminated: never delivered again, and gone from the work queue.
    let again = tokio::time::timeout(Duration::from_secs(2), rejected.next()).await;
    assert!(again.is_err(), "reported twice: {again:?}");
    let mut stream = js.get_stream("FAAS_JOBS").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 0);
    let consumer: jetstream::consumer::PullConsumer = stream.get_consumer("faas-job-workers").await.unwrap();
    let mut consumer = consumer;
    let info = consumer.info().await.unwrap();
    assert_eq!((info.num_ack_pending, info.num_redelivered), (0, 0), "{info:?}");
    // Every job has a bounded number of deliveries: its attempts and some room.
    assert_eq!(info.config.max_deliver, 3 + 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_queue_at_its_byte_cap_answers_507_naming_it() {
    // Jobs cannot run (no executor) and retry slowly, so they stay queued.
    let settings = dispatcher::JobSettings { job_retry_delay_ms: 60_000, ..e2e::test_job_settings() };
    let mut platform = Platform::start_with_jobs(0, settings).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    // A dispatcher started with a small cap sets it on the existing stream.
    platform.dispatcher_config_mut().stores.jobs = 8 << 10;
    platform.add_dispatcher().await;
    let js = jetstream::new(platform.client.clone());
    let started = Instant::now();
    while js.get_stream("FAAS_JOBS").await.unwrap().info().await.unwrap().config.max_bytes != 8 << 10 {
        assert!(started.elapsed() < Duration::from_secs(10), "the cap was never applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let input = "x".repeat(3000);
    let mut accepted = 0;
    let (status, body) = loop {
        let started = Instant::now();
        let resp = platform
            .http
            .post(platform.url("/async/functions/hello"))
            .body(input.clone())
            .send()
            .await
            .unwrap();
        let answered = started.elapsed();
        let (status, body) = e2e::json(resp).await;
        assert!(answered < Duration::from_secs(2), "a full store must not hang: {answered:?}");
        if status != StatusCode::ACCEPTED {
            break (status, body);
        }
        accepted += 1;
        assert!(accepted < 10, "the cap never held");
    };
    let (code, message) = error_code(&body);
    assert_eq!((status, code), (StatusCode::INSUFFICIENT_STORAGE, "storage_full"), "{body}");
    assert!(message.contains("FAAS_JOBS"), "{message}");
    assert!(accepted >= 1, "{accepted}");
    // The refused job left no record behind.
    let (_, listed) = e2e::json(platform.http.get(platform.url("/jobs")).send().await.unwrap()).await;
    assert_eq!(listed["jobs"].as_array().unwrap().len(), accepted, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn artifacts_no_function_uses_are_swept() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let digest = |body: &Value| body["digest"].as_str().unwrap().to_owned();
    let (status, old) = platform.upload("functions", "greet", stack::guests::guest_bytes("hello")).await;
    assert_eq!(status, StatusCode::CREATED, "{old}");
    let (status, new) = platform.upload("functions", "greet", stack::guests::guest_bytes("chatty")).await;
    assert_eq!(status, StatusCode::CREATED, "{new}");
    let (status, kept) = platform.upload("functions", "other", stack::guests::guest_bytes("trap")).await;
    assert_eq!(status, StatusCode::CREATED, "{kept}");
    let (old, new, kept) = (digest(&old), digest(&new), digest(&kept));
    assert_eq!(artifact_digests(&platform).await.len(), 3);
    // A kept version keeps its artifact: the old one is unreferenced once
    // its version is deleted too.
    let url = platform.url(&format!("/file/functions/greet?version={old}"));
    let resp = platform.http.delete(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());

    // A dispatcher that sweeps at start, with no grace.
    let config = platform.dispatcher_config_mut();
    config.artifact_sweep_secs = 1;
    config.artifact_grace_secs = 0;
    platform.add_dispatcher().await;
    let started = Instant::now();
    loop {
        let mut digests = artifact_digests(&platform).await;
        digests.sort();
        let mut expected = vec![new.clone(), kept.clone()];
        expected.sort();
        if digests == expected {
            break;
        }
        assert!(!digests.contains(&new) || digests.contains(&old), "a used artifact went: {digests:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "never swept: {digests:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What is still used still runs.
    let (status, body) = platform.exec("functions", "greet", "hi").await;
    assert_eq!((status, &body["result"]), (StatusCode::OK, &Value::from("chatty: hi")), "{body}");
}

/// The digests of the artifacts in `faas-artifacts`.
async fn artifact_digests(platform: &Platform) -> Vec<String> {
    let js = jetstream::new(platform.client.clone());
    let store = js.get_object_store("faas-artifacts").await.unwrap();
    let mut listed = store.list().await.unwrap();
    let mut digests = Vec::new();
    while let Some(info) = listed.next().await {
        let info = info.unwrap();
        if !info.deleted {
            digests.push(info.name.rsplit('-').next().unwrap().to_owned());
        }
    }
    digests
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ready_is_503_once_a_dispatcher_s_job_worker_stopped() {
    ready_is_503_once_a_consumer_is_deleted("FAAS_JOBS", "faas-job-workers", "job worker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ready_is_503_once_a_dispatcher_s_callback_sender_stopped() {
    ready_is_503_once_a_consumer_is_deleted("FAAS_CALLBACKS", "faas-callback-senders", "callback sender")
        .await;
}

/// Deletes a dispatcher part's durable consumer: that part stops for good,
/// and `/ready` must say which one.
async fn ready_is_503_once_a_consumer_is_deleted(stream: &str, consumer: &str, part: &str) {
    let platform = Platform::start().await;
    let ready = || async {
        let resp = platform.http.get(platform.url("/ready")).send().await.unwrap();
        e2e::json(resp).await
    };
    assert_eq!(ready().await.0, StatusCode::OK);
    let js = jetstream::new(platform.client.clone());
    let stream = js.get_stream(stream).await.unwrap();
    stream.delete_consumer(consumer).await.unwrap();

    let started = Instant::now();
    let body = loop {
        let (status, body) = ready().await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "still ready: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(body["ready"], false);
    let dispatcher = body["dispatcher"].as_str().unwrap();
    assert!(dispatcher.starts_with(&format!("degraded: {part} stopped")), "{body}");
}
