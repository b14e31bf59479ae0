//! Running a function or a pipeline over the bus, as the dispatcher's job
//! worker, trigger router and pipeline runner all do.
//!
//! A call is a NATS request on the target's subject (the executors' queue
//! group for a function, the dispatchers' for a pipeline); the reply carries
//! its status in headers. One place turns that into `Ok(output)` or an
//! [`ErrorBody`] with the right code, so every caller reports failures alike.

use std::time::Duration;

use async_nats::{Client, HeaderMap, Message, RequestErrorKind};
use bytes::Bytes;
use protocol::{ErrorBody, ErrorCode, Subjects, Target, headers};

/// Makes calls on behalf of the dispatcher.
#[derive(Clone)]
pub struct Caller {
    client: Client,
    subjects: Subjects,
}

/// A failed call: the error, and the raw reply if there was one (pipeline
/// failures carry the failed step in its headers).
#[derive(Debug)]
pub struct CallError {
    /// What went wrong.
    pub error: ErrorBody,
    /// The error reply, when the callee answered.
    pub reply: Option<Message>,
}

impl Caller {
    /// A caller on this connection.
    pub fn new(client: Client, subjects: Subjects) -> Self {
        Self { client, subjects }
    }

    /// The connection.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The subject spellings.
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// Runs `target` with `input`, waiting at most `wait` for the answer.
    /// `headers` must hold the request id.
    pub async fn call(
        &self,
        target: &Target,
        input: Bytes,
        headers: HeaderMap,
        wait: Duration,
    ) -> Result<Bytes, CallError> {
        let subject = match target {
            Target::Function(function) => self.subjects.exec(function),
            Target::Pipeline(name) => self.subjects.pipeline(name),
        };
        let request = async_nats::Request::new().headers(headers).payload(input).timeout(Some(wait));
        let reply = self.client.send_request(subject, request).await.map_err(|err| {
            let code = match err.kind() {
                RequestErrorKind::TimedOut => ErrorCode::Timeout,
                RequestErrorKind::MaxPayloadExceeded => ErrorCode::PayloadTooLarge,
                _ => ErrorCode::Unavailable,
            };
            CallError { error: ErrorBody::new(code, format!("running {target}: {err}")), reply: None }
        })?;
        if header(&reply, headers::STATUS).as_deref() == Some(headers::STATUS_OK) {
            return Ok(reply.payload);
        }
        let code =
            header(&reply, headers::ERROR_CODE).map(|c| ErrorCode::parse(&c)).unwrap_or(ErrorCode::Internal);
        let error = ErrorBody::new(code, String::from_utf8_lossy(&reply.payload));
        Err(CallError { error, reply: Some(reply) })
    }
}

/// A header's value as text.
pub fn header(message: &Message, name: &str) -> Option<String> {
    message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_owned())
}

/// The message's `Faas-Request-Id`, or a fresh one for a plain NATS client
/// that sent none.
pub fn request_id(message: &Message) -> String {
    header(message, headers::REQUEST_ID).unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// A reply in the exec reply format: raw output with `Faas-Status: ok`, or
/// the error message with `Faas-Status: error` and `Faas-Error-Code`.
pub fn reply_headers(request_id: &str, result: Result<(), &ErrorBody>) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(headers::REQUEST_ID, request_id);
    match result {
        Ok(()) => map.insert(headers::STATUS, headers::STATUS_OK),
        Err(error) => {
            map.insert(headers::STATUS, headers::STATUS_ERROR);
            map.insert(headers::ERROR_CODE, error.code.as_str());
        }
    }
    map
}
