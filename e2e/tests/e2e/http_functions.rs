//! HTTP functions (world `wasi:http/proxy`) through the api's `/run` route,
//! on a whole platform, with the guest `echo-http`: it answers GET with
//! JSON `{method, path, query, headers}`, echoes a POST's or PUT's body
//! with its `content-type`, takes its status from `?status=N`, always sets
//! `x-echo: 1`, panics on `/trap` and loops forever on `/spin`.

use e2e::{Platform, error_code, json};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const GUEST: &str = "echo-http";

async fn platform() -> Platform {
    let platform = Platform::start().await;
    platform.create_bucket("web").await;
    platform.deploy("web", "echo", GUEST).await;
    platform.deploy("web", "hello", "hello").await;
    platform
}

fn run(platform: &Platform, method: Method, path: &str) -> reqwest::RequestBuilder {
    platform.http.request(method, platform.url(&format!("/run/web/{path}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_handler_sees_method_path_query_and_headers_and_sets_its_answer() {
    let platform = platform().await;
    let response = run(&platform, Method::GET, "echo/a/b%20c?x=1&y=two")
        .header("x-custom", "v")
        .header("cookie", "k=v")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-echo"], "1");
    assert!(response.headers().contains_key("x-faas-digest"));
    assert!(response.headers().contains_key("x-faas-executor"));
    let (status, body) = json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["method"], "GET");
    assert_eq!(body["path"], "/a/b%20c");
    assert_eq!(body["query"], "x=1&y=two");
    let headers = body["headers"].to_string();
    assert!(headers.contains("x-custom") && headers.contains("k=v"), "{headers}");
    // The platform's token is not the function's.
    assert!(!headers.to_lowercase().contains("authorization"), "{headers}");

    // No path: `/`; every method reaches the handler.
    let (_, body) = json(run(&platform, Method::GET, "echo").send().await.unwrap()).await;
    assert_eq!(body["path"], "/");
    for method in [Method::DELETE, Method::PATCH, Method::OPTIONS] {
        let response = run(&platform, method.clone(), "echo/m?status=200").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert_eq!(response.headers()["x-echo"], "1", "{method}");
    }
    let response = run(&platform, Method::HEAD, "echo/m").send().await.unwrap();
    assert_eq!(response.headers()["x-echo"], "1");

    for status in [201u16, 404, 500] {
        let response = run(&platform, Method::GET, &format!("echo/s?status={status}")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "the handler's status passes through");
        assert_eq!(response.headers()["x-echo"], "1");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["method"], "GET", "the handler's body, not a platform error: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_are_binary_safe_up_to_5_mb() {
    let platform = platform().await;
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let response = run(&platform, Method::POST, "echo/bytes")
        .header("content-type", "application/x-bytes")
        .body(every_byte.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-bytes");
    assert_eq!(response.bytes().await.unwrap().as_ref(), every_byte.as_slice());

    // Five times a stock nats-server's max_payload: staged both ways.
    let big: Vec<u8> = (0..5_000_000usize).map(|i| (i % 253) as u8).collect();
    let response = run(&platform, Method::PUT, "echo/big?status=201")
        .header("content-type", "application/octet-stream")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let answer = response.bytes().await.unwrap();
    assert_eq!(answer.len(), big.len());
    assert!(answer.as_ref() == big.as_slice(), "the 5 MB body came back as sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn traps_timeouts_and_the_wrong_world_are_platform_errors() {
    let platform = platform().await;
    let (status, body) = json(run(&platform, Method::GET, "echo/trap").send().await.unwrap()).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::INTERNAL_SERVER_ERROR, "function_trapped"));
    let (status, body) = json(run(&platform, Method::GET, "echo/spin").send().await.unwrap()).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::GATEWAY_TIMEOUT, "function_timeout"));

    // `/exec` on an HTTP function, `/run` on an exec function: 400 naming
    // the right route.
    let (status, body) = platform.exec("web", "echo", "hi").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "wrong_world");
    assert!(message.contains("/run/web/echo"), "{message}");
    let (status, body) = json(run(&platform, Method::GET, "hello").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "wrong_world");
    assert!(message.contains("/exec/web/hello"), "{message}");

    let (status, body) = json(run(&platform, Method::GET, "nosuch/x").send().await.unwrap()).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "function_not_found"));
}
