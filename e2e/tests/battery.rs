//! The bad-input battery: 10,000 generated requests over every route
//! against a whole platform (loopback only, a fixed seed, bounded in count
//! and time): random and unknown methods, names at and past each limit,
//! malformed JSON, wrong content types, oversized and truncated bodies,
//! random headers, random multipart. No answer may be a 5xx other than the
//! documented 503 and 504, nothing may panic, the process's resident memory
//! may not grow by more than [`RSS_GROWTH_LIMIT`], and `hello` answers
//! throughout.
//!
//! The api runs in this process with the dispatcher and the executor, so
//! the memory bound holds for all three together.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2e::Platform;
use futures::StreamExt as _;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Requests sent.
const REQUESTS: usize = 10_000;
/// Requests in flight at once.
const CONCURRENCY: usize = 16;
/// Upload limit of the platform under test, so "past the limit" is cheap.
const UPLOAD_LIMIT: usize = 256 << 10;
/// How much the process's resident memory may grow during the battery.
const RSS_GROWTH_LIMIT: u64 = 256 << 20;
/// Longest any one request may take.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// A small xorshift generator: a fixed seed makes every run the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
    /// Text of `min` to `max` characters from `alphabet`.
    fn text(&mut self, min: usize, max: usize, alphabet: &[u8]) -> String {
        let len = min + self.below(max - min + 1);
        (0..len).map(|_| self.pick(alphabet) as char).collect()
    }
}

const TOKEN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_";
const WILD: &[u8] = b"abcXYZ09-_.*>$ %/\\\"'{}[]:;,~!";

/// A name for a path segment: valid, at a limit, past it, or broken.
fn name(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => "functions".into(),
        1 => "hello".into(),
        2 => "pipeline".into(),
        3 => format!("b{}", rng.text(61, 61, b"abc123-")).trim_end_matches('-').to_owned() + "z",
        4 => "a".repeat(63),
        5 => "a".repeat(64),
        6 => "f".repeat(128),
        7 => "f".repeat(129),
        8 => format!("x{}", rng.text(1, 6, WILD)).replace(['/', '%', '\\', ' ', '"'], "_"),
        9 => {
            rng.pick(&["%2E%2E", "a%00b", "%FF%FE", "UPPER", "dots.in.name", "-lead", "x*", "x>"]).to_string()
        }
        10 => "ab".into(),
        _ => format!("n{}", rng.text(2, 11, TOKEN)),
    }
}

fn path(rng: &mut Rng) -> String {
    let (a, b) = (name(rng), name(rng));
    let job = if rng.chance(50) { "5f6b1c2e-8d3a-4e7b-9c1d-2a3b4c5d6e7f".to_owned() } else { name(rng) };
    match rng.below(21) {
        0 => "/bucket".into(),
        1 => format!("/bucket/{a}"),
        2 | 3 => format!("/file/{a}/{b}"),
        4 | 5 => format!("/exec/{a}/{b}"),
        6 => format!("/async/{a}/{b}"),
        7 => format!("/exec/pipeline/{a}"),
        8 => format!("/async/pipeline/{a}"),
        9 => "/pipeline".into(),
        10 => format!("/pipeline/{a}"),
        11 => "/trigger".into(),
        12 => format!("/trigger/{a}"),
        13 => format!("/jobs?status={a}&limit={}", rng.below(5000)),
        14 => format!("/jobs/{job}"),
        15 => format!("/jobs/{job}/redrive"),
        16 => rng.pick(&["/health", "/ready", "/metrics", "/bucket/functions?force=maybe"]).to_string(),
        17 => format!("/exec/functions/hello?logs={a}"),
        18 => format!("/run/{a}/{b}/{}", name(rng)),
        19 => format!("/run/functions/hello/{a}?{b}"),
        _ => format!("/{a}/{b}/{}", name(rng)),
    }
}

fn method(rng: &mut Rng) -> &'static str {
    rng.pick(&[
        "GET", "GET", "POST", "POST", "POST", "PUT", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW", "X",
    ])
}

