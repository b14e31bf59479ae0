//! How an HTTP request to a function travels over NATS.
//!
//! `/run/<b>/<f>/<path>` and `<p>.http.<b>.<f>` carry the same request: the
//! method, path and query in the `Faas-Http-*` headers
//! ([`crate::headers::HTTP_METHOD`], ...), the body as the payload (or staged
//! in the transfer store when it does not fit one message), and every HTTP
//! header of the request under its own (lower-case) name. The reply carries
//! the status in [`crate::headers::HTTP_STATUS`] and the handler's headers
//! the same way. Platform headers (`Faas-*`, `Nats-*`, trace context) share
//! the map, so HTTP headers with those names are never forwarded in either
//! direction, and neither are hop-by-hop headers or `Authorization` (the
//! platform's bearer token is not the function's).

/// Headers that describe one connection, not the message (RFC 9110 7.6.1),
/// plus `host` (the function sees the platform's, which says nothing) and
/// `content-length` (the receiver sets it from the body it has).
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Whether an HTTP header named `name` passes between a client and a
/// function (either direction): not hop-by-hop, not `Authorization`, not
/// one of the platform's own header names.
pub fn is_forwarded(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !(HOP_BY_HOP.contains(&lower.as_str())
        || lower == "authorization"
        || lower.starts_with("faas-")
        || lower.starts_with("nats-")
        || lower == crate::headers::TRACEPARENT
        || lower == crate::headers::TRACESTATE
        || lower == crate::headers::KV_OPERATION.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::is_forwarded;

    #[test]
    fn platform_hop_by_hop_and_credentials_stay_behind() {
        for name in ["content-type", "X-Custom", "accept", "cookie", "etag"] {
            assert!(is_forwarded(name), "{name}");
        }
        for name in [
            "Authorization",
            "Connection",
            "faas-status",
            "Faas-Request-Id",
            "Nats-Msg-Id",
            "traceparent",
            "Host",
            "Transfer-Encoding",
        ] {
            assert!(!is_forwarded(name), "{name}");
        }
    }
}
