//! NATS header names used on every subject.
//!
//! Headers carry metadata so that exec payloads stay the raw input and output
//! bytes: a plain `nats req faas.exec.b.f 'input'` works without an envelope.
//! The few header names the platform uses that NATS itself defines
//! ([`NATS_MSG_ID`], [`CONTENT_TYPE`]) are spelled here too, so that no role
//! writes a header name of its own.

/// Room kept in every message for its headers: a payload travels in one
/// message only if it fits in the server's `max_payload` less this.
pub const HEADER_ROOM: usize = 4096;

/// The largest payload (input or output) that fits in one message of a
/// server with this `max_payload`, headers included.
pub fn payload_limit(max_payload: usize) -> usize {
    max_payload.saturating_sub(HEADER_ROOM)
}

/// A uuid that names one request across every hop and every log line about it.
pub const REQUEST_ID: &str = "Faas-Request-Id";

/// Longest [`REQUEST_ID`] a client may bring.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// Whether a client's request id may be kept: 1 to [`MAX_REQUEST_ID_LEN`]
/// letters, digits, `-` or `_`, so it is a valid HTTP and NATS header value
/// and safe in every log line.
pub fn is_valid_request_id(value: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fresh [`REQUEST_ID`] value (a version 4 uuid), for a request that came
/// without one.
///
/// Its random bits are SipHash, under keys the standard library draws from
/// the OS once per thread (`RandomState`), of a per-thread counter: unique
/// and unguessable without the `getrandom` syscall `Uuid::new_v4` makes
/// per id (one per id-less request on the warm path,
/// `bench/results/*-xwake.md`). An id names a request for tracing; it is no
/// secret and grants nothing.
pub fn new_request_id() -> String {
    use std::cell::Cell;
    use std::hash::{BuildHasher, RandomState};
    thread_local! {
        static SOURCE: (RandomState, Cell<u64>) = (RandomState::new(), Cell::new(0));
    }
    let (high, low) = SOURCE.with(|(keys, counter)| {
        let n = counter.get();
        counter.set(n.wrapping_add(1));
        (keys.hash_one((n, 0u8)), keys.hash_one((n, 1u8)))
    });
    let bytes = ((u128::from(high) << 64) | u128::from(low)).to_be_bytes();
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// W3C trace context (<https://www.w3.org/TR/trace-context/>): the trace and
/// the caller's span, accepted on HTTP and carried on every NATS hop under
/// the same name, so one trace spans api, dispatcher and executor.
pub const TRACEPARENT: &str = "traceparent";
/// W3C trace context: vendor-specific trace state, carried beside [`TRACEPARENT`].
pub const TRACESTATE: &str = "tracestate";

/// On replies: `ok` or `error`.
pub const STATUS: &str = "Faas-Status";
/// Value of [`STATUS`] for success.
pub const STATUS_OK: &str = "ok";
/// Value of [`STATUS`] for failure; the payload is then the error message.
pub const STATUS_ERROR: &str = "error";

/// On error replies: the machine-readable [`crate::ErrorCode`].
pub const ERROR_CODE: &str = "Faas-Error-Code";

/// On exec requests: `true` asks for the function's stdout and stderr in the
/// reply, which is then a JSON [`crate::admin::ExecLogsReply`] instead of the raw output.
pub const INCLUDE_LOGS: &str = "Faas-Include-Logs";

/// On exec replies: the sha256 of the component that ran.
pub const DIGEST: &str = "Faas-Digest";

/// On exec replies: which executor ran the call (its instance id).
pub const EXECUTOR: &str = "Faas-Executor";

/// On exec replies: where the compiled component came from, one of the
/// `CACHE_*` values. Lets operators and tests see the cache at work.
pub const CACHE: &str = "Faas-Cache";
/// [`CACHE`]: compiled earlier by this executor, found in its memory.
pub const CACHE_MEMORY: &str = "memory";
/// [`CACHE`]: loaded from the shared precompiled-artifact store.
pub const CACHE_ARTIFACT: &str = "artifact";
/// [`CACHE`]: compiled from the component bytes for this call.
pub const CACHE_COMPILED: &str = "compiled";

/// On job messages and result announcements: the job's id.
pub const JOB_ID: &str = "Faas-Job-Id";

/// On a job message whose record the submitter did not write (a fresh job
/// id, which no earlier submission can have), and on its kept input: when
/// the job was accepted, in Unix milliseconds. The job's first record is
/// then the worker's (created as it starts the job), and until then a
/// reader makes the queued record from the kept input.
pub const JOB_SUBMITTED_AT: &str = "Faas-Job-Submitted-At";

/// On dead letters: the failed job's [`crate::Target`] (`<bucket>/<function>`
/// or `pipeline/<name>`), so a re-drive knows where to queue it again.
pub const JOB_TARGET: &str = "Faas-Function";

/// On job messages, dead letters and callback deliveries: the job's full
/// callback URL. Only here is it unredacted (see [`crate::callbacks`]).
pub const CALLBACK_URL: &str = "Faas-Callback-Url";

/// On callback POSTs (Standard Webhooks): the delivery id, the same on every
/// retry of one delivery ([`crate::callbacks::delivery_id`]).
pub const WEBHOOK_ID: &str = "webhook-id";

/// On callback POSTs: when this attempt was signed, in Unix seconds.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";

/// On callback POSTs: `v1,` and the base64 HMAC-SHA256, under the
/// platform's webhook secret, of `{webhook-id}.{webhook-timestamp}.{body}`.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// JetStream's de-duplication id (a NATS convention): on job messages, the
/// job id; on an async trigger's event, the publisher's retry key.
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";

/// The payload's media type, on JSON messages (admin replies, job results,
/// trigger failures, exec replies with logs).
pub const CONTENT_TYPE: &str = "Content-Type";
/// [`CONTENT_TYPE`] of JSON payloads.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// [`CONTENT_TYPE`] of newline-delimited JSON payloads: a batch of call
/// logs ([`crate::logs`]), one JSON object per line.
pub const CONTENT_TYPE_NDJSON: &str = "application/x-ndjson";

/// On trigger output, trigger-made jobs and chained events: how many trigger
/// links the event has passed; a trigger refuses events at its hop limit.
pub const HOPS: &str = "Faas-Hops";

/// On trigger output and trigger-made jobs: the trigger's name.
pub const TRIGGER: &str = "Faas-Trigger";

/// On a scheduled trigger's events: the tick they run for (RFC 3339, UTC).
pub const SCHEDULED_AT: &str = "Faas-Scheduled-At";

/// On jobs made by an async trigger: where the output is published.
pub const OUTPUT_SUBJECT: &str = "Faas-Output-Subject";

/// On pipeline error replies: the failed step, numbered from 1.
pub const PIPELINE_STEP: &str = "Faas-Pipeline-Step";

/// On pipeline error replies: the failed step's `<bucket>/<function>`.
pub const PIPELINE_FUNCTION: &str = "Faas-Pipeline-Function";

/// On admin commands and job messages the api sends: the id of the token
/// that authenticated the request (the acting principal), for audit and logs.
pub const PRINCIPAL_ID: &str = "Faas-Principal-Id";

/// With [`PRINCIPAL_ID`]: the token's name.
pub const PRINCIPAL_NAME: &str = "Faas-Principal-Name";

/// On HTTP-function requests (`<p>.http.<b>.<f>`): the HTTP method.
pub const HTTP_METHOD: &str = "Faas-Http-Method";

/// On HTTP-function requests: the path after `/run/<b>/<f>`, always
/// starting with `/` (percent-encoding kept as sent).
pub const HTTP_PATH: &str = "Faas-Http-Path";

/// On HTTP-function requests: the query string without `?` (absent: none).
pub const HTTP_QUERY: &str = "Faas-Http-Query";

/// On HTTP-function replies: the handler's status code (three digits).
pub const HTTP_STATUS: &str = "Faas-Http-Status";

/// On HTTP-function requests and replies whose body does not fit in one
/// message: the name of the object in the transfer store that holds it
/// (the payload is then empty; the receiver reads and deletes the object).
pub const HTTP_BODY_STAGED: &str = "Faas-Http-Body-Staged";

/// On exec requests: the world the caller requires. The api's `/exec` sends
/// `exec`, so an HTTP function answers `wrong_world` naming `/run`; without
/// it (triggers, jobs, pipelines, NATS clients) an HTTP function is run with
/// the input as a `POST /` body, and a non-2xx status is
/// `function_http_error`.
pub const EXPECT_WORLD: &str = "Faas-Expect-World";

/// On exec and HTTP-function replies: the world of the function that ran.
pub const WORLD: &str = "Faas-World";

/// On exec and HTTP-function requests (and the job messages of
/// `/async/{b}/{f}@{v}`): run this version of the function, a digest or a
/// unique prefix of one (at least 8 hex characters), instead of the
/// current one ([`crate::versions`]).
pub const VERSION: &str = "Faas-Version";

/// On exec and HTTP-function requests (`x-faas-route-key` over HTTP): the
/// key a weighted alias hashes to pick a version, so the same key always
/// lands on the same one ([`crate::aliases::pick`]); without it the pick
/// is random per call.
pub const ROUTE_KEY: &str = "Faas-Route-Key";
/// On exec requests and job messages: [`SIDE_EFFECTS_NONE`] runs the call
/// with read-only capability grants, no messaging publish and no outgoing
/// HTTP (a replay without `side_effects`).
pub const SIDE_EFFECTS: &str = "Faas-Side-Effects";
/// Value of [`SIDE_EFFECTS`]: the call may not act on the world.
pub const SIDE_EFFECTS_NONE: &str = "none";

/// On a failed exec reply: the call id (a uuid) its input is kept under
/// for `POST /calls/{id}/replay`; HTTP `x-faas-call-id`.
pub const CALL_ID: &str = "Faas-Call-Id";

/// `value` as a header value: control characters (which would end a NATS
/// or HTTP header line) become spaces. For values people choose, such as
/// a token's name.
pub fn header_safe(value: &str) -> String {
    value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Set by JetStream on key-value entries: `DEL` or `PURGE` on removals.
/// Not ours, but spelled here like every header the platform reads.
pub const KV_OPERATION: &str = "KV-Operation";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_leave_room_for_headers() {
        assert_eq!(payload_limit(1 << 20), (1 << 20) - HEADER_ROOM);
        assert_eq!(payload_limit(100), 0);
        assert!(is_valid_request_id(&new_request_id()));
        assert_eq!(header_safe("ci\r\nbot\u{7f}"), "ci  bot ");
    }

    #[test]
    fn request_ids_are_distinct_v4_uuids_across_threads() {
        let mint = || (0..1000).map(|_| new_request_id()).collect::<Vec<_>>();
        let other = std::thread::spawn(mint).join().unwrap();
        let ids: std::collections::HashSet<String> = mint().into_iter().chain(other).collect();
        assert_eq!(ids.len(), 2000);
        for id in &ids {
            assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version(), Some(uuid::Version::Random));
        }
    }
}