/// A method that `path`'s route serves.
fn route_method(rng: &mut Rng, path: &str) -> &'static str {
    let starts = |prefix: &str| path.starts_with(prefix);
    if starts("/run/") {
        rng.pick(&["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    } else if starts("/exec/") || starts("/async/") || path.ends_with("/redrive") {
        "POST"
    } else if starts("/file/") {
        rng.pick(&["POST", "POST", "GET", "DELETE"])
    } else if starts("/bucket/") || starts("/trigger/") || starts("/pipeline/") {
        rng.pick(&["PUT", "PUT", "GET", "DELETE"])
    } else {
        "GET"
    }
}

fn multipart(rng: &mut Rng) -> (String, Vec<u8>) {
    let boundary = rng.text(1, 30, TOKEN);
    let mut body = Vec::new();
    for _ in 0..rng.below(4) {
        let field = rng.pick(&["file", "file", "other", ""]).to_string();
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"").as_bytes(),
        );
        if rng.chance(10) {
            // A part header that runs past its limit.
            body.extend_from_slice(format!("; x=\"{}\"", "h".repeat(10 << 10)).as_bytes());
        }
        body.extend_from_slice(b"\r\n\r\n");
        let len = rng.below(4096);
        let data = rng.bytes(len);
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n");
    }
    if rng.chance(80) {
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    }
    let claimed = if rng.chance(90) { boundary } else { rng.text(8, 8, TOKEN) };
    (format!("multipart/form-data; boundary={claimed}"), body)
}

