//! Versions and the compiled-component cache: deploys are exact, warm calls
//! come from memory, new executors load the dispatcher's precompiled
//! artifact, and an artifact the platform did not sign is never loaded.
//! Every upload is a version: listed newest first, downloaded, run and
//! deleted by digest or unique prefix, kept content-addressed in S3 once
//! per digest, and pruned to `FAAS_KEEP_VERSIONS`.

use async_nats::jetstream;
use e2e::Platform;
use protocol::FunctionRef;
use protocol::registry::artifact_name;
use reqwest::StatusCode;
use serde_json::Value;
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
async fn the_cache_keeps_what_fits_its_byte_budget_and_evicts_the_least_recently_used() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    // The weight the executor counts for a hello, from its own runtime.
    let runtime = executor::runtime::FunctionRuntime::new(executor::ExecLimits::default(), 1).unwrap();
    let weight = runtime.prepare(&runtime.compile(&guest_bytes("hello")).unwrap()).unwrap().weight();
    // Room for two hellos, not three.
    let budget = weight * 2 + weight / 2;
    platform.stop_executors().await;
    platform.cache_max_bytes = Some(budget);
    platform.add_executor(4).await;
    for (name, bytes) in ["a", "b", "c"].into_iter().zip(hello_variants(3)) {
        upload_digest(&platform, name, bytes).await;
    }
    let source = |function: &'static str| {
        let platform = &platform;
        async move { run_hello(platform, function).await.1 }
    };
    assert_eq!(source("a").await, "artifact");
    assert_eq!(source("b").await, "artifact");
    assert_eq!(source("a").await, "memory", "two fit: a is now the most recently used");
    assert_eq!(source("c").await, "artifact", "c evicts b, the least recently used");
    assert_eq!(source("a").await, "memory");
    assert_eq!(source("b").await, "artifact", "b was evicted; it evicts c");
    assert_eq!(source("a").await, "memory", "a, used since, stayed");

    let metrics = platform.executor_metrics().await;
    for line in [
        format!("faas_exec_cache_budget_bytes {budget}"),
        "faas_exec_cache_entries 2".to_owned(),
        "faas_exec_cache_evictions_total 2".to_owned(),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} missing from:\n{metrics}");
    }
    let bytes = metrics.lines().find_map(|l| l.strip_prefix("faas_exec_cache_bytes ")).unwrap();
    assert!(bytes.parse::<u64>().unwrap() <= budget, "{bytes} over the {budget} budget");
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
        // Refused, the forged artifact is deleted first: a deleted object's
        // info (size 0) is not the share yet.
        if let Ok(info) = store.info(name.as_str()).await
            && !info.deleted
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

/// `count` distinct variants of `hello`: the same code, each with a custom
/// section of its own length, so each has a digest of its own.
fn hello_variants(count: usize) -> Vec<Vec<u8>> {
    let hello = guest_bytes("hello");
    (1..=count).map(|i| with_custom_section(&hello, hello.len() + 16 * i)).collect()
}

async fn versions_of(platform: &Platform, function: &str) -> (StatusCode, Value) {
    let url = platform.url(&format!("/file/functions/{function}/versions"));
    e2e::json(platform.http.get(url).send().await.unwrap()).await
}

/// The digests listed, newest first, and which one is marked current.
async fn listed(platform: &Platform, function: &str) -> (Vec<String>, Vec<String>) {
    let (status, body) = versions_of(platform, function).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["function"], format!("functions/{function}"));
    let versions = body["versions"].as_array().unwrap();
    let digests = versions.iter().map(|v| v["digest"].as_str().unwrap().to_owned()).collect();
    let current = versions
        .iter()
        .filter(|v| v["current"] == true)
        .map(|v| v["digest"].as_str().unwrap().to_owned())
        .collect();
    (digests, current)
}

async fn download_version(platform: &Platform, function: &str, version: &str) -> reqwest::Response {
    let url = platform.url(&format!("/file/functions/{function}?version={version}"));
    platform.http.get(url).send().await.unwrap()
}

