//! Executors and dispatchers as NATS micro services: discoverable with the
//! standard `$SRV` requests (what `nats micro ls/info/stats` send), and the
//! source of the api's `/ready` counts; real nats-server, in-process services.

use std::time::Duration;

use async_nats::service::{Info, PingResponse, Stats};
use e2e::{Platform, json};
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

/// Every answer to one `$SRV` request within half a second.
async fn gather<T: DeserializeOwned>(platform: &Platform, subject: &str) -> Vec<T> {
    let inbox = platform.client.new_inbox();
    let mut replies = platform.client.subscribe(inbox.clone()).await.unwrap();
    platform.client.publish_with_reply(subject.to_owned(), inbox, "".into()).await.unwrap();
    let mut answers = Vec::new();
    while let Ok(Some(reply)) = tokio::time::timeout(Duration::from_millis(500), replies.next()).await {
        answers.push(serde_json::from_slice(&reply.payload).unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_instance_answers_the_service_api_and_ready_counts_them() {
    let mut platform = Platform::start().await;
    platform.add_executor(4).await;
    platform.add_dispatcher().await;

    let executors: Vec<PingResponse> = gather(&platform, "$SRV.PING.faas-executor").await;
    assert_eq!(executors.len(), 2, "one answer per executor");
    assert!(executors.iter().all(|e| e.name == "faas-executor" && e.version == env!("CARGO_PKG_VERSION")));
    assert_ne!(executors[0].id, executors[1].id);
    assert!(executors.iter().all(|e| e.metadata.contains_key("instance")));

    // Without a name, every service of the account answers.
    let everyone: Vec<PingResponse> = gather(&platform, "$SRV.PING").await;
    assert_eq!(everyone.iter().filter(|s| s.name == "faas-dispatcher").count(), 2);

    let infos: Vec<Info> = gather(&platform, "$SRV.INFO.faas-dispatcher").await;
    assert_eq!(infos.len(), 2);
    let ping = infos[0].endpoints.iter().find(|e| e.name == "ping").expect("a ping endpoint");
    assert_eq!(ping.subject, "faas.ping.dispatcher");
    assert_eq!(ping.queue_group, "faas-dispatchers");

    // A ping through the endpoint is counted in the stats, which carry each
    // instance's status.
    let pong = platform.client.request("faas.ping.executor", "".into()).await.unwrap();
    assert_eq!(&pong.payload[..], b"pong");
    let stats: Vec<Stats> = gather(&platform, "$SRV.STATS.faas-executor").await;
    let pings: usize = stats.iter().map(|s| s.endpoints[0].requests).sum();
    assert!(pings >= 1, "{pings} pings counted");
    let data = stats.iter().map(|s| s.endpoints[0].data.clone().unwrap()).collect::<Vec<_>>();
    assert!(data.iter().all(|d| d["in_flight"] == 0), "{data:?}");
    assert!(data.iter().any(|d| d["concurrency"] == 4), "{data:?}");
    let stats: Vec<Stats> = gather(&platform, "$SRV.STATS.faas-dispatcher").await;
    assert!(stats.iter().all(|s| s.endpoints[0].data.as_ref().unwrap()["health"] == "pong"));

    let (status, body) = json(platform.http.get(platform.url("/ready")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["executors"].as_u64(), body["dispatchers"].as_u64()), (Some(2), Some(2)), "{body}");

    // Stopped instances leave the service.
    platform.stop_dispatcher().await;
    platform.stop_executors().await;
    let (status, body) = json(platform.http.get(platform.url("/ready")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["executor"], "none running", "{body}");
    assert_eq!(body["dispatchers"], 1, "{body}");
}
