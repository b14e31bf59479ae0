//! Reading request bodies under a limit that the error message states.

use axum::body::{Body, Bytes};
use http_body_util::LengthLimitError;
use protocol::{ErrorCode, headers};

use crate::error::ApiError;
use crate::state::AppState;
use crate::timeouts::BodyTimeout;

/// Reads an input that must travel in one NATS message: up to the server's
/// `max_payload` less room for headers, else a 413 naming `what`.
pub async fn read_message_input(state: &AppState, body: Body, what: &str) -> Result<Bytes, ApiError> {
    let limit = headers::payload_limit(state.client.max_payload());
    read_to_limit(body, limit, || format!("{what} (the NATS server's max_payload less headers)")).await
}

/// Reads the whole body, refusing more than `limit` bytes with a 413 that
/// names `what` and the limit.
pub async fn read_limited(body: Body, limit: usize, what: &str) -> Result<Bytes, ApiError> {
    read_to_limit(body, limit, || what.to_owned()).await
}

/// Every call reads its input here: the 413's wording is only made for the
/// answer that needs it.
async fn read_to_limit(body: Body, limit: usize, what: impl FnOnce() -> String) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        if find_cause::<LengthLimitError>(&err).is_some() {
            too_large(&what(), limit)
        } else {
            read_failed(&err)
        }
    })
}

/// The answer to a body that could not be read: 408 when the client was too
/// slow ([`BodyTimeout`]), else 400.
pub fn read_failed(err: &(dyn std::error::Error + 'static)) -> ApiError {
    if let Some(timeout) = find_cause::<BodyTimeout>(err) {
        return ApiError::new(ErrorCode::RequestTimeout, timeout.to_string());
    }
    ApiError::new(ErrorCode::BadRequest, format!("could not read the request body: {err}"))
}

/// The 413 for a body over `limit`.
pub fn too_large(what: &str, limit: usize) -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, format!("{what} exceeds the limit of {limit} bytes"))
}

/// `err` itself or the first of its sources that is a `T`.
pub fn find_cause<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}
