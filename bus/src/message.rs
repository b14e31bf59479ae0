//! Reading the platform's headers off a received message.
//!
//! `protocol::headers` spells the names; this is the one place that reads
//! them off an `async_nats::Message` (a JetStream message derefs to one),
//! so every role finds a request id, or a hop count, the same way.

use async_nats::{HeaderName, Message};
use protocol::headers;

/// A platform header's name as async-nats keys its maps. A `&str` key is
/// checked a character at a time and copied on every insert and lookup;
/// a static name is neither, which every call's request and reply would
/// otherwise pay for several times over. The names are
/// `protocol::headers`' constants, valid as written (checked by this
/// module's tests).
pub fn header_name(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

/// A header's value, if the message has it.
pub fn header<'a>(message: &'a Message, name: &'static str) -> Option<&'a str> {
    message.headers.as_ref()?.get(header_name(name)).map(|value| value.as_str())
}

/// The message's `Faas-Request-Id`, or a fresh one for a plain NATS client
/// that sent none.
pub fn request_id(message: &Message) -> String {
    header(message, headers::REQUEST_ID).map_or_else(headers::new_request_id, str::to_owned)
}

/// The trigger links the message has passed (`Faas-Hops`); none when absent
/// or not a number.
pub fn hops(message: &Message) -> u32 {
    header(message, headers::HOPS).and_then(|h| h.parse().ok()).unwrap_or(0)
}

/// A message as a subscriber would receive it, for unit tests.
#[cfg(test)]
pub(crate) fn received(map: Option<async_nats::HeaderMap>, payload: bytes::Bytes) -> Message {
    Message {
        subject: "test".into(),
        reply: None,
        length: payload.len(),
        payload,
        headers: map,
        status: None,
        description: None,
    }
}

#[cfg(test)]
mod tests {
    use async_nats::HeaderMap;

    use super::*;

    #[test]
    fn headers_are_read_or_defaulted() {
        let mut map = HeaderMap::new();
        map.insert(headers::REQUEST_ID, "r1");
        map.insert(headers::HOPS, "3");
        let with = received(Some(map), bytes::Bytes::new());
        assert_eq!(header(&with, headers::REQUEST_ID), Some("r1"));
        assert_eq!(request_id(&with), "r1");
        assert_eq!(hops(&with), 3);
        let without = received(None, bytes::Bytes::new());
        assert_eq!(header(&without, headers::REQUEST_ID), None);
        assert_eq!(request_id(&without).len(), 36, "a minted uuid");
        assert_eq!(hops(&without), 0);
    }

    #[test]
    fn static_names_are_valid_and_key_like_names_off_the_wire() {
        use headers::*;
        let names = [
            REQUEST_ID,
            STATUS,
            ERROR_CODE,
            INCLUDE_LOGS,
            DIGEST,
            EXECUTOR,
            CACHE,
            JOB_ID,
            JOB_SUBMITTED_AT,
            JOB_TARGET,
            CALLBACK_URL,
            NATS_MSG_ID,
            CONTENT_TYPE,
            HOPS,
            TRIGGER,
            SCHEDULED_AT,
            OUTPUT_SUBJECT,
            PIPELINE_STEP,
            PIPELINE_FUNCTION,
            PRINCIPAL_ID,
            PRINCIPAL_NAME,
            HTTP_METHOD,
            HTTP_PATH,
            HTTP_QUERY,
            HTTP_STATUS,
            HTTP_BODY_STAGED,
            EXPECT_WORLD,
            WORLD,
            VERSION,
            ROUTE_KEY,
            SIDE_EFFECTS,
            CALL_ID,
            TRACEPARENT,
            TRACESTATE,
            KV_OPERATION,
        ];
        for name in names {
            // What async-nats checks a `&str` name against, and a received
            // header's name is parsed with.
            let parsed: HeaderName =
                name.parse().unwrap_or_else(|_| panic!("{name} is not a valid header name"));
            assert_eq!(header_name(name), parsed, "{name}");
            let mut map = HeaderMap::new();
            map.insert(parsed, "v");
            assert_eq!(header(&received(Some(map), bytes::Bytes::new()), name), Some("v"), "{name}");
        }
    }
}
