//! Replay: re-running a finished job's input, or a failed sync call's kept
//! input, against a version of its function, as a new job linked to the
//! original.
//!
//! The vocabulary lives here so that the api (which takes the request and
//! writes the new record), the executor (which keeps failed calls' inputs)
//! and clients agree on it: the request body, what a replay's record says
//! about its original, and the rule deciding whether a failed call's input
//! is kept.

use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;
use crate::jobs::JobStatus;

/// At most this many replay ids are listed in the original's record
/// (`replays`); older ones drop off the front.
pub const MAX_REPLAYS_LISTED: usize = 20;

/// A failed sync call's input larger than this is not kept (the executor
/// logs that it was not): kept inputs are for debugging, not bulk storage.
pub const MAX_KEPT_CALL_INPUT: usize = 1 << 20;

/// The body of `POST /jobs/{id}/replay` and `POST /calls/{id}/replay`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayRequest {
    /// The version to run: a digest, a unique prefix of one (8+ hex
    /// characters). Absent: the function's current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `true` lets the replay act: the original's callback is POSTed, a
    /// trigger's output is published, and capabilities keep their grants.
    /// Default `false`: no callback, no trigger output, read-only grants,
    /// no messaging publish, no outgoing HTTP.
    #[serde(default)]
    pub side_effects: bool,
}

/// In a replay's record: what it replays and how the original ended, so
/// `GET /jobs/{id}` shows both outcomes side by side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayOf {
    /// The original job (a job replay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The original sync call's id (a call replay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// The original job's final status (a call replay's original failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
    /// The original's output, if it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The original's error, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// The digest the original ran, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Whether this replay was allowed side effects.
    #[serde(default)]
    pub side_effects: bool,
}

/// A function's choice about keeping its failed sync calls' inputs
/// (`"keep_inputs"` in `PUT /config/{b}/{f}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeepInputs {
    /// Keep the input of every failed sync call.
    Failures,
    /// Keep none, whatever the platform default.
    Off,
}

/// Whether a failed sync call's input is kept: the function's own choice
/// wins; without one, the platform default (`FAAS_KEEP_FAILED_INPUTS`).
pub fn keeps_failed_input(function: Option<KeepInputs>, platform_default: bool) -> bool {
    match function {
        Some(KeepInputs::Failures) => true,
        Some(KeepInputs::Off) => false,
        None => platform_default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_s_choice_wins_over_the_platform_default() {
        assert!(keeps_failed_input(Some(KeepInputs::Failures), false));
        assert!(!keeps_failed_input(Some(KeepInputs::Off), true));
        assert!(keeps_failed_input(None, true));
        assert!(!keeps_failed_input(None, false));
    }

    #[test]
    fn requests_default_to_current_and_no_side_effects() {
        let request: ReplayRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(request, ReplayRequest::default());
        assert!(serde_json::from_str::<ReplayRequest>(r#"{"versoin": "x"}"#).is_err());
        assert_eq!(serde_json::to_value(KeepInputs::Failures).unwrap(), "failures");
    }
}