/// Runs `function@version`; answers the status, body and `x-faas-digest`.
async fn exec_version(
    platform: &Platform,
    function: &str,
    version: &str,
) -> (StatusCode, Value, Option<String>) {
    let resp = platform
        .http
        .post(platform.url(&format!("/exec/functions/{function}@{version}")))
        .body(r#"{"name":"v"}"#)
        .send()
        .await
        .unwrap();
    let digest = resp.headers().get("x-faas-digest").map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = e2e::json(resp).await;
    (status, body, digest)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_upload_is_a_version_listed_downloaded_and_run_by_digest() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let variants = hello_variants(20);
    let mut digests = Vec::new();
    for (i, bytes) in variants.iter().enumerate() {
        let resp = platform
            .http
            .post(platform.url("/file/functions/hello"))
            .header("x-faas-description", format!("variant {i}"))
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        let (status, body) = e2e::json(resp).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        digests.push(body["digest"].as_str().unwrap().to_owned());
    }

    // Listed newest first, the last upload current, with what was said about each.
    let newest_first: Vec<String> = digests.iter().rev().cloned().collect();
    let (listed_digests, current) = listed(&platform, "hello").await;
    assert_eq!(listed_digests, newest_first);
    assert_eq!(current, vec![digests[19].clone()]);
    let (_, body) = versions_of(&platform, "hello").await;
    let first = &body["versions"][19];
    assert_eq!(first["description"], "variant 0", "{first}");
    assert_eq!(first["size"], variants[0].len());
    assert_eq!(first["world"], "exec");
    assert!(first["uploader"].as_str().is_some_and(|u| !u.is_empty()), "{first}");
    assert!(
        first["uploaded_at_ms"].as_u64().unwrap() < body["versions"][0]["uploaded_at_ms"].as_u64().unwrap()
    );

    // Each version's bytes, by full digest and by a 12-character prefix;
    // and each runs by version, whatever is current.
    for (bytes, digest) in variants.iter().zip(&digests) {
        let resp = download_version(&platform, "hello", digest).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice(), "{digest}");
        let resp = download_version(&platform, "hello", &digest[..12]).await;
        assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice(), "{digest}");
        let (status, body, ran) = exec_version(&platform, "hello", &digest[..12]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["result"], "Hello v, how are you?");
        assert_eq!(ran.as_deref(), Some(digest.as_str()), "the named version ran");
    }
    // The plain name still runs the current one, and downloads it.
    assert_eq!(run_hello(&platform, "hello").await.0, digests[19]);

    // Over NATS: the exec subject with `Faas-Version`.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Faas-Version", &digests[3][..8]);
    let reply = platform
        .client
        .request_with_headers("faas.exec.functions.hello", headers, r#"{"name":"n"}"#.into())
        .await
        .unwrap();
    let reply_headers = reply.headers.clone().unwrap();
    assert_eq!(reply_headers.get("Faas-Status").unwrap().as_str(), "ok");
    assert_eq!(reply_headers.get("Faas-Digest").unwrap().as_str(), digests[3]);

    // An asynchronous job of a version runs it.
    let resp = platform
        .http
        .post(platform.url(&format!("/async/functions/hello@{}", &digests[5][..10])))
        .body(r#"{"name":"j"}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // An identical re-upload is the same version: no second record, no
    // second object.
    let store = platform.function_store();
    let hello = FunctionRef::new("functions", "hello").unwrap();
    assert_eq!(store.version_digests(&hello).await.unwrap().len(), 20);
    let (status, body) = platform.upload("functions", "hello", variants[7].clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["digest"], digests[7].as_str());
    let (listed_digests, current) = listed(&platform, "hello").await;
    assert_eq!(listed_digests, newest_first, "no second record");
    assert_eq!(current, vec![digests[7].clone()]);
    let mut kept = store.version_digests(&hello).await.unwrap();
    kept.sort();
    let mut expected = digests.clone();
    expected.sort();
    assert_eq!(kept, expected, "one object per digest");
    assert_eq!(run_hello(&platform, "hello").await.0, digests[7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versions_are_named_exactly_deleted_unless_current_and_go_with_their_function() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let variants = hello_variants(3);
    let mut digests = Vec::new();
    for bytes in &variants {
        digests.push(upload_digest(&platform, "hello", bytes.clone()).await);
    }

    // Unknown and malformed versions.
    for version in ["00000000", &"0".repeat(64)] {
        let resp = download_version(&platform, "hello", version).await;
        let (status, body) = e2e::json(resp).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "version_not_found"), "{body}");
        let (status, body, _) = exec_version(&platform, "hello", version).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "version_not_found"), "{body}");
    }
    for version in ["abc", "not-hex!", &"a".repeat(65)] {
        let (status, body) = e2e::json(download_version(&platform, "hello", version).await).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"), "{version}: {body}");
        let (status, body, _) = exec_version(&platform, "hello", version).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"), "{version}: {body}");
    }
    let (status, body) = versions_of(&platform, "nosuch").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "function_not_found"), "{body}");
    let url = platform.url("/file/nobucket/hello/versions");
    let (status, body) = e2e::json(platform.http.get(url).send().await.unwrap()).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "bucket_not_found"), "{body}");

    // The current version cannot be deleted; another one can, by prefix.
    let p = &platform;
    let delete = move |version: String| {
        let url = p.url(&format!("/file/functions/hello?version={version}"));
        async move { e2e::json(p.http.delete(url).send().await.unwrap()).await }
    };
    let (status, body) = delete(digests[2].clone()).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "version_in_use"), "{body}");
    let (status, body) = delete(digests[0][..8].to_owned()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (listed_digests, _) = listed(&platform, "hello").await;
    assert_eq!(listed_digests, vec![digests[2].clone(), digests[1].clone()]);
    let (status, body) = e2e::json(download_version(&platform, "hello", &digests[0]).await).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "version_not_found"), "{body}");
    let (status, body, _) = exec_version(&platform, "hello", &digests[0]).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "version_not_found"), "{body}");
    let (status, body) = delete(digests[0].clone()).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "version_not_found"), "{body}");
    let hello = FunctionRef::new("functions", "hello").unwrap();
    let store = platform.function_store();
    assert_eq!(store.version_digests(&hello).await.unwrap().len(), 2);

    // Deleting the function deletes its versions; a new upload starts afresh.
    let resp = platform.http.delete(platform.url("/file/functions/hello")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(store.version_digests(&hello).await.unwrap().is_empty());
    let (status, body) = versions_of(&platform, "hello").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "function_not_found"), "{body}");
    let (status, body, _) = exec_version(&platform, "hello", &digests[1]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    upload_digest(&platform, "hello", variants[1].clone()).await;
    assert_eq!(listed(&platform, "hello").await.0, vec![digests[1].clone()]);

    // And a forced bucket deletion deletes them too.
    let resp = platform.http.delete(platform.url("/bucket/functions?force=true")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    platform.create_bucket("functions").await;
    let (status, body) = versions_of(&platform, "hello").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "function_not_found"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_newest_keep_versions_are_kept() {
    let platform = Platform::start_with_dispatcher(|config| config.keep_versions = 5).await;
    platform.create_bucket("functions").await;
    let variants = hello_variants(8);
    let mut digests = Vec::new();
    for bytes in &variants {
        digests.push(upload_digest(&platform, "hello", bytes.clone()).await);
    }
    let newest: Vec<String> = digests.iter().rev().take(5).cloned().collect();
    assert_eq!(listed(&platform, "hello").await, (newest.clone(), vec![digests[7].clone()]));
    let hello = FunctionRef::new("functions", "hello").unwrap();
    let mut kept = platform.function_store().version_digests(&hello).await.unwrap();
    kept.sort();
    let mut expected = newest.clone();
    expected.sort();
    assert_eq!(kept, expected, "the oldest versions' bytes went");
    for old in &digests[..3] {
        let (status, body, _) = exec_version(&platform, "hello", old).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "version_not_found"), "{body}");
    }
    for kept in &newest {
        let (status, body, ran) = exec_version(&platform, "hello", kept).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(ran.as_deref(), Some(kept.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_http_function_s_version_runs_through_run_with_its_path() {
    let platform = Platform::start().await;
    platform.create_bucket("web").await;
    let echo = guest_bytes("echo-http");
    let old = upload_version_of(&platform, "echo", echo.clone()).await;
    let new = upload_version_of(&platform, "echo", with_custom_section(&echo, echo.len() + 64)).await;
    assert_ne!(old, new);
    for (version, digest) in [(&old[..8], &old), (new.as_str(), &new)] {
        let url = platform.url(&format!("/run/web/echo@{version}/a/b?x=1"));
        let response = platform.http.get(url).send().await.unwrap();
        assert_eq!(response.headers()["x-faas-digest"], digest.as_str());
        let (status, body) = e2e::json(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((body["path"].as_str(), body["query"].as_str()), (Some("/a/b"), Some("x=1")));
    }
    let response = platform.http.get(platform.url("/run/web/echo@00000000/a")).send().await.unwrap();
    let (status, body) = e2e::json(response).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "version_not_found"), "{body}");
}

async fn upload_version_of(platform: &Platform, function: &str, bytes: Vec<u8>) -> String {
    let (status, body) = platform.upload("web", function, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["digest"].as_str().unwrap().to_owned()
}
