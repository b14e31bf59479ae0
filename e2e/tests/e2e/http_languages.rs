//! The Python and JavaScript HTTP handlers (`functions/echo-http-py`,
//! `functions/echo-http-js`, world `wasi:http/proxy`, built by
//! `scripts/build-functions.sh`) behave like the Rust `echo-http`: uploaded
//! through the api, called through `ANY /run/{b}/{f}/{*path}` and over plain
//! NATS on `<p>.http.<b>.<f>`, they see the method, path, query, headers and
//! a binary body, and their status and headers come back as they set them.
//!
//! They carry an interpreter (tens of MB), so one platform serves both
//! languages and the uploads compile in parallel.

use e2e::Platform;
use protocol::headers;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

/// How long an upload's compile may take here: the default (60 s) holds
/// the figures measured, but the test machine is shared.
const COMPILE_SECS: u64 = 300;

/// The guests and the `lang` each names in its JSON answer.
const GUESTS: [(&str, &str); 2] = [("echo-http-py", "python"), ("echo-http-js", "javascript")];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_and_javascript_http_handlers_echo_the_request() {
    let platform =
        Platform::start_with_dispatcher(|config| config.validate_timeout_secs = COMPILE_SECS).await;
    platform.create_bucket("webs").await;
    tokio::join!(
        platform.deploy("webs", "echo-http-py", "echo-http-py"),
        platform.deploy("webs", "echo-http-js", "echo-http-js"),
    );
    let every_byte: Vec<u8> = (0..=255).collect();

    for (guest, lang) in GUESTS {
        // GET: the request as the handler saw it, as JSON.
        let resp = platform
            .http
            .get(platform.url(&format!("/run/webs/{guest}/some/path?x=1")))
            .header("x-test", "hello")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{guest}");
        assert_eq!(header(&resp, "x-echo"), Some("1"), "{guest}");
        assert_eq!(header(&resp, CONTENT_TYPE.as_str()), Some("application/json"), "{guest}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["method"], "GET", "{guest}: {body}");
        assert_eq!(body["path"], "/some/path", "{guest}: {body}");
        assert_eq!(body["query"], "x=1", "{guest}: {body}");
        assert_eq!(body["headers"]["x-test"], "hello", "{guest}: {body}");
        assert_eq!(body["lang"], lang, "{guest}: {body}");
        // The platform's bearer token is not the function's.
        assert!(body["headers"].get("authorization").is_none(), "{guest}: {body}");

        // POST: every byte value back, with the request's content type.
        let resp = platform
            .http
            .post(platform.url(&format!("/run/webs/{guest}/upload")))
            .header(CONTENT_TYPE, "application/x-every-byte")
            .body(every_byte.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{guest}");
        assert_eq!(header(&resp, "x-echo"), Some("1"), "{guest}");
        assert_eq!(header(&resp, CONTENT_TYPE.as_str()), Some("application/x-every-byte"), "{guest}");
        assert_eq!(resp.bytes().await.unwrap(), every_byte, "{guest}: the body, byte for byte");

        // `?status=N` on any method (on `/run/{b}/{f}` itself: path `/`).
        for (method, status) in
            [(reqwest::Method::GET, 201), (reqwest::Method::PUT, 404), (reqwest::Method::POST, 500)]
        {
            let resp = platform
                .http
                .request(method.clone(), platform.url(&format!("/run/webs/{guest}?status={status}")))
                .body("status")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), status, "{guest} {method}");
            assert_eq!(header(&resp, "x-echo"), Some("1"), "{guest} {method}");
        }

        // The same over plain NATS: the request line in headers, the body as
        // the payload, the status and the handler's headers in the reply.
        let subject = format!("faas.http.webs.{guest}");
        let mut request = async_nats::HeaderMap::new();
        request.insert(headers::HTTP_METHOD, "POST");
        request.insert(headers::HTTP_PATH, "/from/nats");
        request.insert(headers::HTTP_QUERY, "status=202");
        request.insert("content-type", "application/octet-stream");
        let reply = platform
            .client
            .request_with_headers(subject.clone(), request, every_byte.clone().into())
            .await
            .unwrap();
        let hdrs = reply.headers.expect("reply headers");
        assert_eq!(hdrs.get(headers::HTTP_STATUS).map(|v| v.as_str()), Some("202"), "{guest} over NATS");
        assert_eq!(hdrs.get("x-echo").map(|v| v.as_str()), Some("1"), "{guest} over NATS");
        assert_eq!(
            hdrs.get("content-type").map(|v| v.as_str()),
            Some("application/octet-stream"),
            "{guest} over NATS"
        );
        assert_eq!(&reply.payload[..], &every_byte[..], "{guest} over NATS");

        let mut request = async_nats::HeaderMap::new();
        request.insert(headers::HTTP_METHOD, "GET");
        request.insert(headers::HTTP_PATH, "/nats");
        request.insert(headers::HTTP_QUERY, "a=b");
        request.insert("x-test", "over-nats");
        let reply = platform.client.request_with_headers(subject, request, Default::default()).await.unwrap();
        let hdrs = reply.headers.expect("reply headers");
        assert_eq!(hdrs.get(headers::HTTP_STATUS).map(|v| v.as_str()), Some("200"), "{guest} over NATS");
        let body: Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(body["method"], "GET", "{guest} over NATS: {body}");
        assert_eq!(body["path"], "/nats", "{guest} over NATS: {body}");
        assert_eq!(body["query"], "a=b", "{guest} over NATS: {body}");
        assert_eq!(body["headers"]["x-test"], "over-nats", "{guest} over NATS: {body}");
        assert_eq!(body["lang"], lang, "{guest} over NATS: {body}");
    }
}

/// A response header as text, if present.
fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}
