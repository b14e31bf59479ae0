//! Calls in the exec format: the one client that makes them and the one
//! codec for their replies.
//!
//! An exec call is a NATS request whose payload is the raw input; its reply
//! is the raw output, with the outcome in headers: `Faas-Status`, and on a
//! failure `Faas-Error-Code` (the payload is then the message) plus, for a
//! failed pipeline step, `Faas-Pipeline-Step` and `Faas-Pipeline-Function`.
//! Executors answer it on exec and pipeline subjects, dispatchers on a
//! sync trigger's subject; the api and the dispatcher's flows call.
//! Both halves of the format are here, next to each other ([`encode_reply`]
//! and [`ExecReply::into_result`]), and a request that got no reply maps to
//! one error code whoever sent it ([`request`]).

use std::fmt::Display;
use std::time::Duration;

use async_nats::{Client, HeaderMap, Message, RequestErrorKind};
use bytes::Bytes;
use protocol::pipelines::FailedStep;
use protocol::{ErrorBody, ErrorCode, Subjects, Target, headers};

use crate::message::{header, header_name};

/// Who is expected to answer a request, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responder {
    /// An executor (exec and pipeline subjects).
    Executor,
    /// A dispatcher (admin subjects).
    Dispatcher,
}

impl Responder {
    /// Who answers a call of `target`.
    pub fn of(target: &Target) -> Self {
        match target {
            // The executors run pipelines too (one takes the whole run).
            Target::Function(_) | Target::Pipeline(_) => Self::Executor,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Executor => "executor",
            Self::Dispatcher => "dispatcher",
        }
    }
}

/// Sends a request carrying `request_id` and waits up to `wait` for the
/// reply. "No responders" comes back from the server at once, so a role
/// with no process running is an immediate `unavailable`, not a timeout.
pub async fn request(
    client: &Client,
    responder: Responder,
    subject: String,
    mut headers_out: HeaderMap,
    payload: Bytes,
    request_id: &str,
    wait: Duration,
) -> Result<Message, ErrorBody> {
    headers_out.insert(header_name(headers::REQUEST_ID), request_id);
    crate::telemetry::inject(&mut headers_out);
    let request = async_nats::Request::new().headers(headers_out).payload(payload).timeout(Some(wait));
    client
        .send_request(subject, request)
        .await
        .map_err(|err| request_failure(err.kind(), &err, responder, wait))
}

/// The one table from a failed NATS request to an error code.
fn request_failure(
    kind: RequestErrorKind,
    err: &dyn Display,
    responder: Responder,
    wait: Duration,
) -> ErrorBody {
    let role = responder.name();
    match kind {
        RequestErrorKind::NoResponders => {
            ErrorBody::new(ErrorCode::Unavailable, format!("no {role} is available to take the request"))
        }
        RequestErrorKind::TimedOut => {
            ErrorBody::new(ErrorCode::Timeout, format!("no answer from a {role} within {} s", wait.as_secs()))
        }
        RequestErrorKind::MaxPayloadExceeded => ErrorBody::new(
            ErrorCode::PayloadTooLarge,
            format!("the request exceeds the NATS server's max_payload: {err}"),
        ),
        // Subjects are built from validated names: only a broken subject
        // prefix gets here, which is the platform's fault, not the caller's.
        RequestErrorKind::InvalidSubject => {
            ErrorBody::new(ErrorCode::Internal, format!("invalid subject (check FAAS_SUBJECT_PREFIX): {err}"))
        }
        RequestErrorKind::Other => {
            ErrorBody::new(ErrorCode::Unavailable, format!("NATS request failed: {err}"))
        }
    }
}

/// Makes exec calls: a function or a pipeline, through the executors'
/// queue group.
#[derive(Clone)]
pub struct ExecClient {
    client: Client,
    subjects: Subjects,
}

impl ExecClient {
    /// A client on this connection.
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

    /// Calls `target` with `input` (and `headers`, such as
    /// `Faas-Include-Logs`), waiting at most `wait`: the reply as received,
    /// whatever its status, or why none came.
    pub async fn call(
        &self,
        target: &Target,
        input: Bytes,
        headers: HeaderMap,
        request_id: &str,
        wait: Duration,
    ) -> Result<ExecReply, ErrorBody> {
        let subject = match target {
            Target::Function(function) => self.subjects.exec(function),
            Target::Pipeline(name) => self.subjects.pipeline(name),
        };
        let reply =
            request(&self.client, Responder::of(target), subject, headers, input, request_id, wait).await?;
        Ok(ExecReply(reply))
    }

    /// [`Self::call`], decoded: the output, or the failure.
    pub async fn run(
        &self,
        target: &Target,
        input: Bytes,
        headers: HeaderMap,
        request_id: &str,
        wait: Duration,
    ) -> Result<Bytes, ExecFailure> {
        self.call(target, input, headers, request_id, wait).await?.into_result()
    }
}

/// A failed call: the error, and the step that failed when the call ran a
/// pipeline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct ExecFailure {
    /// What went wrong.
    pub error: ErrorBody,
    /// The failed pipeline step, numbered from 1, and its function.
    pub failed_step: Option<FailedStep>,
}

