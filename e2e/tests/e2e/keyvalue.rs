//! `wasi:keyvalue` on a whole platform (real NATS, real S3): a function
//! must be granted it, its increments are atomic across executors, it sees
//! only its own bucket's keys whatever names it passes, its per-call limits
//! and a read-only grant are clean guest-visible errors, and a forced
//! bucket deletion takes the bucket's data with it.

use e2e::{Platform, error_code, json, metric_sum};
use reqwest::StatusCode;
use serde_json::{Value, json as j};

async fn grant(platform: &Platform, function: &str, access: &str) {
    let url = platform.url(&format!("/config/{function}"));
    let config = j!({"capabilities": {"keyvalue": access}});
    let (status, body) = json(platform.http.put(url).json(&config).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The function's answer, asserting the call succeeded.
async fn call(platform: &Platform, bucket: &str, function: &str, input: &str) -> String {
    let (status, body) = platform.exec(bucket, function, input).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["result"].as_str().unwrap().to_owned()
}

/// Runs `kv-probe` (deployed as `probe`) in `bucket` on `commands`.
async fn probe(platform: &Platform, bucket: &str, commands: Value) -> Value {
    let answer = call(platform, bucket, "probe", &commands.to_string()).await;
    serde_json::from_str(&answer).unwrap_or_else(|_| panic!("kv-probe answered {answer}"))
}

/// The error text of a probe answer, asserting it is one.
fn refused(answer: &Value) -> &str {
    answer["error"].as_str().unwrap_or_else(|| panic!("expected an error, got {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_counter_needs_its_grant_and_increments_atomically_across_executors() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    platform.add_executor_with(8, 256).await;
    platform.add_executor_with(8, 256).await;
    platform.create_bucket("kva").await;
    platform.deploy("kva", "counter", "counter").await;

    // Not granted: refused before it starts, naming the interface.
    let (status, body) = platform.exec("kva", "counter", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "capability_not_granted");
    assert!(message.contains("wasi:keyvalue") && message.contains("/config/kva/counter"), "{message}");

    grant(&platform, "kva/counter", "write").await;
    assert_eq!(call(&platform, "kva", "counter", "").await, "1");
    assert_eq!(call(&platform, "kva", "counter", "").await, "2");
    assert_eq!(call(&platform, "kva", "counter", "other").await, "1");

    // 200 at once over both executors: each counts once.
    let calls = (0..200).map(|_| call(&platform, "kva", "counter", "race"));
    let mut answers: Vec<u64> = futures::future::join_all(calls)
        .await
        .iter()
        .map(|a| a.parse().unwrap_or_else(|_| panic!("{a}")))
        .collect();
    answers.sort_unstable();
    assert_eq!(answers, (1..=200).collect::<Vec<u64>>());
    platform.deploy("kva", "probe", "kv_probe").await;
    grant(&platform, "kva/probe", "read").await;
    assert_eq!(probe(&platform, "kva", j!({"op": "get", "key": "race"})).await, j!({"ok": "200"}));

    // Read only: writes are refused, reads work.
    grant(&platform, "kva/counter", "read").await;
    assert_eq!(call(&platform, "kva", "counter", "").await, "error: Error::AccessDenied");
    let answer = probe(&platform, "kva", j!({"op": "set", "key": "visits", "value": "9"})).await;
    assert_eq!(refused(&answer), "Error::AccessDenied");
    assert_eq!(probe(&platform, "kva", j!({"op": "get", "key": "visits"})).await, j!({"ok": "2"}));

    // Listing pages through the cursor; increment wants a number.
    grant(&platform, "kva/probe", "write").await;
    for half in 0..2 {
        let values: serde_json::Map<String, Value> =
            (0..600).map(|i| (format!("k{half}-{i:03}"), Value::from("v"))).collect();
        let answer = probe(&platform, "kva", j!({"op": "set-many", "store": "many", "values": values})).await;
        assert_eq!(answer, j!({"ok": null}));
    }
    let answer = probe(&platform, "kva", j!({"op": "list", "store": "many"})).await;
    assert_eq!(answer["ok"]["keys"].as_array().unwrap().len(), 1200, "{}", answer["ok"]["pages"]);
    assert_eq!(answer["ok"]["pages"], 2);
    probe(&platform, "kva", j!({"op": "set", "key": "word", "value": "ten"})).await;
    let answer = probe(&platform, "kva", j!({"op": "increment", "key": "word"})).await;
    assert!(refused(&answer).contains("not a decimal"), "{answer}");

    let metrics = platform.executor_metrics().await;
    let increments =
        metric_sum(&metrics, "faas_capability_calls_total", r#"capability="keyvalue",operation="increment""#);
    assert!(increments >= 204.0, "{increments} increments counted");
    assert!(metric_sum(&metrics, "faas_capability_errors_total", r#"capability="keyvalue""#) >= 3.0);
    assert!(
        metric_sum(&metrics, "faas_capability_bytes_total", r#"capability="keyvalue",direction="written""#)
            >= 1200.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_function_sees_only_its_own_buckets_keys_within_its_limits() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    platform.capability_limits.kv_max_keys_per_call = 12;
    platform.capability_limits.kv_max_value_bytes = 1024;
    platform.add_executor(4).await;
    for bucket in ["kva", "kvb"] {
        platform.create_bucket(bucket).await;
        platform.deploy(bucket, "probe", "kv_probe").await;
        grant(&platform, &format!("{bucket}/probe"), "write").await;
    }
    let secret = j!([
        {"op": "set", "key": "secret", "value": "b-data"},
        {"op": "set", "store": "other", "key": "secret", "value": "b-other"},
    ]);
    assert_eq!(probe(&platform, "kvb", secret).await, j!([{"ok": null}, {"ok": null}]));

    // Keys are opaque: whatever a key says, it is a key of kva's store.
    let long = "k".repeat(10_000);
    let keys = ["secret", "../kvb.default.secret", "kvb.default.c2VjcmV0", "*", ">", "kvb.>", ".", "", "/"];
    for key in keys {
        let answer = probe(&platform, "kva", j!({"op": "get", "key": key})).await;
        assert_eq!(answer, j!({"ok": null}), "get {key:?}");
    }
    let answer = probe(&platform, "kva", j!({"op": "get", "key": long})).await;
    assert!(refused(&answer).contains("too long"), "{answer}");
    // Stores are names inside kva, never paths.
    for store in ["../kvb", "kvb.default", "kvb/default", "*", ">", "a b", long.as_str()] {
        let answer = probe(&platform, "kva", j!({"op": "list", "store": store})).await;
        assert_eq!(refused(&answer), "Error::NoSuchStore", "store {store:?}");
    }
    let answer = probe(&platform, "kva", j!({"op": "list", "store": "other"})).await;
    assert_eq!(answer, j!({"ok": {"keys": [], "pages": 1}}));

    // Such keys round-trip and list as themselves, in kva only.
    let writes: Vec<Value> = keys.iter().map(|key| j!({"op": "set", "key": key, "value": key})).collect();
    let answers = probe(&platform, "kva", Value::from(writes)).await;
    assert!(answers.as_array().unwrap().iter().all(|a| a == &j!({"ok": null})), "{answers}");
    let answer = probe(&platform, "kva", j!({"op": "get", "key": "../kvb.default.secret"})).await;
    assert_eq!(answer, j!({"ok": "../kvb.default.secret"}));
    let mut sorted = keys.map(str::to_owned);
    sorted.sort();
    assert_eq!(probe(&platform, "kva", j!({"op": "list"})).await, j!({"ok": {"keys": sorted, "pages": 1}}));
    let theirs = probe(&platform, "kvb", j!([{"op": "list"}, {"op": "get", "key": "secret"}])).await;
    assert_eq!(theirs, j!([{"ok": {"keys": ["secret"], "pages": 1}}, {"ok": "b-data"}]));

    // Limits: a value over the cap, and more distinct keys than a call may touch.
    let answer = probe(&platform, "kva", j!({"op": "set", "key": "big", "repeat": 1025})).await;
    assert!(refused(&answer).contains("FAAS_KV_MAX_VALUE_BYTES"), "{answer}");
    let many: Vec<Value> = (0..13).map(|i| j!({"op": "set", "key": format!("n{i}"), "value": "1"})).collect();
    let answers = probe(&platform, "kva", Value::from(many)).await;
    let answers = answers.as_array().unwrap();
    assert!(answers[..12].iter().all(|a| a == &j!({"ok": null})), "{answers:?}");
    assert!(refused(&answers[12]).contains("FAAS_KV_MAX_KEYS_PER_CALL"), "{:?}", answers[12]);
    let keys: Vec<String> = (0..13).map(|i| format!("n{i}")).collect();
    let answer = probe(&platform, "kva", j!({"op": "get-many", "keys": keys})).await;
    assert!(refused(&answer).contains("FAAS_KV_MAX_KEYS_PER_CALL"), "{answer}");
    let answer = probe(&platform, "kva", j!({"op": "get-many", "keys": ["n1", "missing"]})).await;
    assert_eq!(answer, j!({"ok": [["n1", "1"], null]}));
    let answer = probe(
        &platform,
        "kva",
        j!([{"op": "delete-many", "keys": ["n1", "n2"]}, {"op": "exists", "key": "n1"}]),
    )
    .await;
    assert_eq!(answer, j!([{"ok": null}, {"ok": false}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_bucket_with_force_deletes_its_data() {
    let platform = Platform::start().await;
    for bucket in ["kvd", "kvd-other"] {
        platform.create_bucket(bucket).await;
        platform.deploy(bucket, "counter", "counter").await;
        grant(&platform, &format!("{bucket}/counter"), "write").await;
        assert_eq!(call(&platform, bucket, "counter", "").await, "1");
    }
    // The Python twin shares the bucket's count, and answers errors alike.
    platform.deploy("kvd-other", "counter-py", "counter-py").await;
    let (status, body) = platform.exec("kvd-other", "counter-py", "").await;
    assert_eq!((status, error_code(&body).0), (StatusCode::FORBIDDEN, "capability_not_granted"));
    grant(&platform, "kvd-other/counter-py", "write").await;
    assert_eq!(call(&platform, "kvd-other", "counter-py", "").await, "2");
    grant(&platform, "kvd-other/counter-py", "read").await;
    assert_eq!(call(&platform, "kvd-other", "counter-py", "").await, "error: Error::AccessDenied");

    let gone = platform.http.delete(platform.url("/file/kvd/counter")).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::OK);

    // No function left, but data: not empty.
    let (status, body) = json(platform.http.delete(platform.url("/bucket/kvd")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "bucket_not_empty");
    assert!(message.contains("key-value") && message.contains("force=true"), "{message}");

    let deleted = platform.http.delete(platform.url("/bucket/kvd?force=true")).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    // A new bucket of the name starts empty; the other bucket keeps its count.
    platform.create_bucket("kvd").await;
    platform.deploy("kvd", "counter", "counter").await;
    grant(&platform, "kvd/counter", "write").await;
    assert_eq!(call(&platform, "kvd", "counter", "").await, "1");
    assert_eq!(call(&platform, "kvd-other", "counter", "").await, "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_counter_counts_under_the_shipped_nats_permissions() {
    // Every role on its own user (deploy/nats/): the executor's may write
    // faas-kv, which it creates if it starts first.
    let platform = Platform::start_secure().await;
    platform.create_bucket("kvs").await;
    platform.deploy("kvs", "counter", "counter").await;
    grant(&platform, "kvs/counter", "write").await;
    assert_eq!(call(&platform, "kvs", "counter", "").await, "1");
    assert_eq!(call(&platform, "kvs", "counter", "").await, "2");
    platform.deploy("kvs", "probe", "kv_probe").await;
    grant(&platform, "kvs/probe", "write").await;
    let answer = probe(&platform, "kvs", j!([{"op": "set", "key": "k", "value": "v"}, {"op": "list"}])).await;
    assert_eq!(answer, j!([{"ok": null}, {"ok": {"keys": ["k", "visits"], "pages": 1}}]));
    let deleted = platform.http.delete(platform.url("/bucket/kvs?force=true")).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
}
