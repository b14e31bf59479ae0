//! `/run/{bucket}/{function}[/{*path}]` through `oneshot`, against a real
//! nats-server and a stand-in executor that answers `<p>.http.*.*` as the
//! contract in `protocol::http_call` says an executor does: what crosses
//! the bus (method, path, query, forwarded headers, body inline or staged)
//! and what comes back (status, headers, body, the platform's errors).
//! Also that `/exec` asks for the exec world.

use async_nats::{HeaderMap, Message};
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use bus::{ExecFailure, TransferStore};
use futures::StreamExt;
use http_body_util::BodyExt;
use protocol::{ErrorBody, ErrorCode, StagedObject, Subjects, headers};
use serde_json::Value;
use tokio::sync::mpsc;
use tower::ServiceExt;

/// A 5 MB body: five times a stock nats-server's max_payload.
const BIG: usize = 5_000_000;

struct Setup {
    /// Kept running for the test.
    _nats: stack::nats::NatsServer,
    router: axum::Router,
    /// Every request the stand-in received.
    seen: mpsc::UnboundedReceiver<Message>,
    transfer: TransferStore,
    /// The transfer store as a plain JetStream client sees it.
    objects: async_nats::jetstream::object_store::ObjectStore,
    /// The api's connection.
    client: async_nats::Client,
}

/// A router (with `tune` applied to its config) and a stand-in executor
/// answering the bucket `web`'s HTTP functions by function name:
/// `echo` answers the request's body back with a set of headers, `big`
/// answers a staged 5 MB body, and the others the exec error their name says.
async fn setup(tune: impl FnOnce(&mut api::ApiConfig)) -> Setup {
    let nats = stack::nats::NatsServer::start().expect("nats-server starts");
    let client = nats.connect().await;
    let subjects = Subjects::default();
    let layout = bus::JetStreamLayout::new(&subjects, 1);
    let transfer = TransferStore::open(&client, &layout).await.unwrap();
    let objects = async_nats::jetstream::new(client.clone())
        .get_object_store(layout.names.transfer_store())
        .await
        .unwrap();
    let mut requests =
        client.subscribe(format!("{}.http.web.*", protocol::subjects::DEFAULT_PREFIX)).await.unwrap();
    client.flush().await.unwrap();
    let (tx, seen) = mpsc::unbounded_channel();
    let responder = client.clone();
    let store = transfer.clone();
    tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            let reply_to = message.reply.clone().unwrap();
            let (headers, payload) = stand_in(&store, &message).await;
            responder.publish_with_headers(reply_to, headers, payload).await.unwrap();
            let _ = tx.send(message);
        }
    });
    let mut config = api::ApiConfig::local(nats.url());
    tune(&mut config);
    let state = api::AppState::new(config, client.clone()).unwrap();
    Setup { _nats: nats, router: api::routes::router(state), seen, transfer, objects, client }
}

/// What an executor would answer.
async fn stand_in(store: &TransferStore, message: &Message) -> (HeaderMap, Bytes) {
    let function = message.subject.rsplit('.').next().unwrap().to_owned();
    let failure =
        |code, text: &str| bus::encode_reply("r", Err(ExecFailure::from(ErrorBody::new(code, text))));
    let mut reply = match function.as_str() {
        "echo" | "big" => {
            let mut map = HeaderMap::new();
            map.insert(headers::STATUS, headers::STATUS_OK);
            map.insert(headers::HTTP_STATUS, "201");
            map.insert("content-type", "application/x-echo");
            map.insert("x-echo", "1");
            map.append("set-cookie", "a=1");
            map.append("set-cookie", "b=2");
            // Neither may reach the client.
            map.insert("connection", "close");
            map.insert("authorization", "Bearer leaked");
            let body = match message.headers.as_ref().and_then(|h| h.get(headers::HTTP_BODY_STAGED)) {
                Some(name) => {
                    let staged = StagedObject { name: name.as_str().to_owned(), size: 0 };
                    store.take(&staged, u64::MAX).await.unwrap()
                }
                None => message.payload.clone(),
            };
            if function == "big" {
                let answer: Vec<u8> = body.iter().rev().copied().collect();
                let staged = store.stage(Bytes::from(answer)).await.unwrap();
                map.insert(headers::HTTP_BODY_STAGED, staged.name.as_str());
                (map, Bytes::new())
            } else {
                (map, body)
            }
        }
        "trap" => failure(ErrorCode::FunctionTrapped, "wasm trap: unreachable"),
        "spin" => failure(ErrorCode::FunctionTimeout, "past 5 s"),
        "exec" => failure(ErrorCode::WrongWorld, "web/exec is an exec function: call /exec/web/exec"),
        "busy" => failure(ErrorCode::ConcurrencyLimited, "1 call running"),
        "nosuch" => failure(ErrorCode::FunctionNotFound, "no function web/nosuch"),
        other => panic!("the stand-in has no function {other}"),
    };
    reply.0.insert(headers::EXECUTOR, "stand-in");
    reply.0.insert(headers::DIGEST, "d1g35t");
    reply.0.insert(headers::CACHE, "memory");
    reply
}

