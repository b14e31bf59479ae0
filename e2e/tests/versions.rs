//! Versions and the compiled-component cache: deploys are exact, warm calls
//! come from memory, new executors load the dispatcher's precompiled
//! artifact, and an artifact the platform did not sign is never loaded.

use async_nats::jetstream;
use e2e::Platform;
use protocol::registry::artifact_name;
use reqwest::StatusCode;
use stack::guests::{guest_bytes, with_custom_section};

/// Runs hello and returns (digest, cache source) from the response headers.
async fn run_hello(platform: &Platform, function: &str) -> (String, String) {
    let resp = platform
        .http
        .post(platform.url(&format!("/exec/functions/{function}")))
        .body(r#"{"name":"v"}"#)
        .send()
        .await
        .unwrap();
    let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (digest, cache) = (header("x-faas-digest"), header("x-faas-cache"));
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "Hello v, how are you?");
    (digest.expect("the digest is reported"), cache.expect("the cache source is reported"))
}

async fn upload_digest(platform: &Platform, function: &str, bytes: Vec<u8>) -> String {
    let (status, body) = platform.upload("functions", function, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["digest"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_call_after_an_upload_runs_the_uploaded_version_100_times_in_a_row() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let hello = guest_bytes("hello");
    // Two versions, both kept warm in the executor's cache: the case where
    // a stale cache entry would show.
    let versions = [hello.clone(), with_custom_section(&hello, hello.len() + 64)];
    for round in 0..100 {
        let expected = upload_digest(&platform, "hello", versions[round % 2].clone()).await;
        let (ran, _) = run_hello(&platform, "hello").await;
        assert_eq!(ran, expected, "round {round}: the call after the upload ran another version");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn warm_calls_come_from_memory_and_new_executors_load_the_precompiled_artifact() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let digest = upload_digest(&platform, "hello", guest_bytes("hello")).await;

    // The dispatcher precompiled the upload: even the first call does not compile.
    assert_eq!(run_hello(&platform, "hello").await, (digest.clone(), "artifact".into()));
    assert_eq!(run_hello(&platform, "hello").await, (digest.clone(), "memory".into()));
    // The same bytes under another name are the same cache entry.
    upload_digest(&platform, "hello-copy", guest_bytes("hello")).await;
    assert_eq!(run_hello(&platform, "hello-copy").await, (digest.clone(), "memory".into()));

    // A fresh executor starts with an empty cache and loads the artifact.
    platform.stop_executors().await;
    platform.add_executor(4).await;
    assert_eq!(run_hello(&platform, "hello").await, (digest.clone(), "artifact".into()));

    // Without the key, it trusts nothing in the store and compiles.
    platform.stop_executors().await;
    platform.share_artifacts = false;
    platform.add_executor(4).await;
    assert_eq!(run_hello(&platform, "hello").await, (digest, "compiled".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_artifact_not_signed_by_the_platform_is_refused_and_replaced() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let digest = upload_digest(&platform, "hello", guest_bytes("hello")).await;

    // Someone with access to the bus overwrites the artifact with their own
    // "compiled code", signed with a key of their choosing.
    let engine = wasmtime::Engine::new(&engine::config()).unwrap();
    let fingerprint = engine::fingerprint(&engine);
    let name = artifact_name(&fingerprint, &digest);
    let store = jetstream::new(platform.client.clone())
        .get_object_store(protocol::JetStreamNames::default().artifact_store())
        .await
        .unwrap();
    let forged = engine::ArtifactKey::new("an attacker's own key").unwrap().seal(
        &fingerprint,
        &digest,
        b"\x7fELF not really",
    );
    store.put(name.as_str(), &mut forged.as_slice()).await.unwrap();

    platform.stop_executors().await;
    platform.add_executor(4).await;
    // Refused: the executor compiles from the component bytes instead...
    assert_eq!(run_hello(&platform, "hello").await, (digest.clone(), "compiled".into()));
    // ...and shares a properly signed artifact, which the next executor uses.
    let mut shared = false;
    for _ in 0..50 {
        if let Ok(info) = store.info(name.as_str()).await
            && info.size != forged.len()
        {
            shared = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(shared, "the executor replaced the forged artifact");
    platform.stop_executors().await;
    platform.add_executor(4).await;
    assert_eq!(run_hello(&platform, "hello").await, (digest, "artifact".into()));
}
