//! Event triggers: one live subscription per trigger, kept in step with the
//! trigger store, and what happens to each event.
//!
//! Every dispatcher follows the trigger store ([`bus::DefinitionFeed`]) and
//! subscribes to each trigger's subject in that trigger's queue group, so an
//! event runs once however many dispatchers there are, and a trigger added
//! or removed takes effect without a restart. A change is acked only after
//! the subscription is confirmed by the server (or its removal is), which is
//! what lets `PUT`/`DELETE /trigger` answer only once the change is live.
//!
//! An event runs the function with the message payload (sync), or becomes a
//! durable job (async). The output goes to the output subject, with the
//! request id and a hop count that grows by one per trigger link, and to the
//! message's reply inbox when it has one. Failures go to the trigger's
//! errors subject; nothing is dropped silently.
//!
//! Limits: an event that crossed `max_hops` links, or whose chain of
//! triggers spent its budget of function runs ([`bus::EventBudgets`], fan-out
//! counted), is refused. Each dispatcher runs `slots` events at once and
//! keeps at most `admitted` (running plus waiting); an event beyond that is
//! refused with `unavailable` at once rather than left to overflow the
//! subscription's buffer, where the client would drop it unseen.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{HeaderMap, Message, Subscriber};
use bus::{
    BudgetError, Change, DefinitionFeed, EventBudgets, ExecClient, ExecFailure, JobQueue, NewJob,
    ScheduleTicks,
};
use bytes::Bytes;
use futures::StreamExt as _;
use protocol::{
    ErrorBody, ErrorCode, Target, TriggerFailure, TriggerMode, TriggerName, TriggerSpec,
    TriggerSubjectPolicy, headers,
};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, info_span, warn};

use super::output::{publish_failure, publish_output};
use super::schedules::{Schedule, Ticker};
use crate::flows::metrics::FlowMetrics;

/// What every trigger's events need.
pub struct TriggerContext {
    /// Runs functions.
    pub caller: ExecClient,
    /// Stores async triggers' jobs.
    pub jobs: JobQueue,
    /// How long a sync event's call may take.
    pub call_wait: Duration,
    /// Events refused beyond this many trigger links.
    pub max_hops: u32,
    /// Functions each event's chain of triggers may still run.
    pub budgets: EventBudgets,
    /// The subjects the operator lets triggers use.
    pub policy: TriggerSubjectPolicy,
    /// Events handled at once by this dispatcher, all triggers together.
    pub slots: Arc<Semaphore>,
    /// Events running or waiting for a slot at most; beyond, refused.
    pub admitted: Arc<Semaphore>,
    /// The number `admitted` started with, for the refusal's message.
    pub admitted_limit: usize,
    /// Counts events by outcome.
    pub metrics: Arc<FlowMetrics>,
    /// Who runs each tick of a scheduled trigger.
    pub ticks: ScheduleTicks,
    /// This dispatcher, as it signs its claims on ticks.
    pub instance: String,
}

/// Follows the trigger store until `shutdown`, then unsubscribes everything
/// and lets running events finish.
pub async fn run(
    context: Arc<TriggerContext>,
    mut feed: DefinitionFeed<TriggerSpec>,
    shutdown: impl Future<Output = ()>,
) {
    let mut live: HashMap<String, Live> = HashMap::new();
    tokio::pin!(shutdown);
    'feed: loop {
        let (change, applied) = tokio::select! {
            () = &mut shutdown => break,
            next = feed.next() => next,
        };
        match change {
            Change::Set { name, value } => {
                if live.get(&name).is_some_and(|running| running.spec == value) {
                    applied.done().await;
                    continue;
                }
                if let Some(old) = live.remove(&name) {
                    drop(old.stop().await);
                }
                // A NATS hiccup delays the trigger instead of losing it on
                // this dispatcher (and the change stays unacked meanwhile).
                let started = loop {
                    match Live::start(&context, &name, value.clone()).await {
                        Err(StartError::Nats(err)) => {
                            warn!(trigger = %name, %err, "trigger not started; retrying in 1 s");
                            tokio::select! {
                                () = &mut shutdown => break 'feed,
                                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                            }
                        }
                        other => break other,
                    }
                };
                match started {
                    Ok(running) => {
                        info!(trigger = %name, subject = %running.subject, "trigger live");
                        live.insert(name, running);
                    }
                    Err(err) => warn!(trigger = %name, err = %err.reason(), "invalid trigger ignored"),
                }
            }
            Change::Removed { name } => {
                if let Some(old) = live.remove(&name) {
                    drop(old.stop().await);
                    info!(trigger = %name, "trigger removed");
                }
            }
            Change::Restarted => info!("trigger feed restarted; replaying every trigger"),
        }
        applied.done().await;
    }
    let mut finishing = Vec::new();
    for running in live.into_values() {
        finishing.push(running.stop().await);
    }
    futures::future::join_all(finishing).await;
}

