//! Pipeline runs on the executor that took the request: the steps in
//! order, in process, each output the next input.
//!
//! Executors serve `<prefix>.pipeline.*` in their queue group (the one
//! owner of the subject: dispatchers no longer do), so a run costs one NATS
//! round trip instead of one per step plus the dispatcher's. The definition
//! comes from the executor's followed copy ([`bus::PipelineWatch`]): a PUT
//! or DELETE answered means every executor applied it, so the next run
//! uses it. Each step goes through the very code an exec request of its
//! function takes ([`super::answer`]): its version or alias
//! (`Faas-Version`), configuration, limits, grants, secrets, concurrency
//! lease, `Faas-Side-Effects: none`, metrics, call log, kept failed input
//! and shadow sampling; only its reply stays in process and is decoded as
//! a caller would ([`bus::ExecReply`]). The first failing step ends the
//! run; its error names the step (from 1) and the function, in the message
//! and in the `Faas-Pipeline-Step` / `Faas-Pipeline-Function` headers.

use std::sync::Arc;
use std::time::Instant;

use async_nats::{Client, HeaderMap, Message};
use bus::{ExecFailure, ExecReply};
use bytes::Bytes;
use protocol::logs::CallLog;
use protocol::pipelines::FailedStep;
use protocol::{ErrorBody, FunctionRef, PipelineName, World, headers};
use tracing::{Instrument, info, info_span, warn};

use super::{Answered, Executor, after_reply, answer, shadow};

/// What a step leaves for after the pipeline's reply: its shadow run and log.
type FollowUp = (FunctionRef, Option<shadow::Pending>, Option<CallLog>);

/// Runs the pipeline `name` for `message` and replies to it on `replies`,
/// the connection it came in on.
pub(super) async fn serve(executor: Arc<Executor>, replies: &Client, message: Message, name: PipelineName) {
    let request_id = bus::request_id(&message);
    let span = info_span!("pipeline", request_id = %request_id, subject = %message.subject);
    bus::telemetry::adopt(&span, &message);
    async move {
        let Some(reply_to) = message.reply.clone() else {
            warn!("pipeline request without a reply subject; ignored (use an async job instead)");
            return;
        };
        let started = Instant::now();
        let mut follow_ups = Vec::new();
        let outcome = run(&executor, name.as_str(), &message, &request_id, &mut follow_ups).await;
        let code = outcome.as_ref().err().map_or("ok", |f| f.error.code.as_str());
        executor.metrics.pipeline_run(name.as_str(), code, started.elapsed());
        if let Err(ExecFailure { error, failed_step }) = &outcome {
            let step = failed_step.as_ref().map(|s| format!("{} ({})", s.step, s.function));
            warn!(?step, code = %error.code, error = %error.message, "pipeline failed");
        }
        let (mut map, payload) = bus::encode_reply(&request_id, outcome);
        map.insert(bus::header_name(headers::EXECUTOR), executor.id.as_str());
        if let Err(err) = replies.publish_with_headers(reply_to, map, payload).await {
            warn!(%err, "could not publish the pipeline's reply");
        }
        // The steps' logs and shadow runs after the reply, as for a call.
        for (function, shadowed, log) in follow_ups {
            after_reply(&executor, &function, shadowed, log);
        }
    }
    .instrument(span)
    .await
}

/// The steps in order; the last output, or the first failure naming its step.
async fn run(
    executor: &Executor,
    name: &str,
    request: &Message,
    request_id: &str,
    follow_ups: &mut Vec<FollowUp>,
) -> Result<Bytes, ExecFailure> {
    let spec = executor.pipelines.get(name).await.map_err(ErrorBody::from)?;
    let total = spec.steps.len();
    let carried = carried_headers(request, request_id);
    let mut data = request.payload.clone();
    for (index, function) in spec.steps.iter().enumerate() {
        let step = step_message(executor, function, spec.version(index), &carried, data);
        let span = info_span!(
            "exec", request_id = %request_id, function = %function, route = World::Exec.as_str(),
            step = index + 1
        );
        let started = Instant::now();
        // A step's sandbox is freed at once: the run holds one call slot for
        // all its steps, and keeping each step's until the reply would hold
        // several of the pool's sandboxes on that one slot.
        let Answered { headers, payload, log, shadowed, spent: _ } =
            answer(executor, function, World::Exec, &step, request_id, started, false).instrument(span).await;
        follow_ups.push((function.clone(), shadowed, log));
        match ExecReply::from(received(&step, headers, payload)).into_result() {
            Ok(output) => data = output,
            Err(ExecFailure { error, .. }) => {
                let step = index + 1;
                let message =
                    format!("pipeline {name}: step {step} of {total} ({function}) failed: {}", error.message);
                return Err(ExecFailure {
                    error: ErrorBody::new(error.code, message),
                    failed_step: Some(FailedStep { step, function: function.clone() }),
                });
            }
        }
    }
    info!(pipeline = name, steps = total, "pipeline succeeded");
    Ok(data)
}

/// Headers every step's call carries: the run's request id, a replay's
/// `Faas-Side-Effects: none` (so no step of a replayed pipeline acts) and
/// the event's `Faas-Hops` (so a pipeline a trigger started counts towards
/// `FAAS_MAX_HOPS`).
fn carried_headers(request: &Message, request_id: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(bus::header_name(headers::REQUEST_ID), request_id);
    for name in [headers::SIDE_EFFECTS, headers::HOPS] {
        if let Some(value) = bus::header(request, name) {
            map.insert(name, value);
        }
    }
    map
}

/// A step's call as an exec request of its function would arrive: the
/// function's exec subject, the previous output, the carried headers and
/// the step's `Faas-Version` when it names a version or an alias.
fn step_message(
    executor: &Executor,
    function: &FunctionRef,
    version: Option<&str>,
    carried: &HeaderMap,
    input: Bytes,
) -> Message {
    let mut map = carried.clone();
    if let Some(version) = version {
        map.insert(bus::header_name(headers::VERSION), version);
    }
    Message {
        subject: executor.subjects.exec(function).into(),
        reply: None,
        length: input.len(),
        payload: input,
        headers: Some(map),
        status: None,
        description: None,
    }
}

/// A step's encoded reply as its caller would receive it.
fn received(step: &Message, headers: HeaderMap, payload: Bytes) -> Message {
    Message {
        subject: step.subject.clone(),
        reply: None,
        length: payload.len(),
        payload,
        headers: Some(headers),
        status: None,
        description: None,
    }
}
