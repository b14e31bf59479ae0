//! Python and JavaScript guests (`functions/hello-py`, `functions/hello-js`,
//! built by `scripts/build-functions.sh`) run like the Rust `hello`: uploaded
//! through the api, called over HTTP and over plain NATS, their stdout in the
//! logs, and a second call served warm from the executor's memory.
//!
//! They carry an interpreter (tens of MB, many core instances), which is what
//! this exercises beyond the Rust tests: upload, validation, precompilation
//! and the per-call pool slot and memory budget. One platform serves both
//! languages, since each compile takes seconds.

use e2e::Platform;
use protocol::headers;
use reqwest::StatusCode;

/// How long an upload's compile may take here: the default (60 s) holds
/// the figures measured, but the test machine is shared.
const COMPILE_SECS: u64 = 300;

/// The guests and the line each writes to stdout per call.
const GUESTS: [(&str, &str); 2] = [("hello-py", "hello-py: "), ("hello-js", "hello-js: ")];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_and_javascript_guests_answer_like_the_rust_hello() {
    // An upload compiles in tens of seconds on a busy 2-core machine.
    let platform =
        Platform::start_with_dispatcher(|config| config.validate_timeout_secs = COMPILE_SECS).await;
    platform.create_bucket("langs").await;
    // At once: the dispatcher compiles two uploads in parallel.
    tokio::join!(
        platform.deploy("langs", "hello", "hello"),
        platform.deploy("langs", "hello-py", "hello-py"),
        platform.deploy("langs", "hello-js", "hello-js"),
    );

    let inputs = [r#"{"name":"World"}"#, r#"{"name":"Zoë 🦀"}"#, r#"{"name":"Ada","extra":[1,2]}"#];
    for input in inputs {
        let (status, rust) = platform.exec("langs", "hello", input).await;
        assert_eq!(status, StatusCode::OK, "{rust}");
        for (guest, _) in GUESTS {
            let (status, body) = platform.exec("langs", guest, input).await;
            assert_eq!((status, &body), (StatusCode::OK, &rust), "{guest} on {input}");
        }
    }
    // Bad input is an answer starting with `error:`, as in Rust, not a trap.
    for input in ["not json", r#"{"name":1}"#, r#"{"nom":"x"}"#] {
        for guest in ["hello", "hello-py", "hello-js"] {
            let (status, body) = platform.exec("langs", guest, input).await;
            assert_eq!(status, StatusCode::OK, "{guest} on {input}: {body}");
            let result = body["result"].as_str().unwrap_or_default();
            assert!(
                result.starts_with(r#"error: expected JSON {"name": "..."}"#),
                "{guest} on {input}: {body}"
            );
        }
    }

    for (guest, line) in GUESTS {
        // Logs: what the guest printed, over HTTP.
        let resp = platform
            .http
            .post(platform.url(&format!("/exec/langs/{guest}?logs=true")))
            .body(r#"{"name":"Logs"}"#)
            .send()
            .await
            .unwrap();
        // Every call after the first finds the compiled component in memory.
        let cache = resp.headers().get(protocol::http::CACHE_HEADER).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(cache.as_deref(), Some(headers::CACHE_MEMORY), "{guest}: the warm path");
        let (status, body) = e2e::json(resp).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["result"], "Hello Logs, how are you?");
        let stdout = body["stdout"].as_str().unwrap_or_default();
        assert!(stdout.starts_with(line) && stdout.ends_with('\n'), "{guest} stdout: {body}");

        // A plain NATS request, no api.
        let subject = format!("faas.exec.langs.{guest}");
        let reply = platform.client.request(subject, r#"{"name":"NATS"}"#.into()).await.unwrap();
        let hdrs = reply.headers.expect("status headers");
        assert_eq!(hdrs.get(headers::STATUS).map(|v| v.as_str()), Some("ok"), "{guest} over NATS");
        assert_eq!(hdrs.get(headers::CACHE).map(|v| v.as_str()), Some(headers::CACHE_MEMORY));
        assert_eq!(&reply.payload[..], b"Hello NATS, how are you?", "{guest} over NATS");
    }
}