/// Why a trigger could not start.
enum StartError {
    /// The definition breaks a rule (written around the admin commands).
    Invalid(String),
    /// NATS refused or dropped the subscription.
    Nats(String),
}

impl StartError {
    fn reason(&self) -> &str {
        match self {
            Self::Invalid(reason) | Self::Nats(reason) => reason,
        }
    }
}

/// One trigger's subscription and the task serving it, and for a schedule
/// the task publishing its ticks.
struct Live {
    spec: TriggerSpec,
    subject: String,
    stop: oneshot::Sender<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    ticker: Option<JoinHandle<()>>,
}

impl Live {
    async fn start(context: &Arc<TriggerContext>, name: &str, spec: TriggerSpec) -> Result<Self, StartError> {
        let name = TriggerName::new(name).map_err(|e| StartError::Invalid(e.to_string()))?;
        let subjects = context.caller.subjects();
        spec.check(subjects).and_then(|()| context.policy.check(&spec)).map_err(StartError::Invalid)?;
        let schedule = spec
            .schedule
            .as_deref()
            .map(|expression| Schedule::parse(expression, spec.time_zone.as_deref()))
            .transpose()
            .map_err(StartError::Invalid)?;
        let subject = spec.listen_subject(subjects, &name);
        let client = context.caller.client();
        let subscription = client
            .queue_subscribe(subject.clone(), subjects.trigger_group(&name))
            .await
            .map_err(|e| StartError::Nats(e.to_string()))?;
        // Confirmed by the server before the change is acked: an event
        // published after `PUT /trigger` answered is received.
        client.flush().await.map_err(|e| StartError::Nats(e.to_string()))?;
        let ticker = schedule.map(|schedule| {
            let ticker =
                Ticker { name: name.clone(), schedule, subject: subject.clone(), input: spec.input.clone() };
            tokio::spawn(ticker.run(context.clone()))
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(listen(context.clone(), name, spec.clone(), subscription, stopped));
        Ok(Self { spec, subject, stop, task, ticker })
    }

    /// Unsubscribes, confirmed by the server; events already received still
    /// run, in the task returned.
    async fn stop(self) -> JoinHandle<()> {
        if let Some(ticker) = &self.ticker {
            ticker.abort();
        }
        let (confirmed, unsubscribed) = oneshot::channel();
        if self.stop.send(confirmed).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), unsubscribed).await;
        }
        self.task
    }
}

async fn listen(
    context: Arc<TriggerContext>,
    name: TriggerName,
    spec: TriggerSpec,
    mut subscription: Subscriber,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    let spec = Arc::new(spec);
    // Tracked, not joined, like the executor's calls: a finished event
    // wakes nothing here.
    let running = TaskTracker::new();
    let mut stopping = false;
    loop {
        tokio::select! {
            request = &mut stop, if !stopping => {
                stopping = true;
                // Drain: messages the server routed here before the UNSUB
                // still arrive and run; the flush makes the UNSUB confirmed.
                let _ = subscription.drain().await;
                let _ = context.caller.client().flush().await;
                if let Ok(confirmed) = request {
                    let _ = confirmed.send(());
                }
            }
            next = subscription.next() => match next {
                Some(message) => {
                    let event = Event { context: context.clone(), name: name.clone(), spec: spec.clone() };
                    // Never wait for a slot here: the subscription must be
                    // read as fast as events come, or its buffer overflows
                    // and the client drops events without a trace. A
                    // refusal is one publish, done in line so a flood of
                    // refusals cannot pile up tasks.
                    let Ok(admitted) = context.admitted.clone().try_acquire_owned() else {
                        event.refuse_busy(message).await;
                        continue;
                    };
                    running.spawn(async move {
                        let slot = event.context.slots.clone().acquire_owned().await.expect("never closed");
                        event.handle(message).await;
                        drop((slot, admitted));
                    });
                }
                None => break,
            },
        }
    }
    running.close();
    running.wait().await;
}

