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

    /// A fresh id: `protocol::headers::new_request_id` (a v4 uuid minted
    /// without a syscall).
    pub fn mint() -> Self {
        Self(protocol::headers::new_request_id())
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
