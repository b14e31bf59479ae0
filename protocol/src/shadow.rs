//! Shadow traffic: a sample of a function's live calls to `current` also
//! run, asynchronously and with read-only capabilities, against a candidate
//! version, and each pair's outcome recorded, so a candidate can be
//! compared with what runs before it is switched to.
//!
//! This module holds what the roles agree on: the request
//! ([`ShadowSpec`], `PUT /file/{b}/{f}/shadow`), the configuration the
//! dispatcher writes to the [`shadow`](crate::JetStreamNames::shadow)
//! key-value bucket and executors follow ([`ShadowConfig`]), one pair's
//! outcome as an executor publishes it on
//! [`shadow_outcome`](crate::Subjects::shadow_outcome) ([`ShadowOutcome`]),
//! and the summary the dispatcher makes of them ([`ShadowReport`],
//! [`summarise`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorBody, ErrorCode};
use crate::names::FunctionRef;

/// Shadow runs a function gets per second unless its spec says otherwise.
pub const DEFAULT_MAX_PER_SEC: u32 = 50;

/// The most shadow runs per second a spec may ask for.
pub const MAX_PER_SEC_LIMIT: u32 = 1000;

/// The bytes of each side's output an outcome keeps.
pub const OUTPUT_KEEP_BYTES: usize = 1024;

/// Differing pairs a report shows in full.
pub const REPORT_EXAMPLES: usize = 10;

/// Outcomes the dispatcher reads at most for one report (the newest ones).
pub const REPORT_MAX_OUTCOMES: usize = 10_000;

/// Outcomes kept per function in the outcome stream.
pub const OUTCOMES_PER_FUNCTION: i64 = 10_000;

/// The outcome stream's byte cap unless configured otherwise
/// (`FAAS_SHADOW_OUTCOMES_MAX_BYTES`).
pub const OUTCOMES_DEFAULT_MAX_BYTES: i64 = 64 << 20;

/// How long outcomes are kept unless configured otherwise
/// (`FAAS_SHADOW_OUTCOMES_MAX_AGE_SECS`).
pub const OUTCOMES_DEFAULT_MAX_AGE_SECS: u64 = 7 * 24 * 3600;

/// A share of calls, in (0, 1] once [`ShadowSpec::validate`] passed. JSON
/// has no NaN, so a sample read from JSON always equals itself: hence `Eq`,
/// which admin commands need.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sample(pub f64);

impl Eq for Sample {}

/// `PUT /file/{b}/{f}/shadow`: what to shadow the function's live calls with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShadowSpec {
    /// The candidate: a kept version's digest or a unique prefix of one
    /// (8+ hex characters), of the same world as the function.
    pub version: String,
    /// The share of live calls to `current` also run on the candidate, in
    /// (0, 1].
    pub sample: Sample,
    /// Shadow runs per second at most, per executor (default 50, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_sec: Option<u32>,
}

impl ShadowSpec {
    /// Checks the numbers (the version is resolved by the dispatcher).
    pub fn validate(&self) -> Result<(), ErrorBody> {
        let bad = |message: String| Err(ErrorBody::new(ErrorCode::BadRequest, message));
        let sample = self.sample.0;
        if !(sample > 0.0 && sample <= 1.0) {
            return bad(format!("sample {sample} must be in (0, 1]"));
        }
        if let Some(max) = self.max_per_sec
            && !(1..=MAX_PER_SEC_LIMIT).contains(&max)
        {
            return bad(format!("max_per_sec {max} must be between 1 and {MAX_PER_SEC_LIMIT}"));
        }
        crate::versions::check_selector(&self.version)?;
        Ok(())
    }
}

/// A function's shadowing, as the dispatcher stores it under
/// [`shadow_key`] and `GET /file/{b}/{f}/shadow` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShadowConfig {
    /// The function, `<bucket>/<function>`.
    pub function: String,
    /// The candidate's full digest.
    pub candidate: String,
    /// The share of live calls shadowed, in (0, 1].
    pub sample: f64,
    /// Shadow runs per second at most, per executor.
    pub max_per_sec: u32,
    /// When this shadowing (and its report window) started, Unix ms.
    pub started_at_ms: u64,
    /// The token that started it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
}

/// The shadow store key of `function`: `<bucket>.<function>`.
pub fn shadow_key(function: &FunctionRef) -> String {
    format!("{}.{}", function.bucket, function.function)
}

/// How a shadow pair compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Verdict {
    /// Both answered, with the same output.
    Equal,
    /// Both answered, with different outputs.
    Different,
    /// The live version answered, the candidate failed.
    CandidateFailed,
    /// The candidate answered, the live version failed.
    LiveFailed,
    /// Both failed (with the same or different codes).
    BothFailed,
}

