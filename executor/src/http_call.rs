//! HTTP functions on the bus: a request on `<p>.http.<b>.<f>` becomes the
//! [`HttpRequest`] the handler sees, and its [`HttpOutput`] the reply.
//!
//! The contract is `protocol::http_call`: method, path and query in the
//! `Faas-Http-*` headers, every forwarded HTTP header under its own name,
//! the body as the payload or, when it does not fit in one message, staged
//! in the transfer store (`Faas-Http-Body-Staged`, both directions). The
//! same module adapts an exec request to an HTTP function (a `POST /` with
//! the input as body) for triggers, jobs and pipelines.

use async_nats::{HeaderMap, Message};
use bus::TransferStore;
use bytes::Bytes;
use protocol::http_call::is_forwarded;
use protocol::{FunctionRef, StagedObject, World, headers};

use crate::error::ExecError;
use crate::runtime::{HttpOutput, HttpRequest};

/// How much of a non-2xx body an exec caller sees in the error message.
const ERROR_BODY_SHOWN: usize = 200;

/// The request carried by `message`, its body taken from the transfer store
/// when staged (and deleted there), refused beyond `max_body` bytes.
pub async fn request(
    message: &Message,
    transfer: &TransferStore,
    max_body: usize,
) -> Result<HttpRequest, ExecError> {
    let method = bus::header(message, headers::HTTP_METHOD).unwrap_or("GET");
    let method = http::Method::from_bytes(method.as_bytes()).map_err(|_| {
        ExecError::InvalidInput(format!("{} is not an HTTP method: {method:?}", headers::HTTP_METHOD))
    })?;
    let path = bus::header(message, headers::HTTP_PATH).unwrap_or("/");
    if !path.starts_with('/') {
        return Err(ExecError::InvalidInput(format!("{} must start with /: {path:?}", headers::HTTP_PATH)));
    }
    let path_with_query = match bus::header(message, headers::HTTP_QUERY) {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    http::uri::PathAndQuery::try_from(path_with_query.as_str())
        .map_err(|e| ExecError::InvalidInput(format!("bad path or query {path_with_query:?}: {e}")))?;
    let mut map = http::HeaderMap::new();
    if let Some(nats) = &message.headers {
        for (name, values) in nats.iter() {
            let name: &str = name.as_ref();
            if !is_forwarded(name) {
                continue;
            }
            let Ok(name) = http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()) else {
                continue;
            };
            for value in values {
                if let Ok(value) = http::HeaderValue::from_str(value.as_str()) {
                    map.append(name.clone(), value);
                }
            }
        }
    }
    let body = match bus::header(message, headers::HTTP_BODY_STAGED) {
        Some(name) => {
            let staged = StagedObject { name: name.to_owned(), size: 0 };
            // Boxed: a staged body is rare, and its transfer's future would
            // otherwise size every HTTP call's.
            Box::pin(transfer.take(&staged, max_body as u64)).await?
        }
        None if message.payload.len() > max_body => {
            return Err(ExecError::InvalidInput(format!(
                "the request body of {} bytes exceeds the limit of {max_body} bytes",
                message.payload.len()
            )));
        }
        None => message.payload.clone(),
    };
    Ok(HttpRequest { method, path_with_query, headers: map, body })
}

/// An exec request's input as the request an HTTP function sees: `POST /`.
pub fn post(input: Bytes) -> HttpRequest {
    HttpRequest {
        method: http::Method::POST,
        path_with_query: "/".to_owned(),
        headers: http::HeaderMap::new(),
        body: input,
    }
}

/// What an exec caller gets from an HTTP function's answer: a 2xx body is
/// the output, anything else the error `function_http_error`.
pub fn exec_output(output: &HttpOutput) -> Result<Bytes, ExecError> {
    if (200..300).contains(&output.status) {
        return Ok(output.body.clone());
    }
    let shown = &output.body[..output.body.len().min(ERROR_BODY_SHOWN)];
    Err(ExecError::HttpStatus { status: output.status, body: String::from_utf8_lossy(shown).into_owned() })
}

/// Bytes kept for the platform's own reply headers (status, ids, digest,
/// trace context) when the handler's headers share the message.
const PLATFORM_HEADERS: usize = 1024;

/// The reply to a successful HTTP call: status, forwarded headers and the
/// body, staged when it does not fit in one message of `max_payload` bytes
/// beside the headers. Headers that alone do not fit are `output_too_large`.
pub async fn reply(
    request_id: &str,
    executor_id: &str,
    output: &HttpOutput,
    transfer: &TransferStore,
    max_payload: usize,
) -> Result<(HeaderMap, Bytes), ExecError> {
    let forwarded: Vec<(&str, &str)> = output
        .headers
        .iter()
        .filter(|(name, _)| is_forwarded(name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    // `name: value\r\n` each.
    let header_bytes = PLATFORM_HEADERS + forwarded.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>();
    let room = max_payload.checked_sub(header_bytes).ok_or(ExecError::OutputTooLarge {
        size: header_bytes,
        limit: max_payload.saturating_sub(PLATFORM_HEADERS),
    })?;
    let staged = if output.body.len() > room {
        Some(Box::pin(transfer.stage(output.body.clone())).await?)
    } else {
        None
    };
    let payload = if staged.is_some() { Bytes::new() } else { output.body.clone() };
    let (mut map, payload) = bus::encode_reply(request_id, Ok(payload));
    map.insert(bus::header_name(headers::EXECUTOR), executor_id);
    map.insert(bus::header_name(headers::WORLD), World::Http.as_str());
    map.insert(bus::header_name(headers::HTTP_STATUS), output.status.to_string());
    if let Some(staged) = staged {
        map.insert(bus::header_name(headers::HTTP_BODY_STAGED), staged.name);
    }
    for (name, value) in forwarded {
        map.append(name, value);
    }
    Ok((map, payload))
}

/// The refusal of a call through the other world's route.
pub fn wrong_world(function: &FunctionRef, world: World) -> ExecError {
    ExecError::WrongWorld(match world {
        World::Http => format!(
            "{function} is an HTTP function (wasi:http/proxy): call /run/{}/{}/",
            function.bucket, function.function
        ),
        World::Exec => {
            format!("{function} is an exec function: call /exec/{}/{}", function.bucket, function.function)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, body: &[u8]) -> HttpOutput {
        HttpOutput {
            status,
            headers: http::HeaderMap::new(),
            body: Bytes::copy_from_slice(body),
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    #[test]
    fn a_2xx_body_is_the_output_and_anything_else_an_error_naming_the_status() {
        assert_eq!(exec_output(&answered(201, b"\xff\x00")).unwrap(), Bytes::from_static(b"\xff\x00"));
        let long = vec![b'x'; 1000];
        let err = exec_output(&answered(503, &long)).unwrap_err();
        assert_eq!(err.code(), protocol::ErrorCode::FunctionHttpError);
        let text = err.to_string();
        assert!(text.starts_with("HTTP 503: xxx"), "{text}");
        assert!(text.len() < 260, "{text}");
    }

    #[test]
    fn wrong_world_names_the_right_route() {
        let function = FunctionRef::new("shop", "checkout").unwrap();
        assert!(wrong_world(&function, World::Http).to_string().contains("/run/shop/checkout/"));
        assert!(wrong_world(&function, World::Exec).to_string().contains("/exec/shop/checkout"));
        assert_eq!(wrong_world(&function, World::Exec).code(), protocol::ErrorCode::WrongWorld);
    }
}