impl From<ErrorBody> for ExecFailure {
    fn from(error: ErrorBody) -> Self {
        Self { error, failed_step: None }
    }
}

/// A reply in the exec format, as received.
#[derive(Debug)]
pub struct ExecReply(Message);

impl From<Message> for ExecReply {
    fn from(message: Message) -> Self {
        Self(message)
    }
}

impl ExecReply {
    /// A reply header's value (`Faas-Executor`, `Faas-Digest`, ...).
    pub fn header(&self, name: &'static str) -> Option<&str> {
        header(&self.0, name)
    }

    /// The output on `Faas-Status: ok`; else the error its headers and
    /// payload carry (a reply without a code is `internal`).
    pub fn into_result(self) -> Result<Bytes, ExecFailure> {
        if self.header(headers::STATUS) == Some(headers::STATUS_OK) {
            return Ok(self.0.payload);
        }
        let code = self.header(headers::ERROR_CODE).map_or(ErrorCode::Internal, ErrorCode::parse);
        let step = self.header(headers::PIPELINE_STEP).and_then(|s| s.parse().ok());
        let function = self.header(headers::PIPELINE_FUNCTION).and_then(|f| f.parse().ok());
        let failed_step = step.zip(function).map(|(step, function)| FailedStep { step, function });
        let error = ErrorBody::new(code, String::from_utf8_lossy(&self.0.payload));
        Err(ExecFailure { error, failed_step })
    }
}

/// Headers and payload of an exec-format reply to `request_id`: the output
/// with `Faas-Status: ok`, or the error's message with `Faas-Status: error`,
/// its code and, for a failed pipeline step, the step headers. What
/// [`ExecReply::into_result`] reads back.
pub fn encode_reply(request_id: &str, outcome: Result<Bytes, ExecFailure>) -> (HeaderMap, Bytes) {
    let mut map = HeaderMap::new();
    map.insert(header_name(headers::REQUEST_ID), request_id);
    match outcome {
        Ok(output) => {
            map.insert(header_name(headers::STATUS), headers::STATUS_OK);
            (map, output)
        }
        Err(ExecFailure { error, failed_step }) => {
            map.insert(header_name(headers::STATUS), headers::STATUS_ERROR);
            map.insert(header_name(headers::ERROR_CODE), error.code.as_str());
            if let Some(FailedStep { step, function }) = failed_step {
                map.insert(header_name(headers::PIPELINE_STEP), step.to_string());
                map.insert(header_name(headers::PIPELINE_FUNCTION), function.to_string());
            }
            (map, Bytes::from(error.message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::received;

    fn round_trip(outcome: Result<Bytes, ExecFailure>) -> ExecReply {
        let (map, payload) = encode_reply("r1", outcome);
        ExecReply::from(received(Some(map), payload))
    }

    #[test]
    fn replies_decode_to_what_was_encoded() {
        let reply = round_trip(Ok(Bytes::from_static(b"out")));
        assert_eq!(reply.header(headers::REQUEST_ID), Some("r1"));
        assert_eq!(reply.into_result(), Ok(Bytes::from_static(b"out")));

        let failure = ExecFailure::from(ErrorBody::new(ErrorCode::FunctionTrapped, "boom"));
        assert_eq!(round_trip(Err(failure.clone())).into_result(), Err(failure));

        let step = FailedStep { step: 2, function: "functions/trap".parse().unwrap() };
        let failure = ExecFailure {
            error: ErrorBody::new(ErrorCode::FunctionTimeout, "slow"),
            failed_step: Some(step),
        };
        let reply = round_trip(Err(failure.clone()));
        assert_eq!(reply.header(headers::PIPELINE_FUNCTION), Some("functions/trap"));
        assert_eq!(reply.into_result(), Err(failure));
    }

    #[test]
    fn a_reply_without_status_is_an_internal_error() {
        let decoded = ExecReply::from(received(None, Bytes::from_static(b"huh"))).into_result();
        assert_eq!(decoded, Err(ExecFailure::from(ErrorBody::new(ErrorCode::Internal, "huh"))));
    }

    #[test]
    fn request_failures_have_one_code_each() {
        let wait = Duration::from_secs(30);
        let code = |kind| request_failure(kind, &"detail", Responder::Executor, wait).code;
        assert_eq!(code(RequestErrorKind::NoResponders), ErrorCode::Unavailable);
        assert_eq!(code(RequestErrorKind::TimedOut), ErrorCode::Timeout);
        assert_eq!(code(RequestErrorKind::MaxPayloadExceeded), ErrorCode::PayloadTooLarge);
        assert_eq!(code(RequestErrorKind::InvalidSubject), ErrorCode::Internal);
        assert_eq!(code(RequestErrorKind::Other), ErrorCode::Unavailable);
        let none = request_failure(RequestErrorKind::NoResponders, &"", Responder::Dispatcher, wait);
        assert_eq!(none.message, "no dispatcher is available to take the request");
    }
}
