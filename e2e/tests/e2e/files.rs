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
        ("noexport", wat::parse_str(NO_EXPORT).unwrap(), "exports neither `exec"),
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

/// A valid `exec` component carrying one more core module (never
/// instantiated, but compiled all the same) of `functions` functions, each
/// `ops` steps of arithmetic over `locals` live values: quick to generate,
/// slow to compile. Each step has a signed division, whose two trap checks
/// make blocks for the register allocator: about 30 µs a step on an idle
/// core of the 2-core machine it was measured on (150,000 steps: about 5 s,
/// so several times the test's 1 s limit even on a faster machine; steps
/// without a division compiled ~25× faster and let the test pass only on
/// a busy machine). The module is encoded by hand (WAT text for it would
/// take longer to parse than to compile).
fn slow_to_compile(functions: u32, ops: u32, locals: u32) -> Vec<u8> {
    fn leb(mut n: u32, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { byte } else { byte | 0x80 });
            if n == 0 {
                break;
            }
        }
    }
    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u32, out);
        out.extend_from_slice(body);
    }
    let mut body = Vec::new();
    leb(1, &mut body);
    leb(locals, &mut body);
    body.push(0x7e); // i64 locals
    for i in 0..ops {
        let [a, b, c, d] = [i * 7 + 3, i * 31 + 1, i * 5, i * 3 + 2].map(|n| n % (locals + 1));
        for (op, local) in [(0x20, a), (0x20, b)] {
            body.push(op);
            leb(local, &mut body);
        }
        body.push(0x7e); // i64.mul
        body.push(0x20);
        leb(c, &mut body);
        body.push(0x7f); // i64.div_s
        body.push(0x21); // local.set
        leb(d.max(1), &mut body);
    }
    body.extend_from_slice(&[0x20, 0x01, 0x0b]); // local.get 1, end
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[0x01, 0x60, 0x01, 0x7e, 0x01, 0x7e], &mut module); // (i64) -> i64
    let mut funcs = Vec::new();
    leb(functions, &mut funcs);
    funcs.extend(std::iter::repeat_n(0u8, functions as usize));
    section(3, &funcs, &mut module);
    let mut code = Vec::new();
    leb(functions, &mut code);
    for _ in 0..functions {
        leb(body.len() as u32, &mut code);
        code.extend_from_slice(&body);
    }
    section(10, &code, &mut module);

    let mut component = wat::parse_str(
        r#"(component
          (core module $m
            (memory (export "memory") 1)
            (func (export "exec") (param i32 i32) (result i32) i32.const 0)
            (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 16))
          (core instance $i (instantiate $m))
          (func (export "exec") (param "input" string) (result string)
            (canon lift (core func $i "exec") (memory (core memory $i "memory")) (realloc (core func $i "realloc")))))"#,
    )
    .expect("valid WAT");
    section(1, &module, &mut component); // a core module section
    component
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_component_slower_to_compile_than_the_limit_is_refused_with_422() {
    let platform = Platform::start_with_dispatcher(|config| config.validate_timeout_secs = 1).await;
    platform.create_bucket("functions").await;

    let started = std::time::Instant::now();
    let (status, body) = platform.upload("functions", "slow", slow_to_compile(1, 150_000, 15)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "compile_limit_exceeded");
    assert!(message.contains("1 s") && message.contains("FAAS_VALIDATE_TIMEOUT_SECS"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());

    // The abandoned compile runs on to its end (taking the CPU meanwhile, so
    // a small upload may be refused as well), then the dispatcher is as before.
    let hello = stack::guests::guest_bytes("hello");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, body) = platform.upload("functions", "hello", hello.clone()).await;
        if status == StatusCode::CREATED {
            break;
        }
        assert_eq!(error_code(&body).0, "compile_limit_exceeded", "{body}");
        assert!(std::time::Instant::now() < deadline, "uploads never recovered");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let (status, _) = platform.exec("functions", "hello", r#"{"name":"Ada"}"#).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_component_with_more_memories_than_a_call_may_hold_is_refused_at_upload() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let holders: String =
        (0..9).map(|i| format!("(core instance $holder{i} (instantiate $holder))\n")).collect();
    let wat = format!(
        r#"(component
          (core module $holder (memory (export "memory") 1))
          {holders}
          (core module $m
            (memory (export "memory") 1)
            (func (export "exec") (param i32 i32) (result i32) i32.const 0)
            (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 16))
          (core instance $i (instantiate $m))
          (func (export "exec") (param "input" string) (result string)
            (canon lift (core func $i "exec") (memory (core memory $i "memory")) (realloc (core func $i "realloc")))))"#
    );
    let (status, body) = platform.upload("functions", "greedy", wat::parse_str(wat).unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "invalid_component");
    assert!(message.contains("10 Wasm linear memories") && message.contains("maximum of 8"), "{message}");
}