impl Verdict {
    /// Every verdict, in report order.
    pub const ALL: [Self; 5] =
        [Self::Equal, Self::Different, Self::CandidateFailed, Self::LiveFailed, Self::BothFailed];

    /// The verdict as JSON and metrics labels spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "equal",
            Self::Different => "different",
            Self::CandidateFailed => "candidate_failed",
            Self::LiveFailed => "live_failed",
            Self::BothFailed => "both_failed",
        }
    }

    /// The verdict of a pair, `same_output` saying whether both whole
    /// outputs (not only the kept part) are equal: a failure on either side
    /// is named by side; two failures are `both_failed` whatever the codes.
    pub fn of(live: &ShadowSide, candidate: &ShadowSide, same_output: bool) -> Self {
        match (&live.error, &candidate.error) {
            (None, None) if same_output => Self::Equal,
            (None, None) => Self::Different,
            (None, Some(_)) => Self::CandidateFailed,
            (Some(_), None) => Self::LiveFailed,
            (Some(_), Some(_)) => Self::BothFailed,
        }
    }
}

/// One side of a shadow pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShadowSide {
    /// The digest that ran (or was to run).
    pub digest: String,
    /// The error code when this side failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorCode>,
    /// Its output (or error message), at most [`OUTPUT_KEEP_BYTES`],
    /// lossily decoded as UTF-8.
    pub output: String,
    /// The full output's size in bytes (more than `output` holds when cut).
    pub output_bytes: u64,
    /// How long it ran, in microseconds.
    pub duration_us: u64,
}

impl ShadowSide {
    /// A side that answered `output` (kept cut to [`OUTPUT_KEEP_BYTES`]).
    pub fn answered(digest: &str, output: &[u8], duration_us: u64) -> Self {
        Self {
            digest: digest.to_owned(),
            error: None,
            output: truncated(output),
            output_bytes: output.len() as u64,
            duration_us,
        }
    }

    /// A side that failed with `error`.
    pub fn failed(digest: &str, error: &ErrorBody, duration_us: u64) -> Self {
        Self {
            digest: digest.to_owned(),
            error: Some(error.code),
            output: truncated(error.message.as_bytes()),
            output_bytes: error.message.len() as u64,
            duration_us,
        }
    }
}

/// The first [`OUTPUT_KEEP_BYTES`] of `bytes` as text, never cutting a
/// character in two.
fn truncated(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(OUTPUT_KEEP_BYTES + 4)]);
    let mut end = text.len().min(OUTPUT_KEEP_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// One shadow pair, as an executor publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShadowOutcome {
    /// When the live call finished, Unix ms.
    pub at_ms: u64,
    /// The live call's request id.
    pub request_id: String,
    /// How the pair compared.
    pub verdict: Verdict,
    /// The live call.
    pub live: ShadowSide,
    /// The candidate's run.
    pub candidate: ShadowSide,
    /// The executor that ran both.
    pub executor: String,
}

/// Latency of one side over a report's outcomes, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
}

/// `200` to `GET /file/{b}/{f}/shadow/report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShadowReport {
    /// The function, `<bucket>/<function>`.
    pub function: String,
    /// The shadowing running now; `None` once stopped (`DELETE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ShadowConfig>,
    /// The outcomes summarised (at most [`REPORT_MAX_OUTCOMES`], the newest).
    pub outcomes: u64,
    /// Outcomes per verdict (every verdict present, zeros included).
    pub verdicts: BTreeMap<String, u64>,
    /// The candidate's error codes and how often each came.
    pub candidate_errors: BTreeMap<String, u64>,
    /// The live side's latency.
    pub live_latency: Latency,
    /// The candidate's latency.
    pub candidate_latency: Latency,
    /// The first [`REPORT_EXAMPLES`] differing pairs (verdict `different`),
    /// oldest first, with both outputs.
    pub differences: Vec<ShadowOutcome>,
    /// The oldest outcome's time, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<u64>,
    /// The newest outcome's time, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
}

