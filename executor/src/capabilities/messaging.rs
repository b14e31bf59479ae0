//! `wasmcloud:messaging@0.2.0` (`consumer`): publish and request on the
//! subjects the function's grant allows, never the platform's own, with the
//! call's request id and hop count on every message.
//!
//! A guest's message is a trigger event like any other: it carries
//! `Faas-Request-Id` (the call's, so a chain's event budget is the root
//! request's) and `Faas-Hops` one more than the message that started the
//! call, as a trigger's output does, so a function publishing to a subject
//! whose trigger runs it again is cut at the dispatcher's hop limit.
//!
//! Every refusal (not granted, a platform subject, past the per-call limit,
//! too large, no responder, NATS down) is an `Err(string)` to the guest,
//! never a trap.

use std::time::{Duration, Instant};

use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use protocol::capabilities::{subject_matches, valid_subject_pattern};
use protocol::{Capability, Subjects, headers};
use wasmtime::component::Linker;

use super::{CapabilityData, CapabilityView};

mod bindings {
    wasmtime::component::bindgen!({
        inline: "
            package wasm-faas:host-messaging;
            world imports {
                import wasmcloud:messaging/consumer@0.2.0;
            }
        ",
        path: "../wit/deps/messaging",
        imports: { default: async | trappable },
    });
}

use bindings::wasmcloud::messaging::consumer;
use bindings::wasmcloud::messaging::types::BrokerMessage;

/// The NATS connection guests publish through.
pub struct MessagingBackend {
    client: Client,
}

impl MessagingBackend {
    /// Publishes through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// Links `wasmcloud:messaging`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> CapabilityView<'_>,
) -> wasmtime::Result<()> {
    consumer::add_to_linker::<T, CapabilityData>(linker, view)
}

/// Why a subject is refused, or `Ok` when `grant` allows it: a literal
/// subject, outside the platform's (`<prefix>.` and whatever
/// [`Subjects::check_output_subject`] keeps for NATS and the platform),
/// matching one of the granted patterns.
pub fn check_subject(subjects: &Subjects, grant: &[String], subject: &str) -> Result<(), String> {
    let literal = valid_subject_pattern(subject) && !subject.split('.').any(|t| t == "*" || t == ">");
    if !literal {
        return Err(format!(
            "{subject:?} is not a NATS subject (dot-separated tokens, no spaces, no wildcards)"
        ));
    }
    let prefix = subjects.prefix();
    if subject == prefix || subject.starts_with(&format!("{prefix}.")) {
        return Err(format!(
            "{subject:?} is a platform subject (under {prefix:?}); functions may not publish there"
        ));
    }
    subjects.check_output_subject(subject).map_err(|why| format!("refused: {why}"))?;
    if !grant.iter().any(|pattern| subject_matches(pattern, subject)) {
        return Err(format!(
            "{subject:?} is not among the subjects this function may publish to ({})",
            grant.join(", ")
        ));
    }
    Ok(())
}

/// A checked message, ready to go.
struct Outgoing {
    client: Client,
    subject: String,
    headers: HeaderMap,
    body: Bytes,
    /// The time left in the call.
    remaining: Option<Duration>,
}

impl CapabilityView<'_> {
    /// Checks one message against the grant and the per-call limits and
    /// counts it; the client and headers to send it with.
    fn outgoing(&mut self, subject: &str, reply_to: Option<&str>, body: Vec<u8>) -> Result<Outgoing, String> {
        let call = &mut *self.call;
        let (Some(hosts), Some(identity)) = (call.hosts.clone(), call.identity.as_ref()) else {
            return Err("messaging is not available in this runtime".to_owned());
        };
        let grant = &call.grants.messaging.publish;
        check_subject(&hosts.subjects, grant, subject)?;
        if let Some(reply_to) = reply_to {
            check_subject(&hosts.subjects, grant, reply_to).map_err(|why| format!("reply-to: {why}"))?;
        }
        let client = hosts.messaging.client.clone();
        let limit = headers::payload_limit(client.max_payload());
        if body.len() > limit {
            return Err(format!(
                "the message body is {} bytes; at most {limit} fit in one message",
                body.len()
            ));
        }
        let max = hosts.limits.messaging_max_publishes;
        if call.usage.publishes >= max {
            return Err(format!(
                "this call already sent {max} messages, the most one call may (FAAS_MESSAGING_MAX_PUBLISHES)"
            ));
        }
        call.usage.publishes += 1;
        let mut map = HeaderMap::new();
        map.insert(bus::header_name(headers::REQUEST_ID), identity.request_id.as_str());
        map.insert(bus::header_name(headers::HOPS), identity.hops.saturating_add(1).to_string().as_str());
        bus::telemetry::inject(&mut map);
        hosts.metrics.bytes(Capability::Messaging, "written", body.len() as u64);
        let remaining = call.deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
        Ok(Outgoing { client, subject: subject.to_owned(), headers: map, body: body.into(), remaining })
    }

    fn counted(&self, operation: &'static str, ok: bool) {
        if let Some(hosts) = self.call.hosts.as_deref() {
            hosts.metrics.call(Capability::Messaging, operation);
            if !ok {
                hosts.metrics.error(Capability::Messaging, operation);
            }
        }
    }
}

