//! Pipelines: named lists of functions run in order, each output the next
//! step's input.
//!
//! Pre- and post-processing without a coordinator of the user's own: a
//! dispatcher serves `<prefix>.pipeline.<name>`, runs the steps through the
//! executors' queue group and answers with the last output, or with the
//! first failure, which names the step ([`crate::headers::PIPELINE_STEP`],
//! numbered from 1) and its function. Definitions live in the [`pipelines`](crate::jetstream::JetStreamNames::pipelines)
//! key-value bucket and are read per run, so a changed pipeline applies to
//! the next run.

use serde::{Deserialize, Serialize};

use crate::names::{FunctionRef, PipelineName, function_ref_string, function_ref_strings};

/// Most steps a pipeline may have.
pub const MAX_STEPS: usize = 16;

/// What `PUT /pipeline/{name}` takes and the pipeline store holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineSpec {
    /// The functions, in order, each `"<bucket>/<function>"`.
    #[serde(with = "function_ref_strings")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>, min_items = 1, max_items = 16))]
    pub steps: Vec<FunctionRef>,
}

impl PipelineSpec {
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
        let empty = PipelineSpec { steps: vec![] };
        assert!(empty.check().unwrap_err().contains("1 to 16"));
        assert!(serde_json::from_value::<PipelineSpec>(serde_json::json!({"steps": ["nope"]})).is_err());
    }
}
