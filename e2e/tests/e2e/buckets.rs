//! Bucket management, end to end.

use e2e::{Platform, error_code, json};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bucket_lifecycle() {
    let platform = Platform::start().await;
    let http = &platform.http;

    platform.create_bucket("functions").await;
    let resp = http.put(platform.url("/bucket/functions")).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body).0, "bucket_exists");

    let (status, body) = json(http.get(platform.url("/bucket")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> =
        body["buckets"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["functions"]);

    platform.deploy("functions", "hello", "hello").await;
    let (status, body) = json(http.delete(platform.url("/bucket/functions")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (code, message) = error_code(&body);
    assert_eq!(code, "bucket_not_empty");
    assert!(message.contains("force=true"), "{message}");

    let resp = http.delete(platform.url("/bucket/functions?force=true")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, body) = json(http.get(platform.url("/bucket/functions")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body).0, "bucket_not_found");
    let (status, _) = json(http.delete(platform.url("/bucket/functions")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An empty bucket goes without force.
    platform.create_bucket("scratch").await;
    let resp = http.delete(platform.url("/bucket/scratch")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_ready_and_metrics() {
    let platform = Platform::start().await;
    let (status, body) = json(platform.http.get(platform.url("/health")).send().await.unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, body) = json(platform.http.get(platform.url("/ready")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        serde_json::json!({"ready": true, "nats": "connected", "executor": "ok", "executors": 1,
                           "dispatcher": "ok", "dispatchers": 1, "auth": "on"})
    );

    let _ = platform.http.get(platform.url("/bucket/Nope")).send().await.unwrap();
    let text = platform.http.get(platform.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains(r#"faas_http_requests_total{method="GET",route="/bucket/{bucket}",status="400"} 1"#),
        "{text}"
    );
}

/// NATS permissions grant admin commands by subject, so a body naming
/// another command is refused before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_command_on_another_commands_subject_is_refused() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;

    let body = br#"{"command":"delete_bucket","bucket":"functions","force":true}"#;
    let reply = platform.client.request("faas.admin.list_buckets", body.as_slice().into()).await.unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply["error"]["code"], "command_mismatch", "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("faas.admin.delete_bucket"), "{reply}");

    let (status, _) = json(platform.http.get(platform.url("/bucket/functions")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "the bucket is still there");
}
