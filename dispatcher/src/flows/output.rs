//! Where a trigger event's outcome goes, whoever finishes it.
//!
//! A sync event is finished by the trigger router, an async one by the job
//! worker when its job ends; both publish the output on the trigger's output
//! subject (one hop further) and failures on the trigger's errors subject, in
//! exactly the same form, from here.

use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use protocol::{Subjects, TriggerFailure, TriggerName, headers};
use tracing::warn;

/// Publishes a trigger's output on its output subject, one hop further.
pub async fn publish_output(
    client: &Client,
    subject: &str,
    request_id: &str,
    trigger: &TriggerName,
    hops: u32,
    output: Bytes,
) {
    let mut map = HeaderMap::new();
    map.insert(headers::REQUEST_ID, request_id);
    map.insert(headers::TRIGGER, trigger.as_str());
    map.insert(headers::HOPS, hops.saturating_add(1).to_string().as_str());
    bus::telemetry::inject(&mut map);
    if let Err(err) = client.publish_with_headers(subject.to_owned(), map, output).await {
        warn!(%err, subject, "could not publish the trigger's output");
    }
}

/// Publishes a failed event on its trigger's errors subject.
pub async fn publish_failure(client: &Client, subjects: &Subjects, failure: &TriggerFailure) {
    warn!(code = %failure.code, error = %failure.message, "trigger event failed");
    let mut map = HeaderMap::new();
    map.insert(headers::REQUEST_ID, failure.request_id.as_str());
    map.insert(headers::TRIGGER, failure.trigger.as_str());
    map.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
    let payload = serde_json::to_vec(failure).expect("failures always serialise");
    let subject = subjects.trigger_errors(&failure.trigger);
    if let Err(err) = client.publish_with_headers(subject, map, payload.into()).await {
        warn!(%err, "could not publish the trigger failure");
    }
}