/// One event on one trigger.
struct Event {
    context: Arc<TriggerContext>,
    name: TriggerName,
    spec: Arc<TriggerSpec>,
}

impl Event {
    async fn handle(self, message: Message) {
        let request_id = bus::request_id(&message);
        let hops = bus::hops(&message);
        let span = info_span!("trigger", trigger = %self.name, request_id = %request_id, subject = %message.subject, hops);
        bus::telemetry::adopt(&span, &message);
        async {
            let outcome = match self.admit(&request_id, hops).await {
                Err(refused) => {
                    self.context.metrics.trigger_dropped(self.name.as_str(), refused.code.as_str());
                    Err(refused)
                }
                Ok(()) => match self.spec.mode {
                    TriggerMode::Sync => self.run(&message, &request_id, hops).await,
                    TriggerMode::Async => self.enqueue(&message, &request_id, hops).await,
                },
            };
            self.finish(&message, &request_id, outcome).await;
        }
        .instrument(span)
        .await
    }

    /// Refuses an event this dispatcher has no room for, as loudly as any
    /// other failure: counted, on the errors subject and in the reply.
    async fn refuse_busy(self, message: Message) {
        let request_id = bus::request_id(&message);
        let span =
            info_span!("trigger", trigger = %self.name, request_id = %request_id, subject = %message.subject);
        let busy = ErrorBody::new(
            ErrorCode::Unavailable,
            format!(
                "the dispatcher is full ({} events running or waiting; FAAS_TRIGGER_CONCURRENCY, \
                 FAAS_TRIGGER_BACKLOG): event refused, publish it again later",
                self.context.admitted_limit
            ),
        );
        self.context.metrics.trigger_dropped(self.name.as_str(), busy.code.as_str());
        self.finish(&message, &request_id, Err(busy)).instrument(span).await
    }

    /// The checks before an event runs: its hop count, then its chain's budget.
    ///
    /// A published event (no hops yet) on a trigger without an output
    /// subject starts no chain: it runs one function per trigger listening,
    /// which the per-subject trigger limit bounds, so it spends nothing and
    /// the plain trigger's path has no extra round trip.
    async fn admit(&self, request_id: &str, hops: u32) -> Result<(), ErrorBody> {
        if hops >= self.context.max_hops {
            return Err(ErrorBody::new(
                ErrorCode::HopLimitExceeded,
                format!(
                    "the event already passed {hops} trigger links (limit {}): a cycle?",
                    self.context.max_hops
                ),
            ));
        }
        if hops == 0 && self.spec.output_subject.is_none() {
            return Ok(());
        }
        match self.context.budgets.spend(request_id).await {
            Ok(_) => Ok(()),
            Err(err @ BudgetError::Exceeded { .. }) => {
                Err(ErrorBody::new(ErrorCode::FanOutExceeded, err.to_string()))
            }
            Err(BudgetError::Store(err)) => Err(ErrorBody::new(err.code(), err.to_string())),
        }
    }