async fn send(router: &axum::Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Bytes) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
}

fn error_code(body: &Bytes) -> String {
    let json: Value = serde_json::from_slice(body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    json["error"]["code"].as_str().unwrap().to_owned()
}

fn values<'a>(message: &'a Message, name: &str) -> Vec<&'a str> {
    message.headers.as_ref().unwrap().get_all(name).map(|v| v.as_str()).collect()
}

#[tokio::test]
async fn the_request_crosses_as_sent_and_the_answer_comes_back_as_the_function_gave_it() {
    let mut s = setup(|_| {}).await;
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let request = Request::patch("/run/web/echo/a/b%20c/?x=1&y=%20z")
        .header("x-request-id", "run-1")
        .header("authorization", "Bearer not-for-the-function")
        .header("x-custom", "v")
        .header("accept", "text/plain")
        .header("accept", "application/json")
        .header("connection", "keep-alive")
        .header("te", "trailers")
        .header("faas-http-path", "/spoofed")
        .header("faas-status", "ok")
        .header("nats-msg-id", "spoofed")
        .header("content-type", "application/octet-stream")
        .body(Body::from(every_byte.clone()))
        .unwrap();
    let (status, headers, body) = send(&s.router, request).await;

    // The answer: the function's status, headers and bytes, plus the
    // platform's headers, and nothing hop-by-hop or credential-like.
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body.as_ref(), every_byte.as_slice(), "binary body round-trips");
    assert_eq!(headers["content-type"], "application/x-echo");
    assert_eq!(headers["x-echo"], "1");
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert!(!headers.contains_key("connection") && !headers.contains_key("authorization"), "{headers:?}");
    assert!(!headers.keys().any(|name| name.as_str().starts_with("faas-")), "{headers:?}");
    assert_eq!(headers["x-faas-executor"], "stand-in");
    assert_eq!(headers["x-faas-digest"], "d1g35t");
    assert_eq!(headers["x-faas-cache"], "memory");
    assert_eq!(headers["x-request-id"], "run-1");

    // The request on the bus.
    let seen = s.seen.recv().await.unwrap();
    assert_eq!(seen.subject.as_str(), "faas.http.web.echo");
    assert_eq!(values(&seen, headers::HTTP_METHOD), ["PATCH"]);
    assert_eq!(values(&seen, headers::HTTP_PATH), ["/a/b%20c/"], "percent-encoding kept");
    assert_eq!(values(&seen, headers::HTTP_QUERY), ["x=1&y=%20z"]);
    assert_eq!(values(&seen, headers::REQUEST_ID), ["run-1"]);
    assert_eq!(values(&seen, "x-custom"), ["v"]);
    assert_eq!(values(&seen, "accept"), ["text/plain", "application/json"], "repeated values kept");
    assert_eq!(values(&seen, "content-type"), ["application/octet-stream"]);
    let names: Vec<&str> =
        seen.headers.as_ref().unwrap().iter().map(|(name, _)| AsRef::<str>::as_ref(name)).collect();
    for absent in ["authorization", "connection", "te", "faas-http-path", "faas-status", "nats-msg-id"] {
        assert!(!names.contains(&absent), "{absent} was forwarded: {names:?}");
    }
    assert!(!names.contains(&headers::HTTP_BODY_STAGED) && !names.contains(&headers::EXPECT_WORLD));
    assert_eq!(seen.payload.as_ref(), every_byte.as_slice());

    // No path after the function: `/`, and no query header.
    let (status, _, body) = send(&s.router, Request::get("/run/web/echo").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(body.is_empty());
    let seen = s.seen.recv().await.unwrap();
    assert_eq!(values(&seen, headers::HTTP_METHOD), ["GET"]);
    assert_eq!(values(&seen, headers::HTTP_PATH), ["/"]);
    assert!(values(&seen, headers::HTTP_QUERY).is_empty());
    // A trailing slash: `/` too.
    let (status, _, _) = send(&s.router, Request::get("/run/web/echo/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(values(&s.seen.recv().await.unwrap(), headers::HTTP_PATH), ["/"]);
    // Every method the route serves reaches the function.
    for method in ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"] {
        let request = Request::builder().method(method).uri("/run/web/echo/m").body(Body::empty()).unwrap();
        let (status, _, _) = send(&s.router, request).await;
        assert_eq!(status, StatusCode::CREATED, "{method}");
        assert_eq!(values(&s.seen.recv().await.unwrap(), headers::HTTP_METHOD), [method]);
    }
}

#[tokio::test]
async fn a_5_mb_body_is_staged_both_ways_and_the_staged_objects_are_gone_after() {
    let mut s = setup(|_| {}).await;
    let sent: Vec<u8> = (0..BIG).map(|i| (i * 7 % 251) as u8).collect();
    let request = Request::put("/run/web/big/upload").body(Body::from(sent.clone())).unwrap();
    let (status, headers, body) = send(&s.router, request).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["x-echo"], "1");
    let expected: Vec<u8> = sent.iter().rev().copied().collect();
    assert_eq!(body.len(), BIG);
    assert!(body.as_ref() == expected.as_slice(), "the staged answer streams back whole");

    let seen = s.seen.recv().await.unwrap();
    assert!(seen.payload.is_empty(), "a staged body is not in the message");
    let staged = values(&seen, headers::HTTP_BODY_STAGED)[0].to_owned();
    // Both objects were deleted: the request's by the stand-in (and the
    // api), the answer's by the api once it was read to the end.
    assert!(matches!(s.transfer.take_stream(&staged).await, Err(bus::TransferError::Missing(_))));
    // A body that fits one message alone, but not beside its headers.
    let fits_alone = protocol::headers::payload_limit(s.client.server_info().max_payload) - 100;
    let request = Request::post("/run/web/big/x")
        .header("x-big", "v".repeat(8 << 10))
        .body(Body::from(vec![3u8; fits_alone]))
        .unwrap();
    let (status, _, body) = send(&s.router, request).await;
    assert_eq!((status, body.len()), (StatusCode::CREATED, fits_alone));
    let seen = s.seen.recv().await.unwrap();
    assert!(seen.payload.is_empty() && !values(&seen, headers::HTTP_BODY_STAGED).is_empty());

    let left: Vec<_> = s.objects.list().await.unwrap().collect().await;
    assert!(left.is_empty(), "nothing is left in the transfer store: {left:?}");
}