fn body(rng: &mut Rng) -> (Option<String>, Vec<u8>) {
    let json = Some("application/json".to_owned());
    match rng.below(11) {
        0 => (None, Vec::new()),
        1 => (json, br#"{"name":"battery"}"#.to_vec()),
        2 => (
            json,
            format!(r#"{{"subject":"{}","function":"functions/hello"}}"#, rng.text(8, 8, WILD)).into_bytes(),
        ),
        3 => (json, format!(r#"{{"steps":["functions/hello","{}"]}}"#, name(rng)).into_bytes()),
        4 => (json, rng.pick(&[&b"{"[..], b"{\"subject\":", b"[1,2", b"null", b"\"\xff\xfe\""]).to_vec()),
        5 => {
            let len = rng.below(2048);
            (
                Some(rng.pick(&["application/octet-stream", "text/plain", "application/wasm"]).to_string()),
                rng.bytes(len),
            )
        }
        6 => {
            let len = UPLOAD_LIMIT + 1 + rng.below(1 << 20);
            (None, vec![b'o'; len])
        }
        7 | 8 => {
            let (content_type, body) = multipart(rng);
            (Some(content_type), body)
        }
        9 => (Some("multipart/form-data".into()), rng.bytes(100)),
        _ => (Some(rng.text(10, 10, WILD)), b"\0asm\x01\0\0\0".to_vec()),
    }
}

/// One generated request.
struct Generated {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Sent over a raw socket: with a garbage header line, or cut short.
    raw: Option<RawFault>,
}

#[derive(Clone, Copy, Debug)]
enum RawFault {
    GarbageHeader,
    Truncated,
}

fn generate(rng: &mut Rng) -> Generated {
    let mut path = path(rng);
    // Mostly a method the route serves, so requests reach the handlers.
    let method = if rng.chance(30) { method(rng) } else { route_method(rng, &path) };
    // Keep what the liveness check calls.
    if method == "DELETE" || method == "POST" && path.starts_with("/file/") {
        path = path.replace("functions", "other-bucket").replace("hello", "other-fn");
    }
    let (content_type, body) = body(rng);
    let mut headers = Vec::new();
    if let Some(content_type) = content_type {
        headers.push(("content-type".to_owned(), content_type));
    }
    for _ in 0..rng.below(4) {
        let header = match rng.below(5) {
            0 => ("x-request-id".to_owned(), rng.text(1, 80, WILD)),
            1 => ("idempotency-key".to_owned(), rng.text(0, 140, WILD)),
            2 => (
                "x-callback-url".to_owned(),
                rng.pick(&["http://127.0.0.1:1/x", "ftp://x", "http://", "nope"]).to_string(),
            ),
            3 => ("x-faas-include-logs".to_owned(), rng.pick(&["true", "false", "yes"]).to_string()),
            _ => (format!("x-{}", rng.text(1, 20, TOKEN)), rng.text(0, 200, WILD)),
        };
        headers.push(header);
    }
    // Past the token check, as a deployed client is, so requests reach the handlers.
    headers.push(("authorization".to_owned(), format!("Bearer {}", e2e::TEST_ADMIN_TOKEN)));
    let raw = match rng.below(10) {
        0 => Some(RawFault::GarbageHeader),
        1 => Some(RawFault::Truncated),
        _ => None,
    };
    Generated { method, path, headers, body, raw }
}

/// The status of the answer, `None` when the server closed without one (a
/// malformed request it refused at the HTTP layer, or a body it refused
/// before it was sent in full).
async fn send(
    platform: &Platform,
    http: &reqwest::Client,
    request: &Generated,
) -> Result<Option<StatusCode>, String> {
    match request.raw {
        None => {
            let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
            let mut builder = http.request(method, platform.url(&request.path)).body(request.body.clone());
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            let response = match builder.send().await {
                Ok(response) => response,
                // The server may answer (and close) before a body it does
                // not want is sent in full; the client then sees the reset.
                Err(err) if !request.body.is_empty() && !err.is_timeout() => return Ok(None),
                Err(err) if err.is_timeout() => return Err(format!("no answer: {err:?}")),
                // A connection cut while the request was written, with no
                // answer: counted, and allowed only rarely (below).
                Err(err) => return Ok(Some(cut(&err))),
            };
            let status = response.status();
            // Read the body in full: a response cut short is a failure too,
            // unless the server was refusing the rest of a request body: a
            // close with unread input resets the connection, which may
            // discard the end of the answer.
            match response.bytes().await {
                Ok(_) => Ok(Some(status)),
                Err(_) if !request.body.is_empty() => Ok(None),
                Err(err) => Err(format!("{status}, body cut: {err}")),
            }
        }
        Some(fault) => send_raw(platform, request, fault).await.map_err(|e| format!("raw {fault:?}: {e}")),
    }
}

async fn send_raw(
    platform: &Platform,
    request: &Generated,
    fault: RawFault,
) -> std::io::Result<Option<StatusCode>> {
    let addr = platform.base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut head =
        format!("{} {} HTTP/1.1\r\nHost: battery\r\nConnection: close\r\n", request.method, request.path);
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let mut bytes = head.into_bytes();
    if matches!(fault, RawFault::GarbageHeader) {
        bytes.extend_from_slice(b"X-Bad\xff\x00: \x01\x02\r\nno colon here\r\n");
    }
    let claimed = request.body.len() + if matches!(fault, RawFault::Truncated) { 1000 } else { 0 };
    bytes.extend_from_slice(format!("Content-Length: {claimed}\r\n\r\n").as_bytes());
    bytes.extend_from_slice(&request.body);
    // The server may answer and close before reading it all: that is fine.
    let _ = tcp.write_all(&bytes).await;
    let _ = tcp.shutdown().await;
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let status = answer.get(9..12).and_then(|code| std::str::from_utf8(code).ok()?.parse().ok());
    Ok(status.and_then(|code| StatusCode::from_u16(code).ok()))
}

/// The pseudo-status of a request whose connection was cut before an
/// answer came (logged with the cause).
fn cut(err: &reqwest::Error) -> StatusCode {
    eprintln!("battery: connection cut: {err:?}");
    StatusCode::from_u16(CUT).unwrap()
}

/// Not an HTTP status: stands for [`cut`] in the tallies.
const CUT: u16 = 599;
/// Connections that may be cut with no answer, out of [`REQUESTS`] (seen
/// about once in 50,000 requests, on loopback, as a broken pipe while the
/// client wrote an empty request): a server that fails requests would cut
/// many more, and a hang is a timeout, never this.
const CUTS_ALLOWED: usize = 5;

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().split(' ').next()?.parse().ok());
    kib.unwrap_or(0) * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_bad_requests_get_no_5xx_no_panic_bounded_memory_and_hello_keeps_answering() {
    let platform = Platform::start_with(1, UPLOAD_LIMIT).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    let panics = Arc::new(AtomicUsize::new(0));
    let previous_hook = std::panic::take_hook();
    {
        let panics = panics.clone();
        std::panic::set_hook(Box::new(move |info| {
            panics.fetch_add(1, Ordering::SeqCst);
            previous_hook(info);
        }));
    }
    let platform = Arc::new(platform);
    let done = Arc::new(AtomicBool::new(false));
    let baseline = resident_bytes();
    let peak = Arc::new(AtomicU64::new(baseline));

    // `hello` answers throughout; memory is sampled as it goes.
    let liveness = {
        let (platform, done, peak) = (platform.clone(), done.clone(), peak.clone());
        tokio::spawn(async move {
            let mut answered = 0;
            while !done.load(Ordering::SeqCst) {
                let started = Instant::now();
                let (status, body) = platform.exec("functions", "hello", r#"{"name":"live"}"#).await;
                assert_eq!(status, StatusCode::OK, "hello stopped answering: {body}");
                assert!(started.elapsed() < Duration::from_secs(2), "hello took {:?}", started.elapsed());
                answered += 1;
                peak.fetch_max(resident_bytes(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            answered
        })
    };

    let started = Instant::now();
    let failures = std::sync::Mutex::new(Vec::new());
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<String, usize>::new());
    // A connection per request: a kept-alive connection the server closed
    // after refusing a body would otherwise fail the next request sent on it
    // before the client sees the close, which says nothing of the server.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    // `FAAS_BATTERY_SEED` runs another battery; the default is fixed.
    let seed =
        std::env::var("FAAS_BATTERY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15);
    // Each request is made when it is sent (and dropped after), from its own seed.
    futures::stream::iter(0..REQUESTS as u64)
        .for_each_concurrent(CONCURRENCY, |i| {
            let (platform, http, failures, statuses) = (&platform, &http, &failures, &statuses);
            async move {
                let request = &generate(&mut Rng(seed ^ (i + 1).wrapping_mul(0x2545_f491_4f6c_dd1d)));
                let outcome = tokio::time::timeout(REQUEST_DEADLINE, send(platform, http, request)).await;
                let outcome = outcome.unwrap_or_else(|_| Err(format!("no answer in {REQUEST_DEADLINE:?}")));
                let label = match &outcome {
                    Ok(Some(status)) => status.as_u16().to_string(),
                    Ok(None) => "closed".to_owned(),
                    Err(_) => "failed".to_owned(),
                };
                *statuses.lock().unwrap().entry(label).or_default() += 1;
                let bad = match &outcome {
                    Ok(Some(status)) if status.is_server_error() => {
                        ![503, 504, CUT].contains(&status.as_u16())
                    }
                    Ok(_) => false,
                    Err(_) => true,
                };
                if bad {
                    failures.lock().unwrap().push(format!(
                        "{} {} {:?} ({} body bytes): {outcome:?}",
                        request.method,
                        request.path,
                        request.raw,
                        request.body.len(),
                    ));
                }
            }
        })
        .await;
    let elapsed = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let answered = liveness.await.expect("hello answered throughout");
    let statuses = statuses.into_inner().unwrap();
    eprintln!(
        "battery: {REQUESTS} requests in {elapsed:?}; statuses {statuses:?}; hello answered {answered} times"
    );
    let grew = peak.load(Ordering::SeqCst).saturating_sub(baseline);
    eprintln!("battery: resident memory {} MiB at start, grew by at most {} MiB", baseline >> 20, grew >> 20);

    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} bad answers, first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(20)]
    );
    assert_eq!(panics.load(Ordering::SeqCst), 0, "something panicked");
    let cuts = statuses.get(&CUT.to_string()).copied().unwrap_or(0);
    assert!(cuts <= CUTS_ALLOWED, "{cuts} connections cut with no answer");
    assert!(grew < RSS_GROWTH_LIMIT, "resident memory grew by {} MiB", grew >> 20);
    assert!(answered > 0);
    assert!(elapsed < Duration::from_secs(60), "the battery took {elapsed:?}");
}
