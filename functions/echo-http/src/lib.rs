//! `echo-http`: a `wasi:http/proxy` handler that shows what reached it.
//!
//! It exists to test and demonstrate HTTP functions end to end:
//! - `GET` (and every method but `POST`/`PUT`): JSON
//!   `{"method", "path", "query", "headers"}` (headers by lower-case name,
//!   repeated values joined with `, `);
//! - `POST`/`PUT`: the request body bytes, unchanged, with its `content-type`
//!   (a body `echo-status:NNN...` also sets status `NNN`, so a caller that
//!   can only send a body, such as a job running `POST /`, can ask for one);
//! - `?status=N`: answer with status `N`;
//! - every answer carries `x-echo: 1`;
//! - `/trap` panics, `/spin` loops forever (the platform's trap and time
//!   limit);
//! - `/fetch?url=http://...`: an outgoing `GET` of `url`, answered as
//!   `<status>\n<body>`, or 502 with the error when the host refuses it.

use std::hint::black_box;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use wasip2::io::streams::StreamError;

wasip2::http::proxy::export!(Echo);

struct Echo;

impl wasip2::exports::http::incoming_handler::Guest for Echo {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let method = method_name(&request.method());
        let (path, query) = split_path(&request.path_with_query().unwrap_or_else(|| "/".into()));
        let params = parse_query(query.as_deref().unwrap_or(""));
        let status = params
            .iter()
            .find(|(k, _)| k == "status")
            .and_then(|(_, v)| v.parse::<u16>().ok())
            .unwrap_or(200);
        let headers: Vec<(String, Vec<u8>)> = request.headers().entries();

        let (status, content_type, body) = match path.as_str() {
            "/trap" => panic!("echo-http: /trap asked for a panic"),
            "/spin" => spin(),
            "/fetch" => match params.iter().find(|(k, _)| k == "url") {
                Some((_, url)) => match fetch(url) {
                    Ok((code, body)) => {
                        (200, "text/plain".to_owned(), [format!("{code}\n").into_bytes(), body].concat())
                    }
                    Err(err) => (502, "text/plain".to_owned(), format!("fetch failed: {err}").into_bytes()),
                },
                None => (400, "text/plain".to_owned(), b"missing ?url=".to_vec()),
            },
            _ if method == "POST" || method == "PUT" => {
                let content_type = headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                    .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
                    .unwrap_or_else(|| "application/octet-stream".to_owned());
                let body = read_body(request.consume().ok());
                let status = body
                    .strip_prefix(b"echo-status:")
                    .and_then(|rest| std::str::from_utf8(rest.get(..3)?).ok()?.parse::<u16>().ok())
                    .unwrap_or(status);
                (status, content_type, body)
            }
            _ => {
                let mut map = serde_json::Map::new();
                for (name, value) in &headers {
                    let value = String::from_utf8_lossy(value).into_owned();
                    let name = name.to_ascii_lowercase();
                    match map.get_mut(&name) {
                        Some(serde_json::Value::String(existing)) => {
                            existing.push_str(", ");
                            existing.push_str(&value);
                        }
                        _ => {
                            map.insert(name, value.into());
                        }
                    }
                }
                let doc = serde_json::json!({
                    "method": method,
                    "path": path,
                    "query": query,
                    "headers": map,
                });
                (status, "application/json".to_owned(), doc.to_string().into_bytes())
            }
        };
        respond(response_out, status, &content_type, &body);
    }
}

fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers = Fields::new();
    let _ = headers.append("content-type", content_type.as_bytes());
    let _ = headers.append("x-echo", b"1");
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let outgoing = response.body().expect("a new response has a body");
    ResponseOutparam::set(out, Ok(response));
    {
        let stream = outgoing.write().expect("the body's stream is taken once");
        // `blocking_write_and_flush` takes at most 4096 bytes a call.
        for chunk in body.chunks(4096) {
            stream.blocking_write_and_flush(chunk).expect("the host reads the body");
        }
    }
    OutgoingBody::finish(outgoing, None).expect("the body ends once");
}

fn read_body(body: Option<IncomingBody>) -> Vec<u8> {
    let Some(body) = body else { return Vec::new() };
    let mut bytes = Vec::new();
    {
        let stream = body.stream().expect("the body's stream is taken once");
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(err)) => {
                    panic!("reading the body: {}", err.to_debug_string())
                }
            }
        }
    }
    drop(body);
    bytes
}

fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(black_box(1)));
    }
}

/// An outgoing `GET url` (http or https), answered as status and body.
fn fetch(url: &str) -> Result<(u16, Vec<u8>), String> {
    let (scheme, rest) = url.split_once("://").ok_or("the url has no scheme")?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(format!("unsupported scheme {other}")),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request.set_scheme(Some(&scheme)).map_err(|()| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|()| "bad authority")?;
    request.set_path_with_query(Some(path)).map_err(|()| "bad path")?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let response = future
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = read_body(response.consume().ok());
    Ok((status, body))
}

fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other.clone(),
    }
}

fn split_path(path_with_query: &str) -> (String, Option<String>) {
    match path_with_query.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (path_with_query.to_owned(), None),
    }
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
