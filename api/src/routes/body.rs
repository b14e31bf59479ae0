//! Reading request bodies under a limit that the error message states.

use axum::body::{Body, Bytes};
use http_body_util::LengthLimitError;
use protocol::ErrorCode;

use crate::error::ApiError;

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
