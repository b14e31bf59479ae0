//! Admin commands to the dispatchers, answered with each command's own
//! reply type.
//!
//! Exec and pipeline calls go through [`bus::ExecClient`] (in
//! [`crate::state::AppState`]); both map a request that got no reply the
//! same way ([`bus::request`]), so a missing dispatcher is a 503 at once.

use bus::Responder;
use protocol::{AdminCommand, AdminReply, AdminRequest, ErrorCode};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// Sends an admin command to a dispatcher, on behalf of `principal` (which
/// travels in the message's headers, for the dispatcher's audit and logs),
/// and returns its answer.
pub async fn admin<C: AdminCommand>(
    state: &AppState,
    request_id: &RequestId,
    principal: &Principal,
    command: C,
) -> Result<C::Reply, ApiError> {
    let subject = state.subjects.admin(C::COMMAND);
    let request: AdminRequest = command.into();
    let payload = serde_json::to_vec(&request).expect("admin commands always serialise");
    let wait = state.config.admin_wait();
    let reply = bus::request(
        &state.client,
        Responder::Dispatcher,
        subject,
        principal.headers(),
        payload.into(),
        request_id.as_str(),
        wait,
    )
    .await?;
    let reply: AdminReply<C::Reply> = serde_json::from_slice(&reply.payload)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("malformed dispatcher reply: {e}")))?;
    Result::from(reply).map_err(ApiError::from)
}
