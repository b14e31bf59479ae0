//! Per-function configuration (`/config/{bucket}/{function}`) on a whole
//! platform: variables and secrets reach the guest through its environment
//! and `wasi:config/store`, secrets never leave the api in clear, limits
//! lower the executors' for one function only, `max_concurrency` holds
//! across executors, and a change reaches every executor before its answer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{Platform, error_code, json};
use futures::StreamExt as _;
use protocol::http::EXECUTOR_HEADER;
use reqwest::StatusCode;
use serde_json::{Value, json as j};

/// The secret the tests store, which must never be seen in clear.
const SECRET: &str = "s3cr3t-4c1d-9f7e-only-in-executor-memory";

/// FNV-1a of `text`, hex: how `config-probe` shows a value unless asked
/// for `plain`.
fn fnv1a(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

async fn put_config(platform: &Platform, function: &str, config: Value) -> (StatusCode, Value) {
    let url = platform.url(&format!("/config/{function}"));
    json(platform.http.put(url).json(&config).send().await.unwrap()).await
}

async fn get_config(platform: &Platform, function: &str) -> (StatusCode, String) {
    let resp = platform.http.get(platform.url(&format!("/config/{function}"))).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// Runs `config-probe` deployed as `function`; its result, parsed, and the
/// executor that ran it.
async fn probe(platform: &Platform, function: &str, input: &str) -> (Value, String) {
    let resp = platform
        .http
        .post(platform.url(&format!("/exec/{function}")))
        .body(input.to_owned())
        .send()
        .await
        .unwrap();
    let executor =
        resp.headers().get(EXECUTOR_HEADER).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (serde_json::from_str(body["result"].as_str().unwrap()).unwrap(), executor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn env_and_secrets_reach_the_guest_and_secrets_never_leave_the_api_in_clear() {
    let mut platform = Platform::start().await;
    // Every message on the platform's NATS from here on.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut everything = platform.client.subscribe(">").await.unwrap();
    platform.client.flush().await.unwrap();
    let sniffer = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(message) = everything.next().await {
                let headers = message.headers.as_ref().map(|h| format!("{h:?}")).unwrap_or_default();
                let text = format!(
                    "{} {:?} {headers} {}",
                    message.subject,
                    message.reply,
                    String::from_utf8_lossy(&message.payload)
                );
                seen.lock().unwrap().push(text);
            }
        })
    };
    platform.create_bucket("cfg").await;
    platform.deploy("cfg", "probe", "config_probe").await;

    let (status, body) = put_config(
        &platform,
        "cfg/probe",
        j!({"env": {"GREETING": "hi"}, "secrets": {"API_KEY": SECRET}, "timeout_ms": 1000}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["secrets"], j!(["API_KEY"]));
    assert_eq!(body["env"], j!({"GREETING": "hi"}));
    assert_eq!(body["timeout_ms"], 1000);
    assert!(body["updated_at_ms"].as_u64().is_some(), "{body}");
    assert!(!body.to_string().contains(SECRET));
    let (status, text) = get_config(&platform, "cfg/probe").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!text.contains(SECRET), "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["secrets"], j!(["API_KEY"]));

    // Both channels carry exactly the function's variables: nothing of the host.
    let (seen_by_guest, _) = probe(&platform, "cfg/probe", "hashed").await;
    let expected = j!({"GREETING": fnv1a("hi"), "API_KEY": fnv1a(SECRET)});
    assert_eq!(seen_by_guest["env"], expected, "{seen_by_guest}");
    assert_eq!(seen_by_guest["config"], expected, "{seen_by_guest}");

    // GET, edit, PUT without resending the secret keeps it.
    let (status, body) =
        put_config(&platform, "cfg/probe", j!({"env": {"GREETING": "hello"}, "secrets": {"API_KEY": null}}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.get("timeout_ms"), None, "a PUT replaces the whole configuration: {body}");
    let (seen_by_guest, _) = probe(&platform, "cfg/probe", "hashed").await;
    assert_eq!(seen_by_guest["env"], j!({"GREETING": fnv1a("hello"), "API_KEY": fnv1a(SECRET)}));
    // A kept secret must exist.
    let (status, body) = put_config(&platform, "cfg/probe", j!({"secrets": {"OTHER": null}})).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::BAD_REQUEST, "bad_request"), "{body}");

    // An api without the key refuses secrets (and so never sends them on).
    platform.api_config_mut().secrets_key = None;
    let keyless = platform.add_api().await;
    let resp = platform
        .http
        .put(format!("{keyless}/config/cfg/probe"))
        .json(&j!({"secrets": {"API_KEY": SECRET}}))
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(error_code(&body).1.contains("FAAS_SECRETS_KEY"), "{body}");

    // Every message so far: the PUTs, the admin commands, the KV writes the
    // executors followed, the calls, their replies and logs, audit events.
    platform.client.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sniffer.abort();
    let seen = seen.lock().unwrap();
    assert!(seen.iter().any(|m| m.contains("put_function_config")), "the sniffer saw the admin command");
    assert!(seen.iter().any(|m| m.contains("API_KEY")), "the sniffer saw the sealed secret travel");
    let leaks: Vec<&String> = seen.iter().filter(|m| m.contains(SECRET)).collect();
    assert!(leaks.is_empty(), "the secret crossed NATS in clear: {leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_function_s_time_and_memory_limits_lower_only_its_own_calls() {
    let platform = Platform::start().await;
    platform.create_bucket("cfg").await;
    platform.deploy("cfg", "slow", "sleepy").await;
    platform.deploy("cfg", "other", "sleepy").await;
    platform.deploy("cfg", "hog", "hog").await;
    let (status, body) = put_config(&platform, "cfg/slow", j!({"timeout_ms": 200})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let started = Instant::now();
    let (status, body) = platform.exec("cfg", "slow", r#"{"ms":1000}"#).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "function_timeout");
    assert!(message.contains("200 ms"), "{message}");
    assert!(took < Duration::from_millis(900), "cut at 200 ms, answered after {took:?}");
    // The other function keeps the executor's limit (1.5 s in tests).
    let (status, body) = platform.exec("cfg", "other", r#"{"ms":1000}"#).await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("slept 1000 ms")), "{body}");

    // Memory: lowered for hog; a higher value than the executor's raises nothing.
    let (status, _) = put_config(&platform, "cfg/hog", j!({"memory_mib": 16})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = platform.exec("cfg", "hog", "").await;
    assert_eq!((status, error_code(&body).0), (StatusCode::INTERNAL_SERVER_ERROR, "memory_limit_exceeded"));
    assert!(error_code(&body).1.contains("16 MiB"), "{body}");
    let (status, _) = put_config(&platform, "cfg/hog", j!({"memory_mib": 4096})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = platform.exec("cfg", "hog", "").await;
    let limit = format!("{} MiB", e2e::test_limits().memory_mib);
    assert!(error_code(&body).1.contains(&limit), "capped at the executor's {limit}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_concurrency_refuses_a_second_call_on_any_executor_until_the_first_ends() {
    let platform = Platform::start_with(2, 64 << 20).await;
    platform.create_bucket("cfg").await;
    platform.deploy("cfg", "slow", "sleepy").await;
    let (status, body) = put_config(&platform, "cfg/slow", j!({"max_concurrency": 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let first = {
        let (http, url) = (platform.http.clone(), platform.url("/exec/cfg/slow"));
        tokio::spawn(async move { json(http.post(url).body(r#"{"ms":1200}"#).send().await.unwrap()).await })
    };
    // The first call holds the one slot once its lease exists.
    let leases = async_nats::jetstream::new(platform.client.clone()).get_key_value("faas-concurrency").await;
    let waited = Instant::now();
    loop {
        if let Ok(leases) = &leases
            && leases.get("cfg.slow.0").await.unwrap().is_some()
        {
            break;
        }
        assert!(waited.elapsed() < Duration::from_secs(5), "the first call never took its slot");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Refused on whichever executor takes it: the slots are shared.
    for _ in 0..4 {
        let resp =
            platform.http.post(platform.url("/exec/cfg/slow")).body(r#"{"ms":10}"#).send().await.unwrap();
        assert_eq!(resp.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"));
        let (status, body) = json(resp).await;
        assert_eq!((status, error_code(&body).0), (StatusCode::TOO_MANY_REQUESTS, "concurrency_limited"));
    }
    let (status, body) = first.await.unwrap();
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("slept 1200 ms")), "{body}");
    // The slot was given back before the first answer.
    for _ in 0..3 {
        let (status, body) = platform.exec("cfg", "slow", r#"{"ms":10}"#).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_applies_on_every_executor_for_the_next_call() {
    let platform = Platform::start_with(2, 64 << 20).await;
    platform.create_bucket("cfg").await;
    platform.deploy("cfg", "probe", "config_probe").await;
    for version in ["1", "2"] {
        let (status, body) = put_config(&platform, "cfg/probe", j!({"env": {"VERSION": version}})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut executors = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let (seen, executor) = probe(&platform, "cfg/probe", "plain").await;
            assert_eq!(seen["env"], j!({"VERSION": version}), "right after the PUT, on {executor}");
            executors.insert(executor);
        }
        assert_eq!(executors.len(), 2, "both executors ran calls: {executors:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_restores_the_defaults_and_missing_functions_are_404() {
    let platform = Platform::start().await;
    platform.create_bucket("cfg").await;
    platform.deploy("cfg", "probe", "config_probe").await;

    let (status, text) = get_config(&platform, "cfg/probe").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        j!({"function": "cfg/probe", "env": {}, "secrets": []})
    );
    let (status, _) =
        put_config(&platform, "cfg/probe", j!({"env": {"A": "1"}, "secrets": {"B": SECRET}})).await;
    assert_eq!(status, StatusCode::OK);
    let resp = platform.http.delete(platform.url("/config/cfg/probe")).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!((status, body), (StatusCode::OK, j!({"function": "cfg/probe", "env": {}, "secrets": []})));
    let (seen, _) = probe(&platform, "cfg/probe", "plain").await;
    assert_eq!((&seen["env"], &seen["config"]), (&j!({}), &j!({})));

    // Deleting the function deletes its configuration: a new upload under
    // the name starts from the defaults.
    let (status, _) = put_config(&platform, "cfg/probe", j!({"env": {"A": "1"}})).await;
    assert_eq!(status, StatusCode::OK);
    let resp = platform.http.delete(platform.url("/file/cfg/probe")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    for (status, body) in [
        put_config(&platform, "cfg/probe", j!({"env": {"A": "1"}})).await,
        json(platform.http.get(platform.url("/config/cfg/probe")).send().await.unwrap()).await,
        json(platform.http.delete(platform.url("/config/cfg/probe")).send().await.unwrap()).await,
        put_config(&platform, "nosuch/probe", j!({})).await,
    ] {
        assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "function_not_found"), "{body}");
    }
    platform.deploy("cfg", "probe", "config_probe").await;
    let (seen, _) = probe(&platform, "cfg/probe", "plain").await;
    assert_eq!(seen["env"], j!({}));

    // Force-deleting the bucket deletes its functions' configurations.
    let (status, _) = put_config(&platform, "cfg/probe", j!({"env": {"A": "1"}})).await;
    assert_eq!(status, StatusCode::OK);
    let resp = platform.http.delete(platform.url("/bucket/cfg?force=true")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let configs =
        async_nats::jetstream::new(platform.client.clone()).get_key_value("faas-function-config").await;
    assert!(configs.unwrap().get("cfg.probe").await.unwrap().is_none());

    // Bad configurations: 400 with the reason.
    platform.create_bucket("cfg").await;
    platform.deploy("cfg", "probe", "config_probe").await;
    for (config, words) in [
        (j!({"env": {"NOT-A-NAME": "x"}}), "[A-Za-z_]"),
        (j!({"env": {"K": "1"}, "secrets": {"K": "2"}}), "both in env and in secrets"),
        (j!({"memory_mib": 0}), "memory_mib"),
        (j!({"http_outgoing_allow": ["exa mple.com"]}), "http_outgoing_allow"),
    ] {
        let (status, body) = put_config(&platform, "cfg/probe", config).await;
        assert_eq!((status, error_code(&body).0), (StatusCode::BAD_REQUEST, "bad_request"));
        assert!(error_code(&body).1.contains(words), "{body}");
    }
}