#[tokio::test]
async fn platform_failures_are_the_platforms_json_errors() {
    let s = setup(|_| {}).await;
    for (function, status, code) in [
        ("trap", 500, "function_trapped"),
        ("spin", 504, "function_timeout"),
        ("exec", 400, "wrong_world"),
        ("busy", 429, "concurrency_limited"),
        ("nosuch", 404, "function_not_found"),
    ] {
        let request = Request::post(format!("/run/web/{function}/x")).body(Body::from("in")).unwrap();
        let (got, headers, body) = send(&s.router, request).await;
        assert_eq!((got.as_u16(), error_code(&body).as_str()), (status, code), "{function}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["x-faas-executor"], "stand-in", "{function}");
    }
    let request = Request::post("/run/web/exec").body(Body::empty()).unwrap();
    let (_, _, body) = send(&s.router, request).await;
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert!(json["error"]["message"].as_str().unwrap().contains("/exec/web/exec"), "{json}");

    // No executor serves the bucket: 503 at once, as for /exec.
    let (status, _, body) = send(&s.router, Request::get("/run/other/f1").body(Body::empty()).unwrap()).await;
    assert_eq!((status, error_code(&body).as_str()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
    // Names are checked before anything is sent.
    let (status, _, body) =
        send(&s.router, Request::get("/run/web/Bad.Name/x").body(Body::empty()).unwrap()).await;
    assert_eq!((status, error_code(&body).as_str()), (StatusCode::BAD_REQUEST, "invalid_name"));
}

#[tokio::test]
async fn a_body_past_the_limit_is_413_while_it_arrives() {
    let mut s = setup(|config| config.run_max_body_bytes = 64 << 10).await;
    let request = Request::post("/run/web/echo").body(Body::from(vec![1u8; (64 << 10) + 1])).unwrap();
    let (status, _, body) = send(&s.router, request).await;
    assert_eq!((status, error_code(&body).as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert!(json["error"]["message"].as_str().unwrap().contains("FAAS_RUN_MAX_BODY_BYTES"), "{json}");
    // A body that never ends is refused once it passes the limit: it is
    // not buffered to its end first.
    let endless = futures::stream::repeat_with(|| Ok::<_, std::io::Error>(Bytes::from(vec![2u8; 4096])));
    let request = Request::post("/run/web/echo/x").body(Body::from_stream(endless)).unwrap();
    let (status, _, _) = send(&s.router, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // At the limit it goes through.
    let request = Request::post("/run/web/echo").body(Body::from(vec![1u8; 64 << 10])).unwrap();
    let (status, _, body) = send(&s.router, request).await;
    assert_eq!((status, body.len()), (StatusCode::CREATED, 64 << 10));
    assert_eq!(
        s.seen.recv().await.unwrap().payload.len(),
        64 << 10,
        "only the call within the limit was sent"
    );
}

#[tokio::test]
async fn exec_asks_for_the_exec_world() {
    let s = setup(|_| {}).await;
    let client = s.client.clone();
    let mut requests = client.subscribe("faas.exec.web.hello").await.unwrap();
    client.flush().await.unwrap();
    let router = s.router.clone();
    let mut call = tokio::spawn(async move {
        send(&router, Request::post("/exec/web/hello").body(Body::from("in")).unwrap()).await
    });
    let request = tokio::select! {
        request = requests.next() => request.unwrap(),
        answer = &mut call => panic!("answered without an executor: {answer:?}"),
    };
    assert_eq!(values(&request, headers::EXPECT_WORLD), [protocol::World::Exec.as_str()]);
    let (map, payload) = bus::encode_reply("r", Ok(Bytes::from_static(b"out")));
    client.publish_with_headers(request.reply.unwrap(), map, payload).await.unwrap();
    let (status, _, body) = call.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["result"], "out");
}
