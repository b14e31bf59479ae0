//! Reading request bodies under a limit that the error message states.

use axum::body::{Body, Bytes};
use http_body_util::LengthLimitError;
use protocol::{ErrorCode, headers};

use crate::error::ApiError;
use crate::state::AppState;

/// Reads an input that must travel in one NATS message: up to the server's
/// `max_payload` less room for headers, else a 413 naming `what`.
pub async fn read_message_input(state: &AppState, body: Body, what: &str) -> Result<Bytes, ApiError> {
    let limit = headers::payload_limit(state.client.server_info().max_payload);
    read_limited(body, limit, &format!("{what} (the NATS server's max_payload less headers)")).await
}

/// Reads the whole body, refusing more than `limit` bytes with a 413 that
/// names `what` and the limit.
pub async fn read_limited(body: Body, limit: usize, what: &str) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        if is_length_limit(&err) {
            too_large(what, limit)
        } else {
            ApiError::new(ErrorCode::BadRequest, format!("could not read the request body: {err}"))
        }
    })
}

/// The 413 for a body over `limit`.
pub fn too_large(what: &str, limit: usize) -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, format!("{what} exceeds the limit of {limit} bytes"))
}

fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}
