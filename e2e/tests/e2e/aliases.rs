//! Aliases, rollback and canaries on the real stack: `current` rolled back
//! twice after 20 uploads (the S3 object following), a named alias run over
//! HTTP and NATS, every move exact (100 calls in a row after each answer),
//! a 90/10 weighted alias over 2,000 calls, sticky route keys, retention
//! keeping aliased versions, and the bad inputs refused with their codes.

use std::collections::HashMap;

use e2e::Platform;
use protocol::headers;
use reqwest::StatusCode;
use serde_json::{Value, json};
use stack::guests::{guest_bytes, with_custom_section};

/// `count` distinct variants of `hello` (as in `versions.rs`).
fn hello_variants(count: usize) -> Vec<Vec<u8>> {
    let hello = guest_bytes("hello");
    (1..=count).map(|i| with_custom_section(&hello, hello.len() + 16 * i)).collect()
}

async fn upload_all(platform: &Platform, function: &str, variants: &[Vec<u8>]) -> Vec<String> {
    let mut digests = Vec::new();
    for bytes in variants {
        let (status, body) = platform.upload("functions", function, bytes.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        digests.push(body["digest"].as_str().unwrap().to_owned());
    }
    digests
}

/// `POST /exec/functions/{segment}`: status, body and `x-faas-digest`.
async fn exec(platform: &Platform, segment: &str) -> (StatusCode, Value, Option<String>) {
    let resp = platform
        .http
        .post(platform.url(&format!("/exec/functions/{segment}")))
        .body(r#"{"name":"a"}"#)
        .send()
        .await
        .unwrap();
    let digest = resp.headers().get("x-faas-digest").map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = e2e::json(resp).await;
    (status, body, digest)
}

/// The digest an exec through HTTP ran, asserting it succeeded.
async fn ran(platform: &Platform, segment: &str) -> String {
    let (status, body, digest) = exec(platform, segment).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "Hello a, how are you?");
    digest.expect("x-faas-digest")
}

/// The digest a NATS exec of `function` ran, with optional `Faas-Version`
/// and `Faas-Route-Key`.
async fn ran_over_nats(
    platform: &Platform,
    function: &str,
    version: Option<&str>,
    route_key: Option<&str>,
) -> String {
    let mut map = async_nats::HeaderMap::new();
    if let Some(version) = version {
        map.insert(headers::VERSION, version);
    }
    if let Some(key) = route_key {
        map.insert(headers::ROUTE_KEY, key);
    }
    let reply = platform
        .client
        .request_with_headers(format!("faas.exec.functions.{function}"), map, r#"{"name":"n"}"#.into())
        .await
        .unwrap();
    let reply_headers = reply.headers.clone().unwrap();
    assert_eq!(reply_headers.get(headers::STATUS).unwrap().as_str(), "ok", "{reply:?}");
    reply_headers.get(headers::DIGEST).unwrap().as_str().to_owned()
}

/// A `weights` object from (version, share) pairs.
fn weights(pairs: &[(&str, f64)]) -> Value {
    Value::Object(pairs.iter().map(|(version, share)| ((*version).to_owned(), json!(share))).collect())
}

async fn put_alias(platform: &Platform, function: &str, alias: &str, spec: Value) -> (StatusCode, Value) {
    let url = platform.url(&format!("/file/functions/{function}/aliases/{alias}"));
    e2e::json(platform.http.put(url).json(&spec).send().await.unwrap()).await
}

async fn rollback(platform: &Platform, function: &str) -> (StatusCode, Value) {
    let url = platform.url(&format!("/file/functions/{function}/rollback"));
    e2e::json(platform.http.post(url).send().await.unwrap()).await
}

/// The kept digests, newest first, each with the aliases the listing marks.
async fn listed(platform: &Platform, function: &str) -> Vec<(String, Vec<String>)> {
    let url = platform.url(&format!("/file/functions/{function}/versions"));
    let (status, body) = e2e::json(platform.http.get(url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let aliases = v["aliases"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned());
            (v["digest"].as_str().unwrap().to_owned(), aliases.collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_uploads_roll_back_twice_and_run_through_aliases_exactly() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let variants = hello_variants(20);
    let digests = upload_all(&platform, "hello", &variants).await;
    assert_eq!(ran(&platform, "hello").await, digests[19]);

    // Rollback goes back one upload, then one more; the function's S3
    // object follows what its name runs.
    for back in [18, 17] {
        let (status, body) = rollback(&platform, "hello").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["alias"], "current");
        assert_eq!(body["version"], digests[back].as_str());
        assert_eq!(ran(&platform, "hello").await, digests[back], "after rollback to {back}");
        assert_eq!(ran(&platform, "hello@current").await, digests[back]);
        let resp = platform.http.get(platform.url("/file/functions/hello")).send().await.unwrap();
        assert_eq!(resp.bytes().await.unwrap().as_ref(), variants[back].as_slice());
    }

    // A named alias by digest prefix; exec through it over HTTP and NATS.
    let (status, body) = put_alias(&platform, "hello", "stable", json!({"version": &digests[5][..12]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], digests[5].as_str());
    assert_eq!(ran(&platform, "hello@stable").await, digests[5]);
    assert_eq!(ran_over_nats(&platform, "hello", Some("stable"), None).await, digests[5]);
    assert_eq!(ran(&platform, "hello").await, digests[17], "the plain name still runs current");

    // The listing marks the aliases; an aliased version cannot be deleted.
    let kept: HashMap<String, Vec<String>> = listed(&platform, "hello").await.into_iter().collect();
    assert_eq!(kept[&digests[5]], vec!["stable".to_owned()]);
    assert_eq!(kept[&digests[17]], vec!["current".to_owned()]);
    assert!(kept[&digests[19]].is_empty());
    let url = platform.url(&format!("/file/functions/hello?version={}", digests[5]));
    let (status, body) = e2e::json(platform.http.delete(url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(e2e::error_code(&body).0, "version_in_use");

    // Moving is exact: after each answer, 100 calls in a row run the new target.
    for (round, target) in [3usize, 11, 0, 19, 7].into_iter().enumerate() {
        let alias = if round % 2 == 0 { "stable" } else { "current" };
        let (status, body) = put_alias(&platform, "hello", alias, json!({"version": digests[target]})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let version = (alias != "current").then_some(alias);
        for call in 0..100 {
            let digest = ran_over_nats(&platform, "hello", version, None).await;
            assert_eq!(digest, digests[target], "round {round}, call {call} after moving {alias}");
        }
    }
    // PUT current pushed history: a rollback undoes the last move (back from 19 to 11).
    let (status, body) = rollback(&platform, "hello").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ran(&platform, "hello").await, digests[11]);

    // Deleting an alias: calls through it are 404 `alias_not_found`.
    let url = platform.url("/file/functions/hello/aliases/stable");
    let (status, body) = e2e::json(platform.http.delete(url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = exec(&platform, "hello@stable").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(e2e::error_code(&body).0, "alias_not_found");
    let url = platform.url("/file/functions/hello/aliases");
    let (status, body) = e2e::json(platform.http.get(url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> =
        body["aliases"].as_array().unwrap().iter().map(|a| a["alias"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["current"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_weighted_alias_splits_90_10_and_a_route_key_always_lands_on_the_same_version() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let digests = upload_all(&platform, "hello", &hello_variants(2)).await;
    let (stable, canary) = (&digests[0], &digests[1]);
    let spec = json!({"version": stable, "weights": weights(&[(stable, 0.9), (&canary[..10], 0.1)])});
    let (status, body) = put_alias(&platform, "hello", "live", spec).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["weights"][canary.as_str()], 0.1, "{body}");

    let calls = 2000;
    let mut on_canary = 0;
    for _ in 0..calls {
        let digest = ran_over_nats(&platform, "hello", Some("live"), None).await;
        assert!(digest == *stable || digest == *canary, "{digest}");
        on_canary += usize::from(digest == *canary);
    }
    let share = on_canary as f64 / calls as f64;
    assert!((0.07..=0.13).contains(&share), "{on_canary} of {calls} calls on the canary");

    // Sticky: every key lands on one version, and both versions get keys.
    let mut seen = Vec::new();
    for user in 0..40 {
        let key = format!("user-{user}");
        let first = ran_over_nats(&platform, "hello", Some("live"), Some(&key)).await;
        for _ in 0..10 {
            assert_eq!(ran_over_nats(&platform, "hello", Some("live"), Some(&key)).await, first, "{key}");
        }
        seen.push(first);
    }
    // Over HTTP too, by `x-faas-route-key`.
    let resp = platform
        .http
        .post(platform.url("/exec/functions/hello@live"))
        .header("x-faas-route-key", "user-3")
        .body(r#"{"name":"a"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-faas-digest"], seen[3].as_str());

    // Weights on `current` split the plain name.
    let spec = json!({"version": canary, "weights": weights(&[(stable, 0.5), (canary, 0.5)])});
    let (status, body) = put_alias(&platform, "hello", "current", spec).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ran_plain = std::collections::HashSet::new();
    for _ in 0..100 {
        ran_plain.insert(ran_over_nats(&platform, "hello", None, None).await);
    }
    assert_eq!(ran_plain.len(), 2, "a 50/50 current runs both versions");
    // A weight pins its version too.
    let url = platform.url(&format!("/file/functions/hello?version={stable}"));
    let (status, body) = e2e::json(platform.http.delete(url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_keeps_every_version_an_alias_a_pipeline_step_or_a_trigger_pins() {
    let platform = Platform::start_with_dispatcher(|config| config.keep_versions = 3).await;
    platform.create_bucket("functions").await;
    let variants = hello_variants(9);
    let first = upload_all(&platform, "hello", &variants[..3]).await;
    let (status, body) = put_alias(&platform, "hello", "pinned", json!({"version": first[0]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A pipeline step pins a version by digest prefix.
    let steps = json!({"steps": [format!("functions/hello@{}", &first[1][..12])]});
    let resp = platform.http.put(platform.url("/pipeline/pinned")).json(&steps).send().await.unwrap();
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // And so does a trigger's function, `f@<digest>`.
    let trigger = json!({"subject": "pin.requested", "function": format!("functions/hello@{}", first[2])});
    let resp = platform.http.put(platform.url("/trigger/pinned")).json(&trigger).send().await.unwrap();
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["function"], format!("functions/hello@{}", first[2]));
    let rest = upload_all(&platform, "hello", &variants[3..]).await;

    // The newest 3, then the pinned ones.
    let kept: Vec<String> = listed(&platform, "hello").await.into_iter().map(|(digest, _)| digest).collect();
    let expected = [&rest[5], &rest[4], &rest[3], &first[2], &first[1], &first[0]];
    assert_eq!(kept, expected.map(Clone::clone).to_vec());
    assert_eq!(ran(&platform, "hello@pinned").await, first[0]);
    // The pipeline runs its pinned version, and the pin refuses deletion.
    let resp = platform
        .http
        .post(platform.url("/exec/pipeline/pinned"))
        .body(r#"{"name":"p"}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = platform.url(&format!("/file/functions/hello?version={}", first[1]));
    let (status, body) = e2e::json(platform.http.delete(url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(e2e::error_code(&body).0, "version_in_use");
    // The trigger runs its pinned version.
    let reply = platform.client.request("pin.requested", r#"{"name":"t"}"#.into()).await.unwrap();
    assert_eq!(reply.payload.as_ref(), b"Hello t, how are you?");
    // Without the pins (pipeline and trigger deleted), the next upload prunes them.
    for path in ["/pipeline/pinned", "/trigger/pinned"] {
        assert_eq!(platform.http.delete(platform.url(path)).send().await.unwrap().status(), StatusCode::OK);
    }
    let last = upload_all(&platform, "hello", &variants[..1]).await;
    assert_eq!(last[0], first[0], "an identical re-upload");
    let kept: Vec<String> = listed(&platform, "hello").await.into_iter().map(|(digest, _)| digest).collect();
    assert_eq!(kept, [&rest[5], &rest[4], &rest[3], &first[0]].map(Clone::clone).to_vec());
    // A pin of a version that is not kept is refused.
    let steps = json!({"steps": ["functions/hello@ffffffff"]});
    let resp = platform.http.put(platform.url("/pipeline/bad")).json(&steps).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_alias_requests_are_refused_with_their_codes() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let digests = upload_all(&platform, "hello", &hello_variants(2)).await;
    let (a, b) = (&digests[0], &digests[1]);
    let cases = [
        (
            "canary",
            json!({"version": a, "weights": weights(&[(a, 0.9), (b, 0.2)])}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "canary",
            json!({"version": a, "weights": weights(&[(a, 0.9), ("ffffffff", 0.1)])}),
            StatusCode::NOT_FOUND,
            "version_not_found",
        ),
        (
            "canary",
            json!({"version": a, "weights": weights(&[(b, 1.0)])}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        ("beef", json!({"version": a}), StatusCode::BAD_REQUEST, "bad_request"),
        ("Canary", json!({"version": a}), StatusCode::BAD_REQUEST, "bad_request"),
        ("canary", json!({"version": "nosuchalias"}), StatusCode::NOT_FOUND, "alias_not_found"),
        ("canary", json!({"version": a, "extra": 1}), StatusCode::BAD_REQUEST, "bad_request"),
    ];
    for (alias, spec, status, code) in cases {
        let (got, body) = put_alias(&platform, "hello", alias, spec.clone()).await;
        assert_eq!(got, status, "{alias} {spec}: {body}");
        assert_eq!(e2e::error_code(&body).0, code, "{alias} {spec}");
    }
    let url = platform.url("/file/functions/hello/aliases/current");
    let (status, body) = e2e::json(platform.http.delete(url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // One upload has nothing to roll back to; the second rollback of two neither.
    platform.upload("functions", "single", guest_bytes("hello")).await;
    let (status, body) = rollback(&platform, "single").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(e2e::error_code(&body).0, "no_rollback_target");
    assert_eq!(rollback(&platform, "hello").await.0, StatusCode::OK);
    assert_eq!(rollback(&platform, "hello").await.0, StatusCode::CONFLICT);
    // Unknown function.
    assert_eq!(rollback(&platform, "nothing").await.0, StatusCode::NOT_FOUND);
    // A job through an alias is pinned when accepted: an unknown alias is refused then.
    let resp =
        platform.http.post(platform.url("/async/functions/hello@nosuch")).body("{}").send().await.unwrap();
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(e2e::error_code(&body).0, "alias_not_found");
    let resp =
        platform.http.post(platform.url("/async/functions/hello@current")).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_alias_moves_and_uploads_on_two_dispatchers_lose_no_change() {
    let mut platform = Platform::start().await;
    platform.add_dispatcher().await;
    platform.create_bucket("functions").await;
    let variants = hello_variants(4);
    let digests = upload_all(&platform, "busy", &variants[..2]).await;
    // Eight named aliases and two uploads at once, spread over both
    // dispatchers by the queue group: each is a read-modify-write of the
    // one registry entry, so without the revision check some would vanish.
    let moves = (0..8).map(|i| {
        let platform = &platform;
        let target = digests[i % 2].clone();
        async move { put_alias(platform, "busy", &format!("stage{i}"), json!({"version": target})).await }
    });
    let uploads = variants[2..].iter().map(|bytes| platform.upload("functions", "busy", bytes.clone()));
    let (moved, uploaded) =
        tokio::join!(futures::future::join_all(moves), futures::future::join_all(uploads));
    for (status, body) in moved.iter().chain(&uploaded) {
        assert!(status.is_success(), "{status} {body}");
    }
    let url = platform.url("/file/functions/busy/aliases");
    let (status, body) = e2e::json(platform.http.get(url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> =
        body["aliases"].as_array().unwrap().iter().map(|a| a["alias"].as_str().unwrap()).collect();
    for i in 0..8 {
        assert!(names.contains(&format!("stage{i}").as_str()), "alias stage{i} was lost: {names:?}");
    }
    // What the name runs is one of the two uploads, and the function's S3
    // object holds exactly its bytes.
    let current = ran(&platform, "busy").await;
    let uploaded_digests: Vec<&str> =
        uploaded.iter().map(|(_, body)| body["digest"].as_str().unwrap()).collect();
    assert!(uploaded_digests.contains(&current.as_str()), "{current} not in {uploaded_digests:?}");
    let object = platform.http.get(platform.url("/file/functions/busy")).send().await.unwrap();
    let bytes = object.bytes().await.unwrap();
    let which = uploaded_digests.iter().position(|d| *d == current).unwrap();
    let holds = variants.iter().position(|v| v[..] == bytes[..]);
    assert!(
        bytes[..] == variants[2 + which][..],
        "the S3 object is not what the name runs: it holds variant {holds:?} ({} bytes), the name runs variant {}",
        bytes.len(),
        2 + which
    );
}
