//! Runs pipelines: the steps in order, each output the next input.
//!
//! Dispatchers serve `<prefix>.pipeline.*` in their queue group, so one
//! dispatcher runs each request. The definition is read per run (a changed
//! pipeline applies to the next run), and each step is an ordinary call on
//! the executors. The first failing step ends the run; its error names the
//! step (from 1) and the function, in the message and in the
//! `Faas-Pipeline-Step` / `Faas-Pipeline-Function` headers.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{HeaderMap, Message};
use bus::{DefinitionError, DefinitionStore};
use bytes::Bytes;
use protocol::pipelines::FailedStep;
use protocol::{ErrorBody, ErrorCode, PipelineSpec, Target, headers};
use tracing::{Instrument, info, info_span, warn};

use crate::flows::calls::{CallError, Caller, reply_headers};
use crate::flows::metrics::FlowMetrics;

/// What a pipeline run needs.
#[derive(Clone)]
pub struct PipelineRunner {
    /// Calls the steps.
    pub caller: Caller,
    /// The definitions.
    pub pipelines: DefinitionStore<PipelineSpec>,
    /// How long one step may take.
    pub step_wait: Duration,
    /// Counts runs by outcome.
    pub metrics: Arc<FlowMetrics>,
}

/// Why a run stopped.
struct StepFailure {
    /// The failed step; none when the pipeline itself could not be read.
    step: Option<FailedStep>,
    error: ErrorBody,
}

impl PipelineRunner {
    /// Answers one request on a pipeline subject.
    pub async fn serve(self, message: Message) {
        let request_id = crate::flows::calls::request_id(&message);
        let span = info_span!("pipeline", request_id = %request_id, subject = %message.subject);
        async move {
            let Some(reply_to) = message.reply.clone() else {
                warn!("pipeline request without a reply subject; ignored (use an async job instead)");
                return;
            };
            let outcome = match self.caller.subjects().parse_pipeline(message.subject.as_str()) {
                Some(name) => {
                    let outcome = self.run(name.as_str(), message.payload.clone(), &request_id).await;
                    let code = outcome.as_ref().err().map_or("ok", |f| f.error.code.as_str());
                    self.metrics.pipeline_run(name.as_str(), code);
                    outcome
                }
                None => Err(StepFailure {
                    step: None,
                    error: ErrorBody::new(
                        ErrorCode::InvalidName,
                        format!("not a pipeline subject: {}", message.subject),
                    ),
                }),
            };
            let (map, payload) = match outcome {
                Ok(output) => (reply_headers(&request_id, Ok(())), output),
                Err(StepFailure { step, error }) => {
                    warn!(?step, code = %error.code, error = %error.message, "pipeline failed");
                    let mut map = reply_headers(&request_id, Err(&error));
                    if let Some(FailedStep { step, function }) = step {
                        map.insert(headers::PIPELINE_STEP, step.to_string().as_str());
                        map.insert(headers::PIPELINE_FUNCTION, function.as_str());
                    }
                    (map, Bytes::from(error.message))
                }
            };
            if let Err(err) = self.caller.client().publish_with_headers(reply_to, map, payload).await {
                warn!(%err, "could not publish the pipeline's reply");
            }
        }
        .instrument(span)
        .await
    }

    async fn run(&self, name: &str, mut data: Bytes, request_id: &str) -> Result<Bytes, StepFailure> {
        let spec = self.pipelines.get(name).await.map_err(|err| {
            let code = match err {
                DefinitionError::NotFound { .. } => ErrorCode::PipelineNotFound,
                _ => ErrorCode::Unavailable,
            };
            StepFailure { step: None, error: ErrorBody::new(code, err.to_string()) }
        })?;
        let total = spec.steps.len();
        for (index, function) in spec.steps.into_iter().enumerate() {
            let mut map = HeaderMap::new();
            map.insert(headers::REQUEST_ID, request_id);
            let target = Target::Function(function.clone());
            match self.caller.call(&target, data, map, self.step_wait).await {
                Ok(output) => data = output,
                Err(CallError { error, .. }) => {
                    let step = index + 1;
                    let message = format!(
                        "pipeline {name}: step {step} of {total} ({function}) failed: {}",
                        error.message
                    );
                    return Err(StepFailure {
                        step: Some(FailedStep { step, function: function.to_string() }),
                        error: ErrorBody::new(error.code, message),
                    });
                }
            }
        }
        info!(pipeline = name, steps = total, "pipeline succeeded");
        Ok(data)
    }
}
