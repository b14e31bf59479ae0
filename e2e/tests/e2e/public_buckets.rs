//! Public buckets, end to end: a bucket marked `public_invoke` runs its
//! functions for callers without a token, and nothing else is ever open to
//! them; only a token that may deploy to the bucket changes the setting,
//! and turning it off holds on every api within a second. Real nats-server,
//! real S3, the real dispatcher and executor.

use std::time::{Duration, Instant};

use e2e::{Platform, error_code, json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json as j};

/// The public bucket.
const PUBLIC: &str = "webhooks";
/// A private bucket holding the same function.
const PRIVATE: &str = "private";

/// A token with `scopes`, made by the test admin.
async fn mint(platform: &Platform, scopes: &[&str]) -> String {
    let body = j!({ "name": format!("test {scopes:?}"), "scopes": scopes });
    let (status, body) =
        json(platform.http.post(platform.url("/tokens")).json(&body).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// Sends a request with `token` (none: no `Authorization` header at all).
async fn send(
    base: &str,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    } else {
        request = request.body(r#"{"name":"Hook"}"#);
    }
    request.send().await.unwrap()
}

/// `PUT /bucket/{bucket}` as the admin, with `body`.
async fn put_bucket(platform: &Platform, bucket: &str, body: Value) -> (StatusCode, Value) {
    json(platform.http.put(platform.url(&format!("/bucket/{bucket}"))).json(&body).send().await.unwrap())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_without_a_token_run_a_public_bucket_s_functions_and_nothing_else() {
    let platform = Platform::start().await;
    let (status, body) = put_bucket(&platform, PUBLIC, j!({ "public_invoke": true })).await;
    assert_eq!((status, &body), (StatusCode::CREATED, &j!({ "bucket": PUBLIC, "public_invoke": true })));
    platform.deploy(PUBLIC, "hello", "hello").await;
    platform.create_bucket(PRIVATE).await;
    platform.deploy(PRIVATE, "hello", "hello").await;
    let base = platform.base.as_str();

    // Calls: a public bucket answers without a token, a private one 401.
    let (status, body) = json(send(base, None, Method::POST, "/exec/webhooks/hello", None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "Hello Hook, how are you?", "{body}");
    let (status, job) = json(send(base, None, Method::POST, "/async/webhooks/hello", None).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let job_path = format!("/jobs/{}", job["job_id"].as_str().unwrap());
    for path in
        ["/exec/private/hello", "/async/private/hello", "/exec/no-such-bucket/hello", "/exec/Bad_Name/x"]
    {
        let response = send(base, None, Method::POST, path, None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(response.headers().contains_key("www-authenticate"), "{path}");
    }
    // A token that is presented is checked: a bad one is never anonymous.
    let wrong = format!("faas_{}_{}", "0".repeat(32), "1".repeat(64));
    for token in [wrong.as_str(), "nonsense"] {
        let response = send(base, Some(token), Method::POST, "/exec/webhooks/hello", None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token}");
    }
    // A valid token may call a public bucket whatever its scopes, as anyone may.
    let elsewhere = mint(&platform, &["read:private"]).await;
    let response = send(base, Some(&elsewhere), Method::POST, "/exec/webhooks/hello", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = send(base, Some(&elsewhere), Method::POST, "/exec/private/hello", None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Everything else stays closed to callers without a token.
    let pipeline = j!({ "steps": ["webhooks/hello"] });
    let response = platform.http.put(platform.url("/pipeline/hook")).json(&pipeline).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let redrive = format!("{job_path}/redrive");
    let closed: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/bucket", None),
        (Method::GET, "/bucket/webhooks", None),
        (Method::PUT, "/bucket/webhooks", Some(j!({ "public_invoke": true }))),
        (Method::PATCH, "/bucket/webhooks", Some(j!({ "public_invoke": true }))),
        (Method::DELETE, "/bucket/webhooks", None),
        (Method::GET, "/file/webhooks/hello", None),
        (Method::POST, "/file/webhooks/other", None),
        (Method::DELETE, "/file/webhooks/hello", None),
        (Method::GET, "/jobs", None),
        (Method::GET, &job_path, None),
        (Method::POST, &redrive, None),
        (Method::POST, "/exec/pipeline/hook", None),
        (Method::POST, "/async/pipeline/hook", None),
        (Method::GET, "/pipeline/hook", None),
        (Method::PUT, "/trigger/hook", Some(j!({ "subject": "events.hook", "function": "webhooks/hello" }))),
        (Method::GET, "/trigger", None),
        (Method::GET, "/tokens", None),
    ];
    for (method, path, body) in closed {
        let response = send(base, None, method.clone(), path, body).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
    }

    // The setting shows to callers who may read the bucket.
    let (_, listed) = json(platform.http.get(platform.url("/bucket")).send().await.unwrap()).await;
    let public_of = |name: &str| {
        listed["buckets"].as_array().unwrap().iter().find(|b| b["name"] == name).unwrap()["public_invoke"]
            .clone()
    };
    assert_eq!((public_of(PUBLIC), public_of(PRIVATE)), (j!(true), j!(false)), "{listed}");
    let (_, shown) = json(platform.http.get(platform.url("/bucket/webhooks")).send().await.unwrap()).await;
    assert_eq!(shown["public_invoke"], true, "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_a_token_that_may_deploy_to_the_bucket_sets_it_public() {
    let platform = Platform::start().await;
    platform.create_bucket(PUBLIC).await;
    platform.create_bucket(PRIVATE).await;
    let base = platform.base.as_str();
    let public = || Some(j!({ "public_invoke": true }));
    let other_deployer = mint(&platform, &["deploy:private"]).await;
    let invoker = mint(&platform, &["invoke:webhooks", "read:webhooks"]).await;
    let deployer = mint(&platform, &["deploy:webhooks"]).await;
    let every_deployer = mint(&platform, &["deploy:*"]).await;

    for token in [&other_deployer, &invoker] {
        for method in [Method::PATCH, Method::PUT] {
            let (status, body) =
                json(send(base, Some(token), method.clone(), "/bucket/webhooks", public()).await).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method}: {body}");
            assert!(error_code(&body).1.contains("deploy:webhooks"), "{body}");
        }
    }
    // No 403-vs-404 leak: the scope check comes first.
    let response = send(base, Some(&other_deployer), Method::PATCH, "/bucket/nothing-here", public()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, body) =
        json(send(base, Some(&every_deployer), Method::PATCH, "/bucket/nothing-here", public()).await).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "bucket_not_found"), "{body}");
    let response = send(base, None, Method::POST, "/exec/webhooks/hello", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "still private");

    let (status, body) =
        json(send(base, Some(&deployer), Method::PATCH, "/bucket/webhooks", public()).await).await;
    assert_eq!((status, &body), (StatusCode::OK, &j!({ "bucket": PUBLIC, "public_invoke": true })));
    // PUT on an existing bucket: with settings it changes them, without it is 409.
    let off = Some(j!({ "public_invoke": false }));
    let (status, body) = json(send(base, Some(&deployer), Method::PUT, "/bucket/webhooks", off).await).await;
    assert_eq!((status, &body), (StatusCode::OK, &j!({ "bucket": PUBLIC, "public_invoke": false })));
    let response = platform.http.put(platform.url("/bucket/webhooks")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    // Settings that do not parse change nothing.
    for bad in [j!({ "public": true }), j!({ "public_invoke": "yes" }), j!("yes"), j!(null)] {
        let response =
            send(base, Some(&deployer), Method::PATCH, "/bucket/webhooks", Some(bad.clone())).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let (_, shown) = json(platform.http.get(platform.url("/bucket/webhooks")).send().await.unwrap()).await;
    assert_eq!(shown["public_invoke"], false, "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn turning_public_off_holds_on_every_api_within_a_second_and_deleting_forgets_it() {
    let mut platform = Platform::start().await;
    let first = platform.base.clone();
    let second = platform.add_api().await;
    let (status, _) = put_bucket(&platform, PUBLIC, j!({ "public_invoke": true })).await;
    assert_eq!(status, StatusCode::CREATED);
    platform.deploy(PUBLIC, "hello", "hello").await;
    for base in [&first, &second] {
        let response = send(base, None, Method::POST, "/exec/webhooks/hello", None).await;
        assert_eq!(response.status(), StatusCode::OK, "{base}");
    }

    let started = Instant::now();
    let off = j!({ "public_invoke": false });
    let response = platform.http.patch(platform.url("/bucket/webhooks")).json(&off).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for base in [&first, &second] {
        loop {
            let response = send(base, None, Method::POST, "/exec/webhooks/hello", None).await;
            if response.status() == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(1), "{base} still runs calls without a token");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(1), "turning it off took {:?}", started.elapsed());

    // Deleting the bucket deletes its settings.
    let (status, _) = put_bucket(&platform, PUBLIC, j!({ "public_invoke": true })).await;
    assert_eq!(status, StatusCode::OK);
    let response = platform.http.delete(platform.url("/bucket/webhooks?force=true")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let settings =
        async_nats::jetstream::new(platform.client.clone()).get_key_value("faas-buckets").await.unwrap();
    assert_eq!(settings.get(PUBLIC).await.unwrap(), None, "the settings outlived the bucket");
    platform.create_bucket(PUBLIC).await;
    let (_, shown) = json(platform.http.get(platform.url("/bucket/webhooks")).send().await.unwrap()).await;
    assert_eq!(shown["public_invoke"], false, "a new bucket of the same name starts private: {shown}");
}
