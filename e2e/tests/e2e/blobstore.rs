//! `wasi:blobstore` on a whole platform (real NATS, real S3 server): the
//! grant decides whether a guest runs and whether it may write; a 10 MiB
//! body round-trips through a guest; the per-call caps refuse a write or a
//! read as it passes them, storing nothing; a missing object and every
//! hostile name are clean errors the guest sees; nothing a guest names
//! reaches a function component or another bucket; blob data keeps a
//! bucket from a delete without force, and a forced delete removes it.

use e2e::{Platform, error_code, json};
use reqwest::StatusCode;
use serde_json::{Value, json as j};

/// What `blob-probe` writes for `put`/`roundtrip` with `bytes`.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

/// FNV-1a hex, as `blob-probe` reports it.
fn fnv(bytes: impl Iterator<Item = u8>) -> String {
    let hash =
        bytes.fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

async fn grant(platform: &Platform, function: &str, access: &str) {
    let url = platform.url(&format!("/config/{function}"));
    let resp =
        platform.http.put(url).json(&j!({"capabilities": {"blobstore": access}})).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Runs `blob-probe` (or `blob-transform`) as `bucket/function` with
/// `command`; the guest's JSON answer.
async fn call(platform: &Platform, bucket: &str, function: &str, command: Value) -> Value {
    let (status, body) = platform.exec(bucket, function, &command.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{command}: {body}");
    serde_json::from_str(body["result"].as_str().unwrap()).unwrap()
}

/// The guest's error for `command`, asserting it failed cleanly.
async fn refused(platform: &Platform, bucket: &str, function: &str, command: Value) -> String {
    let answer = call(platform, bucket, function, command.clone()).await;
    assert_eq!(answer["ok"], false, "{command} should be refused: {answer}");
    answer["error"].to_string()
}

async fn download(platform: &Platform, path: &str) -> Vec<u8> {
    let resp = platform.http.get(platform.url(&format!("/file/{path}"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grants_names_isolation_and_bucket_deletion() {
    let platform = Platform::start().await;
    platform.create_bucket("blob-a").await;
    platform.create_bucket("blob-b").await;
    platform.deploy("blob-a", "probe", "blob_probe").await;
    platform.deploy("blob-a", "reader", "blob_probe").await;
    platform.deploy("blob-a", "victim", "hello").await;
    platform.deploy("blob-a", "transform", "blob_transform").await;
    platform.deploy("blob-b", "probe", "blob_probe").await;

    // Not granted: the call never starts, and the answer names the interface.
    let (status, body) = platform.exec("blob-a", "probe", r#"{"op":"list","container":"c"}"#).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "capability_not_granted");
    assert!(message.contains("wasi:blobstore") && message.contains("/config/blob-a/probe"), "{message}");

    grant(&platform, "blob-a/probe", "write").await;
    grant(&platform, "blob-a/reader", "read").await;
    grant(&platform, "blob-a/transform", "write").await;
    grant(&platform, "blob-b/probe", "write").await;

    // A put, a get, both write orders and both read paths.
    let put = call(
        &platform,
        "blob-a",
        "probe",
        j!({"op":"put","container":"c","object":"dir/note.txt","text":"hello blobs"}),
    )
    .await;
    assert_eq!(put["ok"], true, "{put}");
    let put = call(
        &platform,
        "blob-a",
        "probe",
        j!({"op":"put","container":"c","object":"first","text":"target first","order":"target-first"}),
    )
    .await;
    assert_eq!(put["ok"], true, "{put}");
    for read_async in [false, true] {
        let got = call(
            &platform,
            "blob-a",
            "probe",
            j!({"op":"get","container":"c","object":"dir/note.txt","async":read_async}),
        )
        .await;
        assert_eq!((got["ok"].clone(), got["text"].clone()), (j!(true), j!("hello blobs")), "{got}");
    }
    let got = call(
        &platform,
        "blob-a",
        "probe",
        j!({"op":"get","container":"c","object":"first","start":7,"end":11}),
    )
    .await;
    assert_eq!(got["text"], "first", "{got}");
    let head =
        call(&platform, "blob-a", "probe", j!({"op":"head","container":"c","object":"dir/note.txt"})).await;
    assert_eq!((head["size"].clone(), head["container"].clone()), (j!(11), j!("c")), "{head}");

    // A missing object, range or container is an error the guest sees.
    let missing =
        refused(&platform, "blob-a", "probe", j!({"op":"get","container":"c","object":"nope"})).await;
    assert!(missing.contains("c/nope does not exist"), "{missing}");
    let missing =
        refused(&platform, "blob-a", "probe", j!({"op":"get","container":"nothing","object":"x"})).await;
    assert!(missing.contains("container nothing does not exist"), "{missing}");
    let has = call(&platform, "blob-a", "probe", j!({"op":"has","container":"c","object":"nope"})).await;
    assert_eq!(has["has"], false, "{has}");

    // The example: read, transform, write beside it, answer the key.
    let out = call(
        &platform,
        "blob-a",
        "transform",
        j!({"container":"docs","object":"in.txt","text":"make me loud"}),
    )
    .await;
    assert_eq!(out, j!({"written": "docs/in.txt.out", "bytes": 12}));
    let out =
        call(&platform, "blob-a", "transform", j!({"container":"docs","object":"in.txt","op":"reverse"}))
            .await;
    assert_eq!(out["written"], "docs/in.txt.out", "{out}");
    let got =
        call(&platform, "blob-a", "probe", j!({"op":"get","container":"docs","object":"in.txt.out"})).await;
    assert_eq!(got["text"], "duol em ekam", "{got}");

    // Read-only: reads work, every write is refused and changes nothing.
    let got =
        call(&platform, "blob-a", "reader", j!({"op":"get","container":"c","object":"dir/note.txt"})).await;
    assert_eq!(got["text"], "hello blobs", "{got}");
    for write in [
        j!({"op":"put","container":"c","object":"dir/note.txt","text":"overwritten"}),
        j!({"op":"delete","container":"c","object":"dir/note.txt"}),
        j!({"op":"clear","container":"c"}),
        j!({"op":"delete-container","container":"c"}),
        j!({"op":"copy","container":"c","object":"dir/note.txt","to_container":"c","to_object":"copy"}),
    ] {
        let error = refused(&platform, "blob-a", "reader", write.clone()).await;
        assert!(error.contains("read-only"), "{write}: {error}");
    }
    let got =
        call(&platform, "blob-a", "probe", j!({"op":"get","container":"c","object":"dir/note.txt"})).await;
    assert_eq!(got["text"], "hello blobs", "{got}");

    // Copy and move stay in the bucket; a move onto itself keeps the object.
    let copy =
        j!({"op":"copy","container":"c","object":"dir/note.txt","to_container":"docs","to_object":"copied"});
    assert_eq!(call(&platform, "blob-a", "probe", copy).await["ok"], true);
    let moved =
        j!({"op":"move","container":"docs","object":"copied","to_container":"docs","to_object":"moved"});
    assert_eq!(call(&platform, "blob-a", "probe", moved).await["ok"], true);
    let onto_itself =
        j!({"op":"move","container":"docs","object":"moved","to_container":"docs","to_object":"moved"});
    assert_eq!(call(&platform, "blob-a", "probe", onto_itself).await["ok"], true);
    let has = call(&platform, "blob-a", "probe", j!({"op":"has","container":"docs","object":"copied"})).await;
    assert_eq!(has["has"], false, "{has}");
    let got = call(&platform, "blob-a", "probe", j!({"op":"get","container":"docs","object":"moved"})).await;
    assert_eq!(got["text"], "hello blobs", "{got}");
    let nowhere = j!({"op":"copy","container":"docs","object":"moved","to_container":"nope","to_object":"x"});
    let error = refused(&platform, "blob-a", "probe", nowhere).await;
    assert!(error.contains("container nope does not exist"), "{error}");

    // Hostile names: each a clean error, none reaching anything.
    let long = "x".repeat(1025);
    for object in [
        "../victim",
        "../../victim",
        "../../../victim",
        "../../../../blob-b/probe",
        "/victim",
        "c/../../victim",
        "..",
        ".",
        "a//b",
        "a/",
        "x\u{0}y",
        "..\\victim",
        long.as_str(),
    ] {
        for op in ["put", "get", "has", "delete"] {
            let error = refused(
                &platform,
                "blob-a",
                "probe",
                j!({"op":op,"container":"c","object":object,"text":"evil"}),
            )
            .await;
            assert!(error.contains("invalid object name"), "{op} {object:?}: {error}");
        }
    }
    for container in ["..", "../blob-b", ".faas", ".containers", "a/b", "", "c/..", "blob-b/probe"] {
        let error = refused(
            &platform,
            "blob-a",
            "probe",
            j!({"op":"put","container":container,"object":"victim","text":"evil"}),
        )
        .await;
        assert!(error.contains("invalid container name"), "{container:?}: {error}");
    }
    let copy = j!({"op":"copy","container":"c","object":"dir/note.txt","to_container":"c","to_object":"../../victim"});
    assert!(refused(&platform, "blob-a", "probe", copy).await.contains("invalid object name"));
    // Names that look like the platform's are only names in the container.
    let put = call(
        &platform,
        "blob-a",
        "probe",
        j!({"op":"put","container":"c","object":".faas/bucket","text":"mine"}),
    )
    .await;
    assert_eq!(put["ok"], true, "{put}");
    let list = call(&platform, "blob-a", "probe", j!({"op":"list","container":"c"})).await;
    let mut names: Vec<String> = serde_json::from_value(list["names"].clone()).unwrap();
    names.sort();
    assert_eq!(names, [".faas/bucket", "dir/note.txt", "first"], "{list}");
    // Another bucket sees none of it, under any name.
    let exists = call(&platform, "blob-b", "probe", j!({"op":"exists","container":"c"})).await;
    assert_eq!(exists["exists"], false, "{exists}");
    let missing =
        refused(&platform, "blob-b", "probe", j!({"op":"get","container":"c","object":"dir/note.txt"})).await;
    assert!(missing.contains("does not exist"), "{missing}");
    // The function components are intact, and the listing shows no blob.
    assert_eq!(download(&platform, "blob-a/victim").await, stack::guests::guest_bytes("hello"));
    assert_eq!(download(&platform, "blob-b/probe").await, stack::guests::guest_bytes("blob_probe"));
    let (status, listing) =
        json(platform.http.get(platform.url("/bucket/blob-a")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let listed = listing.to_string();
    assert!(!listed.contains("note.txt") && !listed.contains(".faas"), "{listing}");

    // Capability metrics count calls, errors and bytes.
    let metrics = platform.executor_metrics().await;
    for series in
        ["faas_capability_calls_total", "faas_capability_errors_total", "faas_capability_bytes_total"]
    {
        assert!(
            e2e::metric_sum(&metrics, series, r#"capability="blobstore""#) > 0.0,
            "{series} in {metrics}"
        );
    }

    // Blob data keeps the bucket; force deletes it with the bucket.
    for function in ["probe", "reader", "victim", "transform"] {
        let resp =
            platform.http.delete(platform.url(&format!("/file/blob-a/{function}"))).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let (status, body) =
        json(platform.http.delete(platform.url("/bucket/blob-a")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "bucket_not_empty");
    assert!(message.contains("blob data") && message.contains("force=true"), "{message}");
    let resp = platform.http.delete(platform.url("/bucket/blob-a?force=true")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    platform.create_bucket("blob-a").await;
    platform.deploy("blob-a", "probe", "blob_probe").await;
    grant(&platform, "blob-a/probe", "read").await;
    let exists = call(&platform, "blob-a", "probe", j!({"op":"exists","container":"c"})).await;
    assert_eq!(exists["exists"], false, "the forced delete removed the blobs: {exists}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_mib_round_trip_through_a_guest() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    // 10 MiB through s3s-fs both ways takes longer than the tests' 1.5 s.
    platform.limits.timeout_ms = 60_000;
    platform.add_executor(2).await;
    platform.create_bucket("blob-big").await;
    platform.deploy("blob-big", "probe", "blob_probe").await;
    grant(&platform, "blob-big/probe", "write").await;

    const SIZE: usize = 10 << 20;
    let expected = fnv((0..SIZE).map(pattern));
    let answer = call(
        &platform,
        "blob-big",
        "probe",
        j!({"op":"roundtrip","container":"big","object":"ten","bytes":SIZE}),
    )
    .await;
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!((answer["written"].clone(), answer["read"].clone()), (j!(SIZE), j!(SIZE)), "{answer}");
    assert_eq!(
        (answer["hash_written"].as_str(), answer["hash_read"].as_str()),
        (Some(&*expected), Some(&*expected))
    );
    // Read again in another call, through the stream.
    let got =
        call(&platform, "blob-big", "probe", j!({"op":"get","container":"big","object":"ten","async":true}))
            .await;
    assert_eq!((got["len"].clone(), got["hash"].as_str()), (j!(SIZE), Some(&*expected)), "{got}");
    let metrics = platform.executor_metrics().await;
    let written = e2e::metric_sum(&metrics, "faas_capability_bytes_total", r#"direction="written""#);
    assert!(written >= SIZE as f64, "{written}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_and_reads_past_the_call_caps_are_refused() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    platform.capability_limits.blob_max_write_bytes = 1 << 20;
    platform.capability_limits.blob_max_read_bytes = 512 << 10;
    platform.limits.timeout_ms = 20_000;
    platform.add_executor(2).await;
    platform.create_bucket("blob-cap").await;
    platform.deploy("blob-cap", "probe", "blob_probe").await;
    grant(&platform, "blob-cap/probe", "write").await;

    // One byte over: refused as it arrives, and nothing stored.
    let answer = call(
        &platform,
        "blob-cap",
        "probe",
        j!({"op":"put","container":"c","object":"big","bytes":(1 << 20) + 1}),
    )
    .await;
    assert_eq!(answer["ok"], false, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("FAAS_BLOB_MAX_WRITE_BYTES") && error.contains("nothing was stored"), "{error}");
    let has = call(&platform, "blob-cap", "probe", j!({"op":"has","container":"c","object":"big"})).await;
    assert_eq!(has["has"], false, "{has}");

    // At the cap: stored. Reading it passes the read cap: refused.
    let answer =
        call(&platform, "blob-cap", "probe", j!({"op":"put","container":"c","object":"big","bytes":1 << 20}))
            .await;
    assert_eq!(answer["ok"], true, "{answer}");
    let error =
        refused(&platform, "blob-cap", "probe", j!({"op":"get","container":"c","object":"big"})).await;
    assert!(error.contains("read cap") && error.contains("FAAS_BLOB_MAX_READ_BYTES"), "{error}");
    // A range within the cap reads.
    let got = call(
        &platform,
        "blob-cap",
        "probe",
        j!({"op":"get","container":"c","object":"big","start":0,"end":(256 << 10) - 1}),
    )
    .await;
    assert_eq!(
        (got["len"].clone(), got["hash"].as_str()),
        (j!(256 << 10), Some(&*fnv((0..256 << 10).map(pattern)))),
        "{got}"
    );
}
