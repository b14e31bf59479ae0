//! The flows half of the dispatcher: work that is more than one call.
//!
//! Asynchronous jobs ([`jobs`]) and their callbacks ([`callbacks`]) and event
//! triggers ([`triggers`]) run functions (and pipelines) by calling
//! executors over the bus ([`bus::ExecClient`]), like any NATS client; this
//! half touches neither S3 nor Wasmtime. It counts what it does
//! ([`metrics`]) for Prometheus. Pipelines themselves run on the executors
//! (`executor/src/server/pipelines.rs`), which serve their subject.

mod attempts;
pub mod callbacks;
mod consumer;
pub mod jobs;
pub mod metrics;
pub mod output;
pub mod schedules;
pub mod triggers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use bus::{
    DefinitionFeed, DefinitionStore, EventBudgets, ExecClient, JobQueue, QueueLimits, ScheduleTicks,
    StoreQuota,
};
use protocol::{Subjects, TriggerSpec, TriggerSubjectPolicy};
use tracing::{info, warn};

use crate::DispatcherError;
use crate::config::DispatcherConfig;
use crate::health::Health;
use metrics::FlowMetrics;
use triggers::TriggerContext;

/// The flows half, subscribed and ready to [`Flows::serve`].
pub struct Flows {
    client: Client,
    subjects: Subjects,
    config: DispatcherConfig,
    queue: JobQueue,
    feed: DefinitionFeed<TriggerSpec>,
    trigger_context: Arc<TriggerContext>,
    metrics: Arc<FlowMetrics>,
    callback_sender: callbacks::Sender,
    health: Arc<Health>,
}

impl Flows {
    /// Opens the job queue and the definitions (waiting for JetStream),
    /// starts following the triggers and subscribes. `None` when `shutdown`
    /// came first.
    pub async fn start(
        config: &DispatcherConfig,
        client: &Client,
        health: Arc<Health>,
        metrics: Arc<FlowMetrics>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Option<Self>, DispatcherError> {
        let subjects = Subjects::new(&config.subject_prefix);
        let layout = bus::JetStreamLayout::new(&subjects, config.nats.js_replicas);
        let trigger_bucket = layout.names.triggers();
        let callback_sender = callbacks::Sender::new(&config.jobs)?;
        let limits = QueueLimits {
            max_jobs: config.jobs.max_jobs,
            max_jobs_per_function: config.jobs.max_jobs_per_function,
            record_ttl: Duration::from_secs(config.jobs.job_record_ttl_secs),
            quotas: config.stores,
        };
        let opened = async {
            futures::join!(
                bus::retry("job queue", || JobQueue::setup(
                    client,
                    subjects.clone(),
                    layout.replicas,
                    limits
                )),
                DefinitionStore::open_when_ready(client, &layout, &trigger_bucket, "trigger"),
                bus::retry("event budgets", || EventBudgets::open(
                    client,
                    &layout,
                    config.flows.event_budget,
                    Duration::from_secs(config.flows.event_budget_window_secs),
                    StoreQuota { max_bytes: config.stores.event_budgets },
                )),
                bus::retry("schedule ticks", || ScheduleTicks::open(
                    client,
                    &layout,
                    StoreQuota { max_bytes: config.stores.schedule_ticks },
                )),
            )
        };
        let (queue, triggers, budgets, ticks) = tokio::select! {
            () = shutdown => return Ok(None),
            opened = opened => opened,
        };
        let caller = ExecClient::new(client.clone(), subjects.clone());
        let call_wait = Duration::from_secs(config.flows.call_wait_secs);
        let concurrency = config.flows.trigger_concurrency.max(1);
        let admitted_limit = concurrency.saturating_add(config.flows.trigger_backlog);
        let trigger_context = Arc::new(TriggerContext {
            caller,
            jobs: queue.clone(),
            call_wait,
            max_hops: config.flows.max_hops,
            budgets,
            policy: TriggerSubjectPolicy::new(config.flows.trigger_subjects.iter().cloned())
                .map_err(DispatcherError::Config)?,
            slots: Arc::new(tokio::sync::Semaphore::new(concurrency)),
            admitted: Arc::new(tokio::sync::Semaphore::new(admitted_limit)),
            admitted_limit,
            metrics: metrics.clone(),
            ticks,
            instance: uuid::Uuid::new_v4().simple().to_string(),
        });
        let feed = triggers.follow(client).await?;
        Ok(Some(Self {
            client: client.clone(),
            subjects,
            config: config.clone(),
            queue,
            feed,
            trigger_context,
            metrics,
            callback_sender,
            health,
        }))
    }

    /// Runs jobs and triggers until `shutdown` resolves; then stops the
    /// trigger router and the job worker (which finish their running events
    /// and jobs).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Self { client, subjects, config, queue, feed, trigger_context, metrics, callback_sender, health } =
            self;
        let (stop_background, background_stopped) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut stopped = background_stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let mut trigger_router = tokio::spawn(triggers::run(trigger_context, feed, stopped()));
        let mut callback_sender =
            tokio::spawn(callback_sender.run(queue.clone(), metrics.clone(), stopped()));
        let mut job_worker = tokio::spawn(jobs::run(
            client.clone(),
            queue,
            subjects,
            config.jobs.clone(),
            metrics.clone(),
            stopped(),
        ));
        // Any of them ending before the shutdown is a failure readiness reports.
        let (mut router_ended, mut worker_ended, mut sender_ended) = (false, false, false);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                ended = &mut trigger_router, if !router_ended => {
                    router_ended = true;
                    let reason = ended.err().map_or_else(|| "it returned".to_owned(), |e| e.to_string());
                    health.stopped("trigger router", &reason);
                }
                ended = &mut job_worker, if !worker_ended => {
                    worker_ended = true;
                    let reason = match ended {
                        Ok(Ok(())) => "it returned".to_owned(),
                        Ok(Err(err)) => err.to_string(),
                        Err(err) => err.to_string(),
                    };
                    health.stopped("job worker", &reason);
                }
                ended = &mut callback_sender, if !sender_ended => {
                    sender_ended = true;
                    let reason = match ended {
                        Ok(Ok(())) => "it returned".to_owned(),
                        Ok(Err(err)) => err.to_string(),
                        Err(err) => err.to_string(),
                    };
                    health.stopped("callback sender", &reason);
                }
                () = &mut shutdown => break,
            }
        }
        info!("dispatcher stopping its trigger router, job worker and callback sender");
        let _ = stop_background.send(true);
        if !router_ended && let Err(err) = trigger_router.await {
            warn!(%err, "the trigger router panicked");
        }
        if !worker_ended {
            match job_worker.await {
                Ok(Err(err)) => warn!(%err, "the job worker stopped with an error"),
                Err(err) => warn!(%err, "the job worker panicked"),
                Ok(Ok(())) => {}
            }
        }
        if !sender_ended {
            match callback_sender.await {
                Ok(Err(err)) => warn!(%err, "the callback sender stopped with an error"),
                Err(err) => warn!(%err, "the callback sender panicked"),
                Ok(Ok(())) => {}
            }
        }
    }
}
