//! HTTP functions (`wasi:http/proxy`) over NATS: the `<p>.http.<b>.<f>`
//! contract as a plain NATS client speaks it, the exec subject's `POST /`
//! adaptation for jobs and pipelines, the wrong-world refusals, and
//! outgoing HTTP from a guest (off by default, SSRF rules when allowed).

use std::time::Duration;

use bytes::Bytes;
use e2e::{Platform, json};
use protocol::{StagedObject, Subjects};
use reqwest::StatusCode;
use serde_json::{Value, json as j};

const BUCKET: &str = "functions";

/// A request on the http subject; the staged body, if any, already in the
/// transfer store.
async fn http_call(
    platform: &Platform,
    function: &str,
    method: &str,
    path: &str,
    query: Option<&str>,
    extra: &[(&str, &str)],
    body: Bytes,
) -> async_nats::Message {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Faas-Http-Method", method);
    headers.insert("Faas-Http-Path", path);
    if let Some(query) = query {
        headers.insert("Faas-Http-Query", query);
    }
    for (name, value) in extra {
        headers.append(*name, *value);
    }
    let request =
        async_nats::Request::new().headers(headers).payload(body).timeout(Some(Duration::from_secs(20)));
    platform.client.send_request(format!("faas.http.{BUCKET}.{function}"), request).await.expect("an answer")
}

async fn get(platform: &Platform, function: &str, path: &str, query: Option<&str>) -> async_nats::Message {
    http_call(platform, function, "GET", path, query, &[], Bytes::new()).await
}

fn header(message: &async_nats::Message, name: &str) -> Option<String> {
    message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_owned())
}

/// The error code and message of an error reply.
fn failure(message: &async_nats::Message) -> (String, String) {
    assert_eq!(header(message, "Faas-Status").as_deref(), Some("error"), "{message:?}");
    let code = header(message, "Faas-Error-Code").expect("an error code");
    (code, String::from_utf8_lossy(&message.payload).into_owned())
}

async fn transfer(platform: &Platform) -> bus::TransferStore {
    let layout = bus::JetStreamLayout::new(&Subjects::new("faas"), 1);
    bus::TransferStore::open(&platform.client, &layout).await.expect("the transfer store")
}

