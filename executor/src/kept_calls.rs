//! Keeping a failed sync call's input, so it can be replayed later
//! (`POST /calls/{id}/replay`) against another version.
//!
//! A sync call's input exists only in its request: once the reply is sent
//! it is gone. Where the function's configuration (`keep_inputs`) or, when
//! it says nothing, the platform (`FAAS_KEEP_FAILED_INPUTS`) asks for it,
//! the input of a failed exec-world call is kept under a fresh call id
//! (a uuid, logged beside the request id), and the reply says so in `Faas-Call-Id`. Kept only: calls on the exec
//! subject (an HTTP-function call's request is method, path, headers and a
//! possibly staged body, not kept yet), that found the function (a digest
//! ran or was about to), that are not jobs (whose inputs are kept anyway),
//! and inputs of at most [`MAX_KEPT_CALL_INPUT`] bytes.

use async_nats::Message;
use bus::{FunctionConfigWatch, KeptCall, KeptInputs};
use protocol::replay::{MAX_KEPT_CALL_INPUT, keeps_failed_input};
use protocol::{ErrorBody, FunctionRef, World, headers};
use tracing::{info, warn};

use crate::error::ExecError;

/// Whether and where failed calls' inputs are kept.
pub struct Keeping {
    /// `FAAS_KEEP_FAILED_INPUTS`: the rule for functions that set none.
    pub platform_default: bool,
    /// The functions' configurations (`keep_inputs`).
    pub configs: FunctionConfigWatch,
    /// Where inputs are kept.
    pub kept: KeptInputs,
}

impl Keeping {
    /// Keeps the input of the failed call `message` if the rules say so;
    /// the call id it is kept under, if it was.
    pub async fn keep_failed(
        &self,
        function: &FunctionRef,
        route: World,
        message: &Message,
        error: &ExecError,
        digest: Option<String>,
    ) -> Option<String> {
        if route != World::Exec || digest.is_none() || bus::header(message, headers::JOB_ID).is_some() {
            return None;
        }
        let config = self.configs.config(function).await.ok().flatten();
        let chosen = config.as_ref().and_then(|c| c.limits.keep_inputs);
        if !keeps_failed_input(chosen, self.platform_default) {
            return None;
        }
        if message.payload.len() > MAX_KEPT_CALL_INPUT {
            info!(
                size = message.payload.len(),
                max = MAX_KEPT_CALL_INPUT,
                "the failed call's input is too large to keep; it cannot be replayed"
            );
            return None;
        }
        let call = KeptCall {
            // A fresh uuid, not the request id: callers choose request ids,
            // and one caller's must never replace another's kept input.
            call_id: uuid::Uuid::new_v4().to_string(),
            function: function.clone(),
            error: ErrorBody::new(error.code(), error.to_string()),
            digest,
            input: message.payload.clone(),
        };
        match self.kept.keep_call(&call).await {
            Ok(()) => {
                info!(call_id = %call.call_id, "the failed call's input is kept for replay");
                Some(call.call_id)
            }
            Err(err) => {
                warn!(%err, "could not keep the failed call's input; it cannot be replayed");
                None
            }
        }
    }
}
