//! Pipelines: named lists of functions run in order, each output the next
//! step's input.
//!
//! Pre- and post-processing without a coordinator of the user's own: the
//! executors serve `<prefix>.pipeline.<name>` in their queue group; the one
//! that takes a run calls the steps in process, one after another, and
//! answers with the last output, or with the first failure, which names the
//! step ([`crate::headers::PIPELINE_STEP`], numbered from 1) and its
//! function. Definitions live in the [`pipelines`](crate::jetstream::JetStreamNames::pipelines)
//! key-value bucket; executors follow it and a change answers once every
//! executor applied it, so a changed pipeline applies to the next run.

use serde::{Deserialize, Serialize};

use crate::names::{FunctionRef, PipelineName, function_ref_string};

/// Most steps a pipeline may have.
pub const MAX_STEPS: usize = 16;

/// What `PUT /pipeline/{name}` takes and the pipeline store holds.
///
/// A step is `"<bucket>/<function>"`, or `"<bucket>/<function>@<version>"`
/// to run a kept version (digest or unique prefix: the version is pinned,
/// retention keeps it) or an alias (see [`crate::aliases`]). On the wire
/// the version stays in the step's string; here it is split off into
/// [`PipelineSpec::versions`] so that `steps` stays a list of functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StepStrings", into = "StepStrings")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineSpec {
    /// The functions, in order, each `"<bucket>/<function>[@<version or alias>]"`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>, min_items = 1, max_items = 16))]
    pub steps: Vec<FunctionRef>,
    /// Each step's version or alias (`None`: the current one); empty when
    /// no step names one.
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub versions: Vec<Option<String>>,
}

/// [`PipelineSpec`] as JSON holds it: each step one string.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepStrings {
    steps: Vec<String>,
}

impl TryFrom<StepStrings> for PipelineSpec {
    type Error = String;
    fn try_from(StepStrings { steps: strings }: StepStrings) -> Result<Self, String> {
        let mut steps = Vec::with_capacity(strings.len());
        let mut versions = Vec::with_capacity(strings.len());
        for step in strings {
            let (function, version) = crate::versions::split_at_version(&step);
            steps.push(function.parse::<FunctionRef>().map_err(|e| e.to_string())?);
            let version = version
                .map(crate::aliases::check_version_or_alias)
                .transpose()
                .map_err(|e| format!("step {step}: {}", e.message))?;
            versions.push(version);
        }
        if versions.iter().all(Option::is_none) {
            versions.clear();
        }
        Ok(Self { steps, versions })
    }
}

impl From<PipelineSpec> for StepStrings {
    fn from(spec: PipelineSpec) -> Self {
        let steps = spec
            .steps
            .iter()
            .enumerate()
            .map(|(index, function)| match spec.version(index) {
                Some(version) => format!("{function}@{version}"),
                None => function.to_string(),
            })
            .collect();
        Self { steps }
    }
}

impl PipelineSpec {
    /// A pipeline of `steps`, each running the current version.
    pub fn of(steps: Vec<FunctionRef>) -> Self {
        Self { steps, versions: Vec::new() }
    }

    /// The version or alias step `index` (from 0) names, if any.
    pub fn version(&self, index: usize) -> Option<&str> {
        self.versions.get(index).and_then(Option::as_deref)
    }

    /// Checks the number of steps (1 to [`MAX_STEPS`]).
    pub fn check(&self) -> Result<(), String> {
        if (1..=MAX_STEPS).contains(&self.steps.len()) {
            Ok(())
        } else {
            Err(format!("a pipeline has 1 to {MAX_STEPS} steps, got {}", self.steps.len()))
        }
    }
}

/// A pipeline as listed: its name and definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pipeline {
    /// The pipeline's name.
    pub name: PipelineName,
    /// Its definition.
    #[serde(flatten)]
    pub spec: PipelineSpec,
}

/// Where a pipeline run stopped: carried in the error reply's headers and
/// in the api's error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedStep {
    /// The step, numbered from 1.
    pub step: usize,
    /// Its function, `"<bucket>/<function>"`.
    #[serde(with = "function_ref_string")]
    pub function: FunctionRef,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_function_references_and_counted() {
        let spec: PipelineSpec =
            serde_json::from_value(serde_json::json!({"steps": ["fns/validate", "fns/hello"]})).unwrap();
        assert_eq!(spec.check(), Ok(()));
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            serde_json::json!({"steps": ["fns/validate", "fns/hello"]})
        );
        let empty = PipelineSpec::of(vec![]);
        assert!(empty.check().unwrap_err().contains("1 to 16"));
        assert!(serde_json::from_value::<PipelineSpec>(serde_json::json!({"steps": ["nope"]})).is_err());
        assert!(serde_json::from_value::<PipelineSpec>(serde_json::json!({"steps": [], "x": 1})).is_err());
    }

    #[test]
    fn steps_may_name_a_version_or_an_alias() {
        let json = serde_json::json!({"steps": ["fns/a@abcdef01", "fns/b", "fns/c@stable"]});
        let spec: PipelineSpec = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(spec.steps[0].to_string(), "fns/a");
        assert_eq!(spec.version(0), Some("abcdef01"));
        assert_eq!(spec.version(1), None);
        assert_eq!(spec.version(2), Some("stable"));
        assert_eq!(serde_json::to_value(&spec).unwrap(), json);
        let bad = serde_json::json!({"steps": ["fns/a@beef"]});
        assert!(serde_json::from_value::<PipelineSpec>(bad).is_err());
    }
}
