//! The requests the load generator sends, each checking its answer.
//!
//! A fast wrong answer must not pass for throughput, so every request compares
//! the reply with the expected bytes (a byte comparison, cheap next to the
//! request itself) and anything else counts as an error.

use std::sync::Arc;

use anyhow::{Context as _, bail, ensure};
use async_nats::Subject;
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;

use crate::load::{Op, REQUEST_TIMEOUT};

/// Input of every `hello` call.
pub const HELLO_INPUT: &[u8] = br#"{"name":"World"}"#;
/// What `hello` returns for [`HELLO_INPUT`].
pub const HELLO_OUTPUT: &[u8] = b"Hello World, how are you?";
/// The api's answer to a `hello` call: serde_json writes it exactly so.
pub const HELLO_HTTP_ANSWER: &[u8] = br#"{"result":"Hello World, how are you?"}"#;

/// Reply header with the executor's verdict; spelled here rather than taken
/// from `faas-protocol` so the bench measures the wire contract as a plain
/// client sees it.
const STATUS_HEADER: &str = "Faas-Status";
const ERROR_CODE_HEADER: &str = "Faas-Error-Code";

/// `POST url` with `body`, expecting 200 and exactly `expected`.
pub fn http_post(http: &reqwest::Client, url: String, body: &'static [u8], expected: &'static [u8]) -> Op {
    let http = http.clone();
    let url: Arc<str> = url.into();
    Arc::new(move || {
        let (http, url) = (http.clone(), url.clone());
        Box::pin(async move {
            let resp = http
                .post(&*url)
                .header(CONTENT_TYPE, "application/json")
                .body(body)
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await?;
            let status = resp.status();
            let answer = resp.bytes().await.context("read the answer")?;
            if status != StatusCode::OK {
                bail!("HTTP {status}: {}", String::from_utf8_lossy(&answer));
            }
            ensure!(answer == expected, "unexpected answer {:?}", String::from_utf8_lossy(&answer));
            Ok(())
        })
    })
}

/// `POST url` with `body`, expecting 200 and an answer `accept` takes
/// (for functions whose answer changes per call, such as a counter).
pub fn http_post_checked(
    http: &reqwest::Client,
    url: String,
    body: &'static [u8],
    accept: fn(&[u8]) -> bool,
) -> Op {
    let http = http.clone();
    let url: Arc<str> = url.into();
    Arc::new(move || {
        let (http, url) = (http.clone(), url.clone());
        Box::pin(async move {
            let resp = http.post(&*url).body(body).timeout(REQUEST_TIMEOUT).send().await?;
            let status = resp.status();
            let answer = resp.bytes().await.context("read the answer")?;
            if status != StatusCode::OK {
                bail!("HTTP {status}: {}", String::from_utf8_lossy(&answer));
            }
            ensure!(accept(&answer), "unexpected answer {:?}", String::from_utf8_lossy(&answer));
            Ok(())
        })
    })
}

/// Whether `answer` is the api's answer of `counter`: `{"result":"<n>"}`.
pub fn is_count(answer: &[u8]) -> bool {
    answer
        .strip_prefix(br#"{"result":""#)
        .and_then(|rest| rest.strip_suffix(br#""}"#))
        .is_some_and(|digits| !digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
}

/// A NATS request on `subject`, expecting `expected` as the reply payload.
///
/// With `faas_status`, the reply must also carry `Faas-Status: ok`, as exec
/// replies do; the echo floor has no such header.
pub fn nats_request(
    client: &async_nats::Client,
    subject: String,
    payload: &'static [u8],
    expected: &'static [u8],
    faas_status: bool,
) -> Op {
    let client = client.clone();
    let subject = Subject::from(subject);
    let payload = Bytes::from_static(payload);
    Arc::new(move || {
        let (client, subject, payload) = (client.clone(), subject.clone(), payload.clone());
        Box::pin(async move {
            let request = async_nats::Request::new().payload(payload).timeout(Some(REQUEST_TIMEOUT));
            let reply = client.send_request(subject, request).await?;
            if faas_status {
                let header =
                    |name| reply.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_owned());
                if header(STATUS_HEADER).as_deref() != Some("ok") {
                    bail!(
                        "{}: {}",
                        header(ERROR_CODE_HEADER).unwrap_or_else(|| "no Faas-Status: ok".to_owned()),
                        String::from_utf8_lossy(&reply.payload)
                    );
                }
            }
            ensure!(
                reply.payload == expected,
                "unexpected reply {:?}",
                String::from_utf8_lossy(&reply.payload)
            );
            Ok(())
        })
    })
}

/// `method url` with `body`, expecting 200 and exactly `expected`: a call of
/// an HTTP function through `/run`, whose answer is the handler's own body.
pub fn http_request(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: &'static [u8],
    expected: &'static [u8],
) -> Op {
    let http = http.clone();
    let url: Arc<str> = url.into();
    Arc::new(move || {
        let (http, url, method) = (http.clone(), url.clone(), method.clone());
        Box::pin(async move {
            let resp = http.request(method, &*url).body(body).timeout(REQUEST_TIMEOUT).send().await?;
            let status = resp.status();
            let answer = resp.bytes().await.context("read the answer")?;
            if status != StatusCode::OK {
                bail!("HTTP {status}: {}", String::from_utf8_lossy(&answer));
            }
            ensure!(answer == expected, "unexpected answer {:?}", String::from_utf8_lossy(&answer));
            Ok(())
        })
    })
}