    /// Counts the outcome, publishes a failure on the errors subject, and
    /// answers the reply inbox if there is one.
    async fn finish(&self, message: &Message, request_id: &str, outcome: Result<Bytes, ErrorBody>) {
        let code = outcome.as_ref().err().map_or("ok", |e| e.code.as_str());
        self.context.metrics.trigger_event(self.name.as_str(), code);
        let client = self.context.caller.client();
        if let Err(error) = &outcome {
            let failure = TriggerFailure {
                trigger: self.name.clone(),
                request_id: request_id.to_owned(),
                subject: message.subject.to_string(),
                function: Target::Function(self.spec.function.clone()),
                code: error.code,
                message: error.message.clone(),
                job_id: None,
            };
            publish_failure(client, self.context.caller.subjects(), &failure).await;
        }
        if let Some(reply) = message.reply.clone() {
            let (map, payload) = bus::encode_reply(request_id, outcome.map_err(ExecFailure::from));
            if let Err(err) = client.publish_with_headers(reply, map, payload).await {
                warn!(%err, "could not answer the event's reply inbox");
            }
        }
    }

    /// Sync mode: runs the function and publishes the output; returns it for the reply.
    async fn run(&self, message: &Message, request_id: &str, hops: u32) -> Result<Bytes, ErrorBody> {
        let target = Target::Function(self.spec.function.clone());
        let mut map = hops_header(hops);
        // `function@version` or `function@alias`.
        if let Some(version) = &self.spec.version {
            map.insert(headers::VERSION, version.as_str());
        }
        let output = self
            .context
            .caller
            .run(&target, message.payload.clone(), map, request_id, self.context.call_wait)
            .await
            .map_err(|failure| failure.error)?;
        if let Some(subject) = &self.spec.output_subject {
            publish_output(
                self.context.caller.client(),
                subject,
                request_id,
                &self.name,
                hops,
                output.clone(),
            )
            .await;
        }
        Ok(output)
    }

    /// Async mode: stores the event as a job that carries the trigger's
    /// name, output subject and hop count to the worker; the reply says
    /// which job. An event with a `Nats-Msg-Id` (the NATS convention for
    /// "same message, sent again") gets a job id derived from it, so a
    /// publisher's retry finds the job its first try made.
    async fn enqueue(&self, message: &Message, request_id: &str, hops: u32) -> Result<Bytes, ErrorBody> {
        let event_id = bus::header(message, headers::NATS_MSG_ID);
        let job_id = match event_id {
            Some(id) => uuid::Uuid::new_v5(&EVENT_NAMESPACE, format!("{}\n{id}", self.name).as_bytes()),
            None => uuid::Uuid::new_v4(),
        }
        .to_string();
        let mut map = HeaderMap::new();
        map.insert(headers::TRIGGER, self.name.as_str());
        map.insert(headers::HOPS, hops.to_string().as_str());
        if let Some(subject) = &self.spec.output_subject {
            map.insert(headers::OUTPUT_SUBJECT, subject.as_str());
        }
        // The job worker passes `Faas-Version` on to the executor.
        if let Some(version) = &self.spec.version {
            map.insert(headers::VERSION, version.as_str());
        }
        let target = Target::Function(self.spec.function.clone());
        let job = NewJob {
            target: &target,
            job_id: &job_id,
            input: message.payload.clone(),
            request_id,
            callback_url: None,
            headers: map,
            fresh_id: event_id.is_none(),
        };
        let submitted = self.context.jobs.submit(job).await.map_err(|err| {
            self.context.metrics.job_submitted(err.code().as_str());
            ErrorBody::new(err.code(), format!("could not queue the event as a job: {err}"))
        })?;
        self.context.metrics.job_submitted(if submitted.duplicate { "duplicate" } else { "accepted" });
        info!(job_id, duplicate = submitted.duplicate, "event queued as a job");
        let body = serde_json::json!({
            "job_id": job_id,
            "status_url": protocol::jobs::status_url(&job_id),
            "duplicate": submitted.duplicate,
        });
        Ok(Bytes::from(body.to_string()))
    }
}

/// Namespace of job ids derived from an event's `Nats-Msg-Id`.
const EVENT_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x3c1e_9a47_5b2d_4f60_8e19_7d4c_2b6a_0f53);

/// The headers a trigger's call carries to the executor: the event's hop
/// count, so what the function publishes itself (`wasmcloud:messaging`) is
/// one link further, as its output is.
fn hops_header(hops: u32) -> HeaderMap {
    let mut map = HeaderMap::new();
    if hops > 0 {
        map.insert(headers::HOPS, hops.to_string().as_str());
    }
    map
}