impl bindings::wasmcloud::messaging::types::Host for CapabilityView<'_> {}

impl consumer::Host for CapabilityView<'_> {
    async fn request(
        &mut self,
        subject: String,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<BrokerMessage, String>> {
        let answer = async {
            let out = self.outgoing(&subject, None, body)?;
            // Never past the call's own deadline; 0 asks for all of it.
            let asked = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms.into()));
            let timeout = match (asked, out.remaining) {
                (Some(asked), Some(left)) => asked.min(left),
                (asked, left) => asked.or(left).unwrap_or(Duration::from_secs(30)),
            };
            if timeout.is_zero() {
                return Err("the call has no time left for a request".to_owned());
            }
            let request =
                async_nats::Request::new().headers(out.headers).payload(out.body).timeout(Some(timeout));
            let reply = out.client.send_request(out.subject, request).await.map_err(|e| {
                use async_nats::RequestErrorKind;
                match e.kind() {
                    RequestErrorKind::NoResponders => format!("no one answers requests on {subject:?}"),
                    RequestErrorKind::TimedOut => {
                        format!("no answer on {subject:?} within {} ms", timeout.as_millis())
                    }
                    _ => format!("the request on {subject:?} failed: {e}"),
                }
            })?;
            Ok(BrokerMessage {
                subject: reply.subject.to_string(),
                body: reply.payload.to_vec(),
                reply_to: reply.reply.map(|r| r.to_string()),
            })
        }
        .await;
        if let (Ok(reply), Some(hosts)) = (&answer, self.call.hosts.as_deref()) {
            hosts.metrics.bytes(Capability::Messaging, "read", reply.body.len() as u64);
        }
        self.counted("request", answer.is_ok());
        Ok(answer)
    }

    async fn publish(&mut self, msg: BrokerMessage) -> wasmtime::Result<Result<(), String>> {
        let BrokerMessage { subject, body, reply_to } = msg;
        let sent = async {
            let out = self.outgoing(&subject, reply_to.as_deref(), body)?;
            let published = match reply_to {
                Some(reply) => {
                    out.client.publish_with_reply_and_headers(out.subject, reply, out.headers, out.body).await
                }
                None => out.client.publish_with_headers(out.subject, out.headers, out.body).await,
            };
            published.map_err(|e| format!("could not publish on {subject:?}: {e}"))?;
            // Published means handed to the server, in order: a flush makes a
            // publish followed by the call's answer arrive in that order too.
            out.client.flush().await.map_err(|e| format!("could not publish on {subject:?}: {e}"))
        }
        .await;
        self.counted("publish", sent.is_ok());
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_and_system_subjects_are_refused_whatever_the_grant() {
        let subjects = Subjects::new("faas");
        let function = protocol::FunctionRef::new("bk1", "f1").unwrap();
        let everything =
            vec!["faas.>".to_owned(), "acme.>".to_owned(), "$JS.>".to_owned(), "_INBOX.>".to_owned()];
        // Another platform's (another prefix) service subjects too.
        let other = Subjects::new("acme");
        for refused in [
            subjects.exec(&function),
            subjects.admin("x"),
            "faas".to_owned(),
            "$JS.API.INFO".to_owned(),
            "_INBOX.x".to_owned(),
            "KV.x.y".to_owned(),
            other.exec(&function),
        ] {
            assert!(check_subject(&subjects, &everything, &refused).is_err(), "{refused}");
        }
        let orders = vec!["orders.*".to_owned(), "orders.>".to_owned()];
        for bad in ["orders.*", "orders.>", "orders created", "orders..x", ""] {
            let err = check_subject(&subjects, &orders, bad).unwrap_err();
            assert!(err.contains("not a NATS subject"), "{bad:?}: {err}");
        }
        check_subject(&subjects, &orders, "orders.created.eu").unwrap();
        let orders = vec!["orders.*".to_owned()];
        check_subject(&subjects, &orders, "orders.created").unwrap();
        let err = check_subject(&subjects, &orders, "billing.created").unwrap_err();
        assert!(err.contains("not among"), "{err}");
        assert!(check_subject(&subjects, &orders, "orders.created.eu").is_err());
    }
}
