//! The prelude every route on one function's settings shares
//! (`/file/{bucket}/{function}...`, `/config/{bucket}/{function}`,
//! `/logs/{bucket}/{function}`): the function its path names, checked, and
//! the caller's right to it, checked in that order (a bad name is 400
//! before a missing scope is 403). A handler that takes a [`FunctionAt`]
//! starts with a function it may touch, and cannot forget either check.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use protocol::auth::Access;
use protocol::{ErrorCode, FunctionRef};

use crate::auth::Principal;
use crate::error::ApiError;

/// What a route needs on the function's bucket.
pub trait Needs {
    /// The access it needs.
    const ACCESS: Access;
}

/// The route reads (`read:<bucket>`).
pub enum ToRead {}

impl Needs for ToRead {
    const ACCESS: Access = Access::Read;
}

/// The route changes the function (`deploy:<bucket>`).
pub enum ToDeploy {}

impl Needs for ToDeploy {
    const ACCESS: Access = Access::Deploy;
}

/// The function the path names and the caller, who may `N` it.
pub struct FunctionAt<N> {
    /// The function.
    pub function: FunctionRef,
    /// Who asks, for the admin command sent on their behalf.
    pub principal: Principal,
    needs: PhantomData<N>,
}

impl<N: Needs, S: Send + Sync> FromRequestParts<S> for FunctionAt<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
        let param = |name: &str| params.iter().find(|(key, _)| *key == name).map(|(_, value)| value);
        let (Some(bucket), Some(function)) = (param("bucket"), param("function")) else {
            return Err(ApiError::new(ErrorCode::Internal, "a function route without {bucket}/{function}"));
        };
        let function = FunctionRef::new(bucket, function)?;
        let principal =
            parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
                ApiError::new(ErrorCode::Internal, "no principal on an authenticated route")
            })?;
        principal.require(N::ACCESS, &function.bucket)?;
        Ok(Self { function, principal, needs: PhantomData })
    }
}
