//! Publishing audit events, and carrying the acting principal on the
//! messages that cause them.
//!
//! The api puts the principal it authenticated on every admin command and
//! job message ([`insert_principal`]); whoever executes an action reads it
//! back ([`principal`]) and, knowing the outcome, [`record`]s the event:
//! one log line under the `audit` tracing target and one JSON message on
//! `<prefix>.audit.<action>`, which the stream
//! [`audit_stream`](protocol::JetStreamNames::audit_stream) keeps
//! ([`AuditLog`]).

use async_nats::jetstream::{self, stream};
use async_nats::{HeaderMap, Message};
use protocol::audit::{AuditEvent, LOG_TARGET, Principal};
use protocol::{Subjects, headers};

use crate::message::{header, header_name};
use crate::stores::{JetStreamLayout, KeptStream, StoreError, StoreQuotas};

/// Sets the principal headers on `map`.
pub fn insert_principal(map: &mut HeaderMap, id: &str, name: &str) {
    map.insert(header_name(headers::PRINCIPAL_ID), headers::header_safe(id).as_str());
    map.insert(header_name(headers::PRINCIPAL_NAME), headers::header_safe(name).as_str());
}

/// The principal a message carries, or [`Principal::unknown`] when it
/// carries none (a NATS client that is not the api).
pub fn principal(message: &Message) -> Principal {
    match header(message, headers::PRINCIPAL_ID) {
        Some(id) if !id.is_empty() => Principal {
            id: id.to_owned(),
            name: header(message, headers::PRINCIPAL_NAME).unwrap_or_default().to_owned(),
        },
        _ => Principal::unknown(),
    }
}

/// Logs `event` and publishes it on its action's audit subject. A publish
/// that fails is logged: the action stands either way.
pub async fn record(client: &async_nats::Client, subjects: &Subjects, event: &AuditEvent) {
    let outcome = serde_json::to_string(&event.outcome).expect("outcomes always serialise");
    let target = serde_json::to_string(&event.target).expect("targets always serialise");
    tracing::info!(
        target: LOG_TARGET,
        action = %event.action,
        principal_id = %event.principal.id,
        principal_name = %event.principal.name,
        request_id = %event.request_id,
        %target,
        %outcome,
        "audit"
    );
    let mut map = HeaderMap::new();
    map.insert(headers::REQUEST_ID, event.request_id.as_str());
    map.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
    let payload = serde_json::to_vec(event).expect("audit events always serialise");
    if let Err(err) = client.publish_with_headers(subjects.audit(&event.action), map, payload.into()).await {
        tracing::warn!(target: LOG_TARGET, %err, action = %event.action, "could not publish an audit event");
    }
}

/// The kept audit trail: the stream `<P>_AUDIT` over every audit
/// subject, oldest events dropped past its age or byte cap.
#[derive(Clone)]
pub struct AuditLog {
    stream: stream::Stream,
    name: String,
}

impl AuditLog {
    /// Creates the stream, or sets its caps: what a dispatcher does at
    /// start.
    pub async fn setup(
        client: &async_nats::Client,
        subjects: &Subjects,
        layout: &JetStreamLayout,
        quotas: &StoreQuotas,
    ) -> Result<(), StoreError> {
        KeptStream {
            name: &layout.names.audit_stream(),
            description: "wasm-faas: audit events of admin actions",
            subjects: subjects.audit_all(),
            max_bytes: quotas.audit,
            max_age_secs: quotas.audit_max_age_secs,
        }
        .set_up(client, layout.replicas)
        .await
    }

    /// The stream a dispatcher set up: what the api reads.
    pub async fn open(client: &async_nats::Client, layout: &JetStreamLayout) -> Result<Self, StoreError> {
        let name = layout.names.audit_stream();
        let stream = jetstream::new(client.clone())
            .get_stream(&name)
            .await
            .map_err(|e| StoreError::from_reason(&name, e))?;
        Ok(Self { stream, name })
    }

    /// The newest `limit` events kept, oldest first.
    pub async fn recent(&self, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        let state = self.stream.get_info().await.map_err(|e| StoreError::from_reason(&self.name, e))?.state;
        if state.messages == 0 || limit == 0 {
            return Ok(Vec::new());
        }
        let first = state.first_sequence.max(state.last_sequence.saturating_sub(limit - 1));
        let mut events = Vec::new();
        for sequence in first..=state.last_sequence {
            // A gap: an event expired or was deleted meanwhile.
            let Ok(message) = self.stream.get_raw_message(sequence).await else { continue };
            if let Ok(event) = serde_json::from_slice(&message.payload) {
                events.push(event);
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::received;

    #[test]
    fn the_principal_travels_in_headers_or_is_unknown() {
        let mut map = HeaderMap::new();
        insert_principal(&mut map, "abc", "ci\nbot");
        let message = received(Some(map), bytes::Bytes::new());
        assert_eq!(principal(&message), Principal { id: "abc".into(), name: "ci bot".into() });
        assert_eq!(principal(&received(None, bytes::Bytes::new())), Principal::unknown());
    }
}
