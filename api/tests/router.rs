//! Handler tests through `tower::ServiceExt::oneshot`, against a real
//! nats-server with no executor or dispatcher behind it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

async fn router() -> (stack::nats::NatsServer, axum::Router) {
    let nats = stack::nats::NatsServer::start().expect("nats-server starts");
    let client = nats.connect().await;
    let state = api::AppState::new(api::ApiConfig::local(nats.url()), client).unwrap();
    (nats, api::routes::router(state))
}

async fn call(router: &axum::Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, parts.headers, json)
}

#[tokio::test]
async fn invalid_names_are_400_with_the_rule_and_a_request_id() {
    let (_nats, router) = router().await;
    for uri in ["/bucket/UPPER", "/bucket/ab", "/bucket/dots.in.name"] {
        let (status, headers, body) = call(&router, Request::put(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body["error"]["code"], "invalid_name");
        assert!(body["error"]["message"].as_str().unwrap().contains("3 to 63 characters"));
        assert!(headers.contains_key("x-request-id"));
    }
    let request = Request::post("/exec/functions/bad*name").body(Body::empty()).unwrap();
    let (status, _, body) = call(&router, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("NATS subject token"));
}

#[tokio::test]
async fn a_client_request_id_is_kept() {
    let (_nats, router) = router().await;
    let request = Request::get("/health").header("x-request-id", "trace-42").body(Body::empty()).unwrap();
    let (status, headers, _) = call(&router, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-request-id"], "trace-42");
    // Not a token: replaced by a fresh uuid.
    let request = Request::get("/health").header("x-request-id", "a b").body(Body::empty()).unwrap();
    let (_, headers, _) = call(&router, request).await;
    assert_eq!(headers["x-request-id"].len(), 36);
}

#[tokio::test]
async fn no_services_means_503_not_a_timeout() {
    let (_nats, router) = router().await;
    let started = std::time::Instant::now();
    let request = Request::post("/exec/functions/hello").body(Body::from("{}")).unwrap();
    let (status, _, body) = call(&router, request).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "unavailable");
    let (status, _, body) = call(&router, Request::get("/bucket").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["error"]["message"].as_str().unwrap().contains("dispatcher"));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));

    let (status, _, body) = call(&router, Request::get("/ready").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["executor"], "none running");
}

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let (_nats, router) = router().await;
    let (status, _, body) = call(&router, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("/nope"));
    let (status, headers, body) =
        call(&router, Request::post("/exec/functions/hello/extra").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn with_nats_unreachable_every_route_that_needs_it_is_a_prompt_503() {
    let (mut nats, router) = router().await;
    nats.stop();
    let routes = [
        ("GET", "/bucket"),
        ("PUT", "/bucket/functions"),
        ("GET", "/bucket/functions"),
        ("DELETE", "/bucket/functions"),
        ("POST", "/file/functions/hello"),
        ("GET", "/file/functions/hello"),
        ("DELETE", "/file/functions/hello"),
        ("POST", "/exec/functions/hello"),
        ("POST", "/async/functions/hello"),
        ("POST", "/exec/pipeline/greet"),
        ("POST", "/async/pipeline/greet"),
        ("GET", "/pipeline"),
        ("PUT", "/pipeline/greet"),
        ("GET", "/pipeline/greet"),
        ("DELETE", "/pipeline/greet"),
        ("GET", "/trigger"),
        ("PUT", "/trigger/t1"),
        ("GET", "/trigger/t1"),
        ("DELETE", "/trigger/t1"),
        ("GET", "/jobs"),
        ("GET", "/jobs/5f6b1c2e-8d3a-4e7b-9c1d-2a3b4c5d6e7f"),
        ("POST", "/jobs/5f6b1c2e-8d3a-4e7b-9c1d-2a3b4c5d6e7f/redrive"),
    ];
    for (method, uri) in routes {
        let request = Request::builder().method(method).uri(uri).body(Body::from("{}")).unwrap();
        let started = std::time::Instant::now();
        let (status, _, body) = call(&router, request).await;
        let elapsed = started.elapsed();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method} {uri}: {body}");
        assert_eq!(body["error"]["code"], "unavailable", "{method} {uri}");
        assert!(elapsed < std::time::Duration::from_millis(100), "{method} {uri} took {elapsed:?}");
    }
    // The probes and the metrics answer at once without NATS.
    let started = std::time::Instant::now();
    let (status, _, _) = call(&router, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(&router, Request::get("/ready").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let response =
        router.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() < std::time::Duration::from_millis(100), "{:?}", started.elapsed());
    // The refusals above are counted, by route template and status.
    let text = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(text.to_vec()).unwrap();
    let refused = r#"faas_http_requests_total{method="GET",route="/bucket",status="503"} 1"#;
    assert!(text.contains(refused), "{text}");
    assert!(text.contains("# TYPE faas_http_request_duration_seconds histogram"), "{text}");
}

#[tokio::test]
async fn function_configs_are_checked_before_a_dispatcher_sees_them() {
    let (_nats, router) = router().await;
    let put = |body: String| Request::put("/config/functions/hello").body(Body::from(body)).unwrap();
    for (body, words) in [
        (r#"{"env": {"1BAD": "x"}}"#.to_owned(), "[A-Za-z_][A-Za-z0-9_]*"),
        (r#"{"env": {"K": "x"}, "secrets": {"K": null}}"#.to_owned(), "both in env and in secrets"),
        (r#"{"timeout_ms": 0}"#.to_owned(), "timeout_ms must be at least 1"),
        (r#"{"max_concurrency": 0}"#.to_owned(), "max_concurrency must be at least 1"),
        (r#"{"http_outgoing_allow": ["https://example.com"]}"#.to_owned(), "not a DNS name"),
        (r#"{"environment": {}}"#.to_owned(), "unknown field"),
        (format!(r#"{{"env": {{"K": "{}"}}}}"#, "v".repeat(70 << 10)), "bytes of names and values"),
    ] {
        let (status, _, answer) = call(&router, put(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{words}: {answer}");
        assert_eq!(answer["error"]["code"], "bad_request");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{message} should say {words}");
    }
    let (status, _, _) =
        call(&router, put(format!(r#"{{"env": {{"K": "{}"}}}}"#, "v".repeat(200 << 10)))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // No FAAS_SECRETS_KEY on this api: a secret is refused, never sent on in clear.
    let (status, _, answer) = call(&router, put(r#"{"secrets": {"TOKEN": "hunter2"}}"#.to_owned())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("FAAS_SECRETS_KEY"), "{answer}");
    assert!(!answer.to_string().contains("hunter2"));
}

#[tokio::test]
async fn an_exec_input_past_max_payload_is_413_naming_the_limit() {
    let (_nats, router) = router().await;
    let request = Request::post("/exec/functions/hello").body(Body::from(vec![b'x'; 2 << 20])).unwrap();
    let (status, _, body) = call(&router, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("(the NATS server's max_payload less headers) exceeds the limit of"),
        "{message}"
    );
}