/// The report of `outcomes` (oldest first) for `function`.
pub fn summarise(
    function: &FunctionRef,
    config: Option<ShadowConfig>,
    outcomes: &[ShadowOutcome],
) -> ShadowReport {
    let mut verdicts: BTreeMap<String, u64> =
        Verdict::ALL.iter().map(|v| (v.as_str().to_owned(), 0)).collect();
    let mut candidate_errors = BTreeMap::new();
    let (mut live, mut candidate) = (Vec::new(), Vec::new());
    for outcome in outcomes {
        *verdicts.entry(outcome.verdict.as_str().to_owned()).or_default() += 1;
        if let Some(code) = outcome.candidate.error {
            *candidate_errors.entry(code.as_str().to_owned()).or_default() += 1;
        }
        live.push(outcome.live.duration_us);
        candidate.push(outcome.candidate.duration_us);
    }
    let differences = outcomes
        .iter()
        .filter(|outcome| outcome.verdict == Verdict::Different)
        .take(REPORT_EXAMPLES)
        .cloned()
        .collect();
    ShadowReport {
        function: function.to_string(),
        config,
        outcomes: outcomes.len() as u64,
        verdicts,
        candidate_errors,
        live_latency: latency(live),
        candidate_latency: latency(candidate),
        differences,
        since_ms: outcomes.iter().map(|o| o.at_ms).min(),
        until_ms: outcomes.iter().map(|o| o.at_ms).max(),
    }
}

/// p50 and p99 (nearest rank) of `durations`.
fn latency(mut durations: Vec<u64>) -> Latency {
    if durations.is_empty() {
        return Latency::default();
    }
    durations.sort_unstable();
    let rank = |q: f64| {
        let index = ((q * durations.len() as f64).ceil() as usize).clamp(1, durations.len()) - 1;
        durations[index]
    };
    Latency { p50_us: rank(0.50), p99_us: rank(0.99) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(output: &str, error: Option<ErrorCode>, duration_us: u64) -> ShadowSide {
        ShadowSide {
            digest: "d".into(),
            error,
            output: output.into(),
            output_bytes: output.len() as u64,
            duration_us,
        }
    }

    #[test]
    fn specs_are_checked() {
        let spec = |sample, max_per_sec| ShadowSpec {
            version: "0123abcd".into(),
            sample: Sample(sample),
            max_per_sec,
        };
        assert!(spec(0.1, None).validate().is_ok());
        assert!(spec(1.0, Some(1)).validate().is_ok());
        for bad in [spec(0.0, None), spec(1.01, None), spec(f64::NAN, None), spec(0.5, Some(0))] {
            assert_eq!(bad.validate().unwrap_err().code, ErrorCode::BadRequest, "{bad:?}");
        }
        let short = ShadowSpec { version: "abc".into(), sample: Sample(0.5), max_per_sec: None };
        assert_eq!(short.validate().unwrap_err().code, ErrorCode::BadRequest);
    }

    #[test]
    fn verdicts_and_the_summary() {
        assert_eq!(Verdict::of(&side("a", None, 1), &side("a", None, 1), true), Verdict::Equal);
        assert_eq!(Verdict::of(&side("a", None, 1), &side("a", None, 1), false), Verdict::Different);
        let trapped = Some(ErrorCode::FunctionTrapped);
        assert_eq!(Verdict::of(&side("a", None, 1), &side("x", trapped, 1), false), Verdict::CandidateFailed);
        assert_eq!(Verdict::of(&side("x", trapped, 1), &side("a", None, 1), false), Verdict::LiveFailed);
        assert_eq!(Verdict::of(&side("x", trapped, 1), &side("x", trapped, 1), false), Verdict::BothFailed);

        let outcome = |verdict, candidate: ShadowSide, at_ms| ShadowOutcome {
            at_ms,
            request_id: format!("r{at_ms}"),
            verdict,
            live: side("a", None, at_ms * 10),
            candidate,
            executor: "e".into(),
        };
        let outcomes: Vec<_> = (1..=30)
            .map(|i| match i % 3 {
                0 => outcome(Verdict::Different, side("b", None, 5), i),
                1 => outcome(Verdict::CandidateFailed, side("t", trapped, 5), i),
                _ => outcome(Verdict::Equal, side("a", None, 5), i),
            })
            .collect();
        let function = FunctionRef::new("bk1", "f1").unwrap();
        let report = summarise(&function, None, &outcomes);
        assert_eq!(report.outcomes, 30);
        assert_eq!(report.verdicts["different"], 10);
        assert_eq!(report.verdicts["both_failed"], 0);
        assert_eq!(report.candidate_errors["function_trapped"], 10);
        assert_eq!(report.differences.len(), REPORT_EXAMPLES);
        assert_eq!(report.differences[0].at_ms, 3);
        assert_eq!(report.live_latency, Latency { p50_us: 150, p99_us: 300 });
        assert_eq!((report.since_ms, report.until_ms), (Some(1), Some(30)));
    }

    #[test]
    fn outputs_are_cut_on_a_character_boundary() {
        let long = "é".repeat(OUTPUT_KEEP_BYTES);
        let side = ShadowSide::answered("d", long.as_bytes(), 1);
        assert!(side.output.len() <= OUTPUT_KEEP_BYTES && side.output.len() >= OUTPUT_KEEP_BYTES - 1);
        assert_eq!(side.output_bytes, long.len() as u64);
    }
}