async fn platform() -> Platform {
    let platform = Platform::start().await;
    platform.create_bucket(BUCKET).await;
    platform.deploy(BUCKET, "hello", "hello").await;
    let (status, body) = platform.upload(BUCKET, "echo-http", stack::guests::guest_bytes("echo-http")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["world"], "http", "the upload says which world: {body}");
    platform
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_http_function_gets_the_request_and_answers_with_its_status_headers_and_body() {
    let platform = platform().await;
    let (status, listing) =
        json(platform.http.get(platform.url("/bucket/functions")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let world = |name: &str| {
        listing["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["world"].clone())
    };
    assert_eq!((world("echo-http"), world("hello")), (Some(j!("http")), Some(j!("exec"))), "{listing}");

    // Method, path, query and headers reach the handler; platform headers,
    // Authorization and hop-by-hop headers do not.
    let extra = [
        ("x-custom", "a value"),
        ("x-multi", "one"),
        ("x-multi", "two"),
        ("authorization", "Bearer platform-secret"),
        ("connection", "close"),
        ("Faas-Request-Id", "rid-http"),
    ];
    let reply =
        http_call(&platform, "echo-http", "GET", "/some/path", Some("x=1&y=two"), &extra, Bytes::new()).await;
    assert_eq!(header(&reply, "Faas-Status").as_deref(), Some("ok"), "{reply:?}");
    assert_eq!(header(&reply, "Faas-Http-Status").as_deref(), Some("200"));
    assert_eq!(header(&reply, "Faas-World").as_deref(), Some("http"));
    assert_eq!(header(&reply, "Faas-Request-Id").as_deref(), Some("rid-http"));
    assert!(header(&reply, "Faas-Digest").is_some() && header(&reply, "Faas-Executor").is_some());
    assert_eq!(header(&reply, "x-echo").as_deref(), Some("1"));
    assert_eq!(header(&reply, "content-type").as_deref(), Some("application/json"));
    let seen: Value = serde_json::from_slice(&reply.payload).expect("JSON");
    assert_eq!(
        (&seen["method"], &seen["path"], &seen["query"]),
        (&j!("GET"), &j!("/some/path"), &j!("x=1&y=two"))
    );
    assert_eq!(seen["headers"]["x-custom"], "a value", "{seen}");
    assert_eq!(seen["headers"]["x-multi"], "one, two", "{seen}");
    for hidden in ["authorization", "connection", "faas-request-id", "faas-http-method"] {
        assert!(seen["headers"].get(hidden).is_none(), "{hidden} reached the handler: {seen}");
    }

    // Every byte value survives both ways.
    let all: Bytes = (0..=255u8).collect::<Vec<_>>().into();
    let binary = [("content-type", "application/x-bytes")];
    let reply = http_call(&platform, "echo-http", "POST", "/", None, &binary, all.clone()).await;
    assert_eq!(header(&reply, "Faas-Http-Status").as_deref(), Some("200"));
    assert_eq!(reply.payload, all);
    assert_eq!(header(&reply, "content-type").as_deref(), Some("application/x-bytes"));

    // The handler's status is passed through, whatever it is.
    for code in ["201", "404", "500"] {
        let reply = get(&platform, "echo-http", "/", Some(&format!("status={code}"))).await;
        assert_eq!(header(&reply, "Faas-Status").as_deref(), Some("ok"));
        assert_eq!(header(&reply, "Faas-Http-Status").as_deref(), Some(code));
        assert_eq!(header(&reply, "x-echo").as_deref(), Some("1"));
    }

    // A body larger than one message goes through the transfer store, both ways.
    let store = transfer(&platform).await;
    let big: Bytes = (0..5 << 20).map(|i: u32| (i % 251) as u8).collect::<Vec<_>>().into();
    let staged = store.stage(big.clone()).await.unwrap();
    let extra =
        [("Faas-Http-Body-Staged", staged.name.as_str()), ("content-type", "application/octet-stream")];
    let reply = http_call(&platform, "echo-http", "PUT", "/big", None, &extra, Bytes::new()).await;
    assert_eq!(header(&reply, "Faas-Http-Status").as_deref(), Some("200"), "{reply:?}");
    assert!(reply.payload.is_empty());
    let name = header(&reply, "Faas-Http-Body-Staged").expect("the answer is staged");
    let answer = store.take(&StagedObject { name, size: 0 }, 64 << 20).await.unwrap();
    assert_eq!(answer.len(), big.len());
    assert!(answer == big, "the 5 MB body came back changed");
    let gone = store.take(&staged, 64 << 20).await;
    assert!(gone.is_err(), "the executor deleted the staged request body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn traps_timeouts_and_the_wrong_world_are_errors_with_codes() {
    let platform = platform().await;

    let (code, message) = failure(&get(&platform, "echo-http", "/trap", None).await);
    assert_eq!(code, "function_trapped");
    assert!(message.contains("/trap asked for a panic"), "{message}");

    let (code, _) = failure(&get(&platform, "echo-http", "/spin", None).await);
    assert_eq!(code, "function_timeout");
    // The executor is not stuck behind it.
    let reply = get(&platform, "echo-http", "/", None).await;
    assert_eq!(header(&reply, "Faas-Http-Status").as_deref(), Some("200"));

    // /run on an exec function names /exec ...
    let (code, message) = failure(&get(&platform, "hello", "/", None).await);
    assert_eq!(code, "wrong_world");
    assert!(message.contains("/exec/functions/hello"), "{message}");

    // ... and an exec caller that insists on the exec world is sent to /run.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Faas-Expect-World", "exec");
    let reply = platform
        .client
        .request_with_headers("faas.exec.functions.echo-http", headers, "hi".into())
        .await
        .unwrap();
    let (code, message) = failure(&reply);
    assert_eq!(code, "wrong_world");
    assert!(message.contains("/run/functions/echo-http/"), "{message}");

    // Without it (triggers, jobs, pipelines, NATS clients) the input is a
    // POST / body and a 2xx body the output, binary or not.
    let reply = platform.client.request("faas.exec.functions.echo-http", "plain input".into()).await.unwrap();
    assert_eq!(header(&reply, "Faas-Status").as_deref(), Some("ok"), "{reply:?}");
    assert_eq!(header(&reply, "Faas-World").as_deref(), Some("http"));
    assert_eq!(&reply.payload[..], b"plain input");
    let raw: Bytes = vec![0xff, 0x00, 0xfe].into();
    let reply = platform.client.request("faas.exec.functions.echo-http", raw.clone()).await.unwrap();
    assert_eq!(reply.payload, raw);
    // A non-2xx status is a failure naming the status.
    let reply = platform
        .client
        .request("faas.exec.functions.echo-http", "echo-status:503 down".into())
        .await
        .unwrap();
    let (code, message) = failure(&reply);
    assert_eq!(code, "function_http_error");
    assert!(message.starts_with("HTTP 503: echo-status:503 down"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_and_pipeline_steps_may_name_an_http_function() {
    let platform = platform().await;

    let steps = j!({"steps": ["functions/echo-http", "functions/hello"]});
    let resp = platform.http.put(platform.url("/pipeline/via-http")).json(&steps).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp =
        platform.http.post(platform.url("/exec/pipeline/via-http")).body(r#"{"name":"Ada"}"#).send().await;
    let (status, body) = json(resp.unwrap()).await;
    assert_eq!((status, body), (StatusCode::OK, j!({"result": "Hello Ada, how are you?"})));

    let resp = platform.http.post(platform.url("/async/functions/echo-http")).body("job input").send().await;
    let (status, accepted) = json(resp.unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let job_url = accepted["status_url"].as_str().unwrap().to_owned();
    let mut record = Value::Null;
    for _ in 0..300 {
        record = json(platform.http.get(platform.url(&job_url)).send().await.unwrap()).await.1;
        if matches!(record["status"].as_str(), Some("succeeded" | "failed")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((&record["status"], &record["result"]), (&j!("succeeded"), &j!("job input")), "{record}");
}

/// A server on loopback that answers `GET /hello`.
async fn local_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/hello", axum::routing::get(|| async { "hi from the test" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outgoing_http_is_refused_unless_host_and_address_are_both_allowed() {
    let mut platform = platform().await;
    let server = local_server().await;
    let query = format!("url=http%3A%2F%2F{server}%2Fhello");

    // Off by default: the guest sees the request denied.
    let reply = get(&platform, "echo-http", "/fetch", Some(&query)).await;
    assert_eq!(header(&reply, "Faas-Http-Status").as_deref(), Some("502"), "{reply:?}");
    let body = String::from_utf8_lossy(&reply.payload).into_owned();
    assert!(body.contains("HttpRequestDenied"), "{body}");

    // The host allowed in the function's configuration (applied on every
    // executor before the answer), but loopback is not public: still denied.
    let url = platform.url(&format!("/config/{BUCKET}/echo-http"));
    let allow = j!({"http_outgoing_allow": [server.ip().to_string()]});
    let resp = platform.http.put(url).json(&allow).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
    let reply = get(&platform, "echo-http", "/fetch", Some(&query)).await;
    assert_eq!(header(&reply, "Faas-Http-Status").as_deref(), Some("502"));
    assert!(String::from_utf8_lossy(&reply.payload).contains("HttpRequestDenied"));

    // Both the host and the operator's address allow-list: it goes out.
    platform.http_outgoing.address_allow = vec!["127.0.0.0/8".into()];
    platform.stop_executors().await;
    platform.add_executor(2).await;
    let reply = get(&platform, "echo-http", "/fetch", Some(&query)).await;
    assert_eq!(header(&reply, "Faas-Http-Status").as_deref(), Some("200"), "{reply:?}");
    assert_eq!(&reply.payload[..], b"200\nhi from the test");

    // Another host is still refused.
    let other = get(&platform, "echo-http", "/fetch", Some("url=http%3A%2F%2Fexample.com%2F")).await;
    assert_eq!(header(&other, "Faas-Http-Status").as_deref(), Some("502"));
    assert!(String::from_utf8_lossy(&other.payload).contains("HttpRequestDenied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_the_shipped_nats_permissions_executors_serve_http_and_app_users_call_it() {
    let platform = Platform::start_secure().await;
    platform.create_bucket(BUCKET).await;
    platform.deploy(BUCKET, "echo-http", "echo-http").await;

    // The executor's user takes a staged request body and stages the answer
    // (the test's own client is the dispatcher's user).
    let store = transfer(&platform).await;
    let big: Bytes = vec![7u8; 2 << 20].into();
    let staged = store.stage(big.clone()).await.unwrap();
    let extra = [("Faas-Http-Body-Staged", staged.name.as_str())];
    let reply = http_call(&platform, "echo-http", "POST", "/", None, &extra, Bytes::new()).await;
    assert_eq!(header(&reply, "Faas-Http-Status").as_deref(), Some("200"), "{reply:?}");
    let name = header(&reply, "Faas-Http-Body-Staged").expect("the answer is staged");
    assert!(store.take(&StagedObject { name, size: 0 }, 64 << 20).await.unwrap() == big);

    // An outside publisher calls the HTTP functions of its buckets.
    let (_, _, password) = e2e::NATS_USERS.iter().find(|(name, ..)| *name == "app").unwrap();
    let app = async_nats::ConnectOptions::with_user_and_password("app".into(), (*password).into())
        .custom_inbox_prefix("_INBOX.app")
        .connect(platform.env.nats_url.as_str())
        .await
        .unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Faas-Http-Path", "/from-app");
    let reply =
        app.request_with_headers("faas.http.functions.echo-http", headers, Bytes::new()).await.unwrap();
    assert_eq!(header(&reply, "Faas-Http-Status").as_deref(), Some("200"), "{reply:?}");
    let seen: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(seen["path"], "/from-app");
}
