//! `hello-http`: `hello`'s logic as a `wasi:http/proxy` handler.
//!
//! It exists for the benchmark's peer: `wasmtime serve` runs it so the
//! platform's warm `hello` call can be compared with the same work served
//! the way Wasmtime's own CLI serves it. `POST` with the body `hello` takes
//! as input (`{"name":"World"}`) answers 200 with exactly `hello`'s output
//! (`Hello World, how are you?`, or its `error: ...` text for a bad body);
//! any other method answers 405.

use serde::Deserialize;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::StreamError;

wasip2::http::proxy::export!(HelloHttp);

/// The expected input document (as `hello`'s).
#[derive(Deserialize)]
struct Input {
    name: String,
}

/// `hello`'s `exec`, byte for byte.
fn greet(input: &str) -> String {
    match serde_json::from_str::<Input>(input) {
        Ok(Input { name }) => format!("Hello {name}, how are you?"),
        Err(err) => format!(r#"error: expected JSON {{"name": "..."}} ({err})"#),
    }
}

struct HelloHttp;

impl wasip2::exports::http::incoming_handler::Guest for HelloHttp {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        if !matches!(request.method(), Method::Post) {
            respond(response_out, 405, b"POST the JSON input");
            return;
        }
        let body = read_body(request.consume().ok());
        // hello's input is a string: bytes that are not UTF-8 are read as
        // the platform's exec reads them, lossily.
        let answer = greet(&String::from_utf8_lossy(&body));
        respond(response_out, 200, answer.as_bytes());
    }
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::new();
    let _ = headers.append("content-type", b"text/plain; charset=utf-8");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_the_name_as_hello_does() {
        assert_eq!(greet(r#"{"name":"World"}"#), "Hello World, how are you?");
    }

    #[test]
    fn rejects_bad_input_as_hello_does() {
        for input in ["", "World", r#"{"name":1}"#, r#"{"nom":"x"}"#] {
            assert!(greet(input).starts_with("error: expected JSON"), "{input}");
        }
    }
}
