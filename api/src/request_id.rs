//! A request id for every HTTP request, echoed as `x-request-id`.
//!
//! The id goes out on every NATS message the request causes (header
//! `Faas-Request-Id`) and into every log line about it, on every hop. A
//! client may bring its own id (a uuid or similar token) to correlate with
//! its logs.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics::Route;
use crate::state::AppState;

/// The HTTP header.
pub const HEADER: &str = protocol::http::REQUEST_ID_HEADER;

/// The current request's id, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(String);

impl RequestId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fresh id: a random (v4) uuid, as `protocol::headers::new_request_id`
    /// makes, but drawn from a per-thread buffer of OS randomness refilled
    /// every [`IDS_PER_FILL`] ids, so that minting one is not a `getrandom`
    /// syscall per request.
    pub fn mint() -> Self {
        let bytes = RANDOM.with_borrow_mut(RandomBuffer::next);
        Self(uuid::Builder::from_random_bytes(bytes).into_uuid().to_string())
    }

    fn from_client(value: Option<&HeaderValue>) -> Option<Self> {
        let value = value?.to_str().ok()?;
        protocol::headers::is_valid_request_id(value).then(|| Self(value.to_owned()))
    }
}

/// Middleware: assigns the id, opens the request's span, counts the response.
pub async fn middleware(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = RequestId::from_client(request.headers().get(HEADER)).unwrap_or_else(RequestId::mint);
    let route = request.extensions().get::<MatchedPath>().cloned().map_or(Route::Unmatched, Route::Matched);
    let method = request.method().clone();
    let span = tracing::info_span!("http", request_id = %id.as_str(), %method, path = %request.uri().path());
    bus::telemetry::adopt_http(&span, request.headers());
    request.extensions_mut().insert(id.clone());
    let started = Instant::now();
    let in_flight = state.metrics.start();
    let mut response = next.run(request).instrument(span.clone()).await;
    drop(in_flight);
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = elapsed.as_secs_f64() * 1e3,
            "request"
        )
    });
    state.metrics.record(method.as_str(), route, response.status().as_u16(), elapsed);
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// How many ids one refill of a thread's buffer gives.
pub const IDS_PER_FILL: usize = 64;

thread_local! {
    static RANDOM: std::cell::RefCell<RandomBuffer> = const { std::cell::RefCell::new(RandomBuffer::EMPTY) };
}

/// OS randomness handed out 16 bytes at a time.
struct RandomBuffer {
    bytes: [u8; 16 * IDS_PER_FILL],
    used: usize,
}

impl RandomBuffer {
    const EMPTY: Self = Self { bytes: [0; 16 * IDS_PER_FILL], used: 16 * IDS_PER_FILL };

    fn next(&mut self) -> [u8; 16] {
        if self.used == self.bytes.len() {
            getrandom::fill(&mut self.bytes).expect("the OS has randomness");
            self.used = 0;
        }
        let mut id = [0; 16];
        id.copy_from_slice(&self.bytes[self.used..self.used + 16]);
        self.used += 16;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_are_valid_distinct_v4_uuids_across_refills() {
        let ids: std::collections::HashSet<String> =
            (0..3 * IDS_PER_FILL).map(|_| RequestId::mint().0).collect();
        assert_eq!(ids.len(), 3 * IDS_PER_FILL);
        for id in &ids {
            assert!(protocol::headers::is_valid_request_id(id), "{id}");
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version(), Some(uuid::Version::Random), "{id}");
        }
    }
}
