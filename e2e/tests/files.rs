//! Uploading, validating, downloading and deleting components.

use e2e::{Platform, error_code, json};
use reqwest::StatusCode;

/// A component whose only export is `exec: func() -> string`.
const WRONG_SIGNATURE: &str = r#"
(component
  (core module $m
    (memory (export "memory") 1)
    (func (export "exec") (result i32) i32.const 0)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0))
  (core instance $i (instantiate $m))
  (func (export "exec") (result string)
    (canon lift (core func $i "exec") (memory (core memory $i "memory")) (realloc (core func $i "realloc")))))
"#;

/// A component that exports nothing.
const NO_EXPORT: &str = "(component)";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_are_checked_to_be_faas_components() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;

    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("random", b"these are not the bytes you are looking for".to_vec(), "not a WebAssembly binary"),
        ("core", wat::parse_str("(module (func (export \"exec\")))").unwrap(), "core WebAssembly module"),
        ("noexport", wat::parse_str(NO_EXPORT).unwrap(), "does not export `exec"),
        ("wrongsig", wat::parse_str(WRONG_SIGNATURE).unwrap(), "must be `func(input: string) -> string`"),
    ];
    for (name, bytes, expected) in cases {
        let (status, body) = platform.upload("functions", name, bytes).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        let (code, message) = error_code(&body);
        assert_eq!(code, "invalid_component", "{name}");
        assert!(message.contains(expected), "{name}: {message}");
    }
    // Nothing invalid was stored.
    let resp = platform.http.get(platform.url("/bucket/functions")).send().await.unwrap();
    let (_, body) = json(resp).await;
    assert_eq!(body["functions"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upload_download_delete_round_trip() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let hello = stack::guests::guest_bytes("hello");

    // Raw body, as well as the multipart form the original used.
    let resp = platform
        .http
        .post(platform.url("/file/functions/hello"))
        .header("content-type", "application/wasm")
        .body(hello.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["size"], hello.len());
    assert_eq!(body["digest"].as_str().unwrap().len(), 64);

    let resp = platform.http.get(platform.url("/bucket/functions")).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::OK);
    let listed = &body["functions"][0];
    assert_eq!(listed["name"], "hello");
    assert_eq!(listed["size"], hello.len());
    assert!(listed["etag"].is_string() && listed["last_modified"].is_string(), "{listed}");

    let resp = platform.http.get(platform.url("/file/functions/hello")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/wasm");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), hello.as_slice());

    let resp = platform.http.delete(platform.url("/file/functions/hello")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    for request in [
        platform.http.get(platform.url("/file/functions/hello")),
        platform.http.delete(platform.url("/file/functions/hello")),
    ] {
        let (status, body) = json(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(error_code(&body).0, "function_not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_uploads_get_clear_errors() {
    let platform = Platform::start_with(1, 1 << 20).await;
    let hello = stack::guests::guest_bytes("hello");

    let (status, body) = platform.upload("nobucket", "hello", hello.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body).0, "bucket_not_found");

    platform.create_bucket("functions").await;
    let (status, body) = platform.upload("functions", "hello.wasm", hello.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body).0, "invalid_name");

    let big = stack::guests::with_custom_section(&hello, (1 << 20) + 1);
    let (status, body) = platform.upload("functions", "big", big.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (code, message) = error_code(&body);
    assert_eq!(code, "payload_too_large");
    assert!(message.contains("1048576 bytes"), "{message}");
    let resp = platform.http.post(platform.url("/file/functions/big")).body(big).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let form = reqwest::multipart::Form::new().text("other", "x");
    let resp =
        platform.http.post(platform.url("/file/functions/hello")).multipart(form).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_code(&body).1.contains("\"file\""));

    let resp = platform.http.post(platform.url("/file/functions/hello")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "empty upload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_components_cross_a_stock_nats_server() {
    let platform = Platform::start().await;
    assert!(platform.client.server_info().max_payload <= 1 << 20, "stock max_payload");
    platform.create_bucket("functions").await;
    let hello = stack::guests::guest_bytes("hello");

    for (name, size) in [("five", 5 << 20), ("forty", 40 << 20)] {
        let component = stack::guests::with_custom_section(&hello, size);
        let (status, body) = platform.upload("functions", name, component.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        assert_eq!(body["size"], component.len());

        let resp = platform.http.get(platform.url(&format!("/file/functions/{name}"))).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let back = resp.bytes().await.unwrap();
        assert!(
            back.as_ref() == component.as_slice(),
            "{name}: {} bytes came back, not identical",
            back.len()
        );
    }
    // The padded component still runs.
    let (status, body) = platform.exec("functions", "five", r#"{"name":"Big"}"#).await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("Hello Big, how are you?")));
}
