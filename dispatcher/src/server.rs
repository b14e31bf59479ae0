//! The dispatcher's NATS loop: take admin commands, run them, reply in JSON.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Message};
use bus::{DefinitionStore, ExecClient, FunctionRegistry, JobQueue, QueueLimits, TransferStore};
use engine::ArtifactStore;
use futures::{FutureExt as _, StreamExt};
use protocol::pipelines::PIPELINES;
use protocol::triggers::TRIGGERS;
use protocol::{AdminReply, AdminRequest, ErrorBody, ErrorCode, Subjects, headers};
use storage::FunctionStore;
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use crate::config::{DispatcherConfig, JobSettings};
use crate::handler::{AdminHandler, Definitions, Stores};
use crate::metrics::FlowMetrics;
use crate::pipelines::PipelineRunner;
use crate::triggers::TriggerContext;
use crate::validate::ComponentValidator;

/// Why the dispatcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum DispatcherError {
    /// Subscribing on NATS failed.
    #[error("NATS subscription failed: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    /// The trigger store could not be followed.
    #[error("cannot follow the triggers: {0}")]
    Triggers(#[from] bus::DefinitionError),
}

/// Serves admin commands until `shutdown` resolves, then finishes running ones.
pub async fn run(
    config: DispatcherConfig,
    client: Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DispatcherError> {
    let subjects = Subjects::new(&config.subject_prefix);
    let shutdown = shutdown.fuse();
    tokio::pin!(shutdown);
    let transfer = tokio::select! {
        () = &mut shutdown => return Ok(()),
        store = TransferStore::open_when_ready(&client) => store,
    };
    let registry = tokio::select! {
        () = &mut shutdown => return Ok(()),
        registry = FunctionRegistry::open_when_ready(&client) => registry,
    };
    let (triggers, pipelines) = tokio::select! {
        () = &mut shutdown => return Ok(()),
        stores = futures::future::join(
            DefinitionStore::open_when_ready(&client, TRIGGERS, "trigger"),
            DefinitionStore::open_when_ready(&client, PIPELINES, "pipeline"),
        ) => stores,
    };
    let validator = ComponentValidator::new();
    let artifacts =
        ArtifactStore::open_configured(&client, validator.engine(), config.artifact_key.as_deref()).await;
    let definitions =
        Definitions { triggers: triggers.clone(), pipelines: pipelines.clone(), subjects: subjects.clone() };
    let stores =
        Stores { functions: FunctionStore::new(&config.s3), transfer, registry, artifacts, definitions };
    let handler = Arc::new(AdminHandler::new(
        stores,
        validator,
        config.max_component_bytes,
        Duration::from_secs(config.validate_timeout_secs),
    ));
    let group = subjects.dispatcher_group();
    let mut commands = client.queue_subscribe(subjects.admin_all(), group.clone()).await?;
    let mut pings = client.queue_subscribe(subjects.ping_dispatcher(), group.clone()).await?;
    let mut pipeline_requests = client.queue_subscribe(subjects.pipeline_all(), group).await?;
    // Not in the group: every dispatcher reports its own counters.
    let mut metric_requests = client.subscribe(subjects.metrics_dispatcher()).await?;
    let instance = uuid::Uuid::new_v4().simple().to_string();
    let metrics = Arc::new(FlowMetrics::default());
    let caller = ExecClient::new(client.clone(), subjects.clone());
    let call_wait = Duration::from_secs(config.flows.call_wait_secs);
    let runner =
        PipelineRunner { caller: caller.clone(), pipelines, step_wait: call_wait, metrics: metrics.clone() };
    let queue = tokio::select! {
        () = &mut shutdown => return Ok(()),
        queue = setup_jobs(&client, &subjects, &config.jobs) => queue,
    };
    let (stop_background, background_stopped) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stopped = background_stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let trigger_context = Arc::new(TriggerContext {
        caller,
        jobs: queue.clone(),
        call_wait,
        max_hops: config.flows.max_hops,
        slots: Arc::new(tokio::sync::Semaphore::new(config.flows.trigger_concurrency.max(1))),
        metrics: metrics.clone(),
    });
    let feed = triggers.follow(&client).await?;
    let trigger_router = tokio::spawn(crate::triggers::run(trigger_context, feed, stopped()));
    let job_worker = tokio::spawn(crate::jobs::run(
        client.clone(),
        queue,
        subjects.clone(),
        config.jobs.clone(),
        metrics.clone(),
        stopped(),
    ));
    let mut running = JoinSet::new();
    info!(subject = %subjects.admin_all(), "dispatcher serving");

    let mut stopping = false;
    loop {
        tokio::select! {
            () = &mut shutdown => {
                // Drain: the stream ends once the server confirmed the UNSUB,
                // so commands routed here before then still get an answer.
                info!(running = running.len(), "dispatcher stopping: leaving the queue group");
                stopping = true;
                let _ = pings.unsubscribe().await;
                let _ = metric_requests.unsubscribe().await;
                let _ = pipeline_requests.drain().await;
                let _ = commands.drain().await;
            }
            Some(request) = pipeline_requests.next() => {
                running.spawn(runner.clone().serve(request));
            }
            Some(request) = metric_requests.next(), if !stopping => {
                if let Some(reply) = request.reply {
                    let counters = serde_json::to_vec(&metrics.snapshot(&instance)).expect("counters serialise");
                    let _ = client.publish(reply, counters.into()).await;
                }
            }
            Some(ping) = pings.next(), if !stopping => {
                if let Some(reply) = ping.reply {
                    let _ = client.publish(reply, "pong".into()).await;
                }
            }
            Some(_) = running.join_next(), if !running.is_empty() => {}
            next = commands.next() => match next {
                Some(message) => {
                    running.spawn(handle(client.clone(), handler.clone(), message));
                }
                None => break,
            },
        }
    }
    info!(running = running.len(), "dispatcher stopped taking commands; finishing running ones");
    while running.join_next().await.is_some() {}
    let _ = stop_background.send(true);
    if let Err(err) = trigger_router.await {
        warn!(%err, "the trigger router panicked");
    }
    match job_worker.await {
        Ok(Err(err)) => warn!(%err, "the job worker stopped with an error"),
        Err(err) => warn!(%err, "the job worker panicked"),
        Ok(Ok(())) => {}
    }
    Ok(())
}

/// Creates or updates the job queue, waiting for JetStream.
async fn setup_jobs(client: &Client, subjects: &Subjects, settings: &JobSettings) -> JobQueue {
    let limits = QueueLimits {
        max_jobs: settings.max_jobs,
        max_jobs_per_function: settings.max_jobs_per_function,
        record_ttl: Duration::from_secs(settings.job_record_ttl_secs),
    };
    loop {
        match JobQueue::setup(client, subjects.clone(), limits).await {
            Ok(queue) => return queue,
            Err(err) => {
                warn!(%err, "job queue not ready; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn handle(client: Client, handler: Arc<AdminHandler>, message: Message) {
    let request_id = bus::request_id(&message);
    let span = info_span!("admin", request_id = %request_id, subject = %message.subject);
    async move {
        let Some(reply_to) = message.reply.clone() else {
            warn!("admin command without a reply subject; ignored");
            return;
        };
        let result = match serde_json::from_slice::<AdminRequest>(&message.payload) {
            Ok(request) => {
                let command = request.command();
                let result = handler.handle(request).await;
                match &result {
                    Ok(_) => info!(command, "command succeeded"),
                    Err(err) => warn!(command, code = %err.code, error = %err.message, "command failed"),
                }
                result
            }
            Err(err) => Err(ErrorBody::new(ErrorCode::BadRequest, format!("malformed admin command: {err}"))),
        };
        let reply = AdminReply::from(result);
        let mut map = async_nats::HeaderMap::new();
        map.insert(headers::REQUEST_ID, request_id.as_str());
        map.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
        let payload = serde_json::to_vec(&reply).expect("admin replies always serialise");
        if let Err(err) = client.publish_with_headers(reply_to, map, payload.into()).await {
            warn!(%err, "could not publish the reply");
        }
    }
    .instrument(span)
    .await
}
