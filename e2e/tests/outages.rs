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
async fn a_nats_outage_makes_the_api_unready_until_it_is_back() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;

    platform.nats.stop();
    let resp = platform.http.get(platform.url("/ready")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = platform.exec("functions", "hello", r#"{"name":"x"}"#).await;
    assert!(status.is_server_error(), "{status} {body}");
    assert!(["unavailable", "timeout"].contains(&error_code(&body).0), "{body}");

    platform.nats.restart().expect("nats-server restarts");
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
