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
use bus::{DefinitionStore, ExecClient, ExecFailure};
use bytes::Bytes;
use protocol::pipelines::FailedStep;
use protocol::{ErrorBody, ErrorCode, PipelineSpec, Target, headers};
use tracing::{Instrument, info, info_span, warn};

use crate::flows::metrics::FlowMetrics;

/// What a pipeline run needs.
#[derive(Clone)]
pub struct PipelineRunner {
    /// Calls the steps.
    pub caller: ExecClient,
    /// The definitions.
    pub pipelines: DefinitionStore<PipelineSpec>,
    /// How long one step may take.
    pub step_wait: Duration,
    /// Counts runs by outcome.
    pub metrics: Arc<FlowMetrics>,
}

impl PipelineRunner {
    /// Answers one request on a pipeline subject.
    pub async fn serve(self, message: Message) {
        let request_id = bus::request_id(&message);
        let span = info_span!("pipeline", request_id = %request_id, subject = %message.subject);
        bus::telemetry::adopt(&span, &message);
        async move {
            let Some(reply_to) = message.reply.clone() else {
                warn!("pipeline request without a reply subject; ignored (use an async job instead)");
                return;
            };
            let outcome = match self.caller.subjects().parse_pipeline(message.subject.as_str()) {
                Some(name) => {
                    let started = std::time::Instant::now();
                    let steps = step_headers(&message);
                    let outcome = self.run(name.as_str(), message.payload.clone(), &request_id, steps).await;
                    let code = outcome.as_ref().err().map_or("ok", |f| f.error.code.as_str());
                    self.metrics.pipeline_run(name.as_str(), code, started.elapsed());
                    outcome
                }
                None => Err(ExecFailure::from(ErrorBody::new(
                    ErrorCode::InvalidName,
                    format!("not a pipeline subject: {}", message.subject),
                ))),
            };
            if let Err(ExecFailure { error, failed_step }) = &outcome {
                let step = failed_step.as_ref().map(|s| format!("{} ({})", s.step, s.function));
                warn!(?step, code = %error.code, error = %error.message, "pipeline failed");
            }
            let (map, payload) = bus::encode_reply(&request_id, outcome);
            if let Err(err) = self.caller.client().publish_with_headers(reply_to, map, payload).await {
                warn!(%err, "could not publish the pipeline's reply");
            }
        }
        .instrument(span)
        .await
    }

    async fn run(
        &self,
        name: &str,
        mut data: Bytes,
        request_id: &str,
        steps: HeaderMap,
    ) -> Result<Bytes, ExecFailure> {
        let spec = self.pipelines.get(name).await.map_err(ErrorBody::from)?;
        let total = spec.steps.len();
        for (index, function) in spec.steps.iter().cloned().enumerate() {
            let target = Target::Function(function.clone());
            // A step naming a version or an alias runs it (`f@v`).
            let mut map = steps.clone();
            if let Some(version) = spec.version(index) {
                map.insert(protocol::headers::VERSION, version);
            }
            match self.caller.run(&target, data, map, request_id, self.step_wait).await {
                Ok(output) => data = output,
                Err(ExecFailure { error, .. }) => {
                    let step = index + 1;
                    let message = format!(
                        "pipeline {name}: step {step} of {total} ({function}) failed: {}",
                        error.message
                    );
                    return Err(ExecFailure {
                        error: ErrorBody::new(error.code, message),
                        failed_step: Some(FailedStep { step, function }),
                    });
                }
            }
        }
        info!(pipeline = name, steps = total, "pipeline succeeded");
        Ok(data)
    }
}

/// Headers every step's call carries: a replay's `Faas-Side-Effects: none`,
/// so no step of a replayed pipeline acts, and the event's `Faas-Hops`, so
/// a pipeline a trigger started counts towards `FAAS_MAX_HOPS`.
fn step_headers(message: &Message) -> HeaderMap {
    let mut map = HeaderMap::new();
    for name in [headers::SIDE_EFFECTS, headers::HOPS] {
        if let Some(value) = bus::header(message, name) {
            map.insert(name, value);
        }
    }
    map
}
