//! The admin half of the dispatcher: bucket (and bucket settings),
//! function, trigger and pipeline commands.
//!
//! It is the only part of the platform that writes to S3 and the only one
//! besides executors that compiles (to check an upload and precompile it), so
//! it owns the S3 client and a Wasmtime engine; the flows half needs neither.
//! Commands arrive on `<prefix>.admin.<command>` in the dispatchers' queue
//! group and are answered in JSON; this half also answers the dispatchers'
//! readiness ping, with what [`Health`] says.

mod flow_commands;
mod handler;
mod sweep;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Message, Subscriber};
use bus::{BucketSettingsStore, DefinitionStore, FunctionRegistry, TransferStore};
use engine::{ArtifactStore, CompileLimits, CompilePool, ComponentValidator};
use futures::StreamExt as _;
use protocol::pipelines::PIPELINES;
use protocol::triggers::TRIGGERS;
use protocol::{AdminReply, AdminRequest, ErrorBody, ErrorCode, Subjects, TriggerSubjectPolicy, headers};
use storage::FunctionStore;
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

pub use handler::{AdminHandler, FlowStores, Stores};

use crate::DispatcherError;
use crate::config::DispatcherConfig;
use crate::health::Health;

/// The admin half, subscribed and ready to [`Admin::serve`].
pub struct Admin {
    client: Client,
    handler: Arc<AdminHandler>,
    health: Arc<Health>,
    /// The artifact sweep and its interval, when artifacts are shared.
    sweep: Option<(sweep::Sweep, Duration)>,
    commands: Subscriber,
    pings: Subscriber,
    subjects: Arc<Subjects>,
}

impl Admin {
    /// Opens the stores (waiting for JetStream) and subscribes. `None` when
    /// `shutdown` came first.
    pub async fn start(
        config: &DispatcherConfig,
        client: &Client,
        health: Arc<Health>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Option<Self>, DispatcherError> {
        let subjects = Subjects::new(&config.subject_prefix);
        let opened = async {
            futures::join!(
                TransferStore::open_when_ready(client),
                FunctionRegistry::open_when_ready(client),
                DefinitionStore::open_when_ready(client, TRIGGERS, "trigger"),
                DefinitionStore::open_when_ready(client, PIPELINES, "pipeline"),
                BucketSettingsStore::open_when_ready(client),
            )
        };
        let (transfer, registry, triggers, pipelines, bucket_settings) = tokio::select! {
            () = shutdown => return Ok(None),
            opened = opened => opened,
        };
        let validator = ComponentValidator::new();
        let artifacts =
            ArtifactStore::open_configured(client, validator.engine(), config.artifact_key.as_deref()).await;
        let policy = TriggerSubjectPolicy::new(config.flows.trigger_subjects.iter().cloned())
            .map_err(DispatcherError::Config)?;
        let sweep =
            artifacts.clone().filter(|_| config.artifact_sweep_secs > 0).map(|artifacts| sweep::Sweep {
                registry: registry.clone(),
                artifacts,
                grace: Duration::from_secs(config.artifact_grace_secs),
            });
        let sweep_interval = Duration::from_secs(config.artifact_sweep_secs);
        let flows = FlowStores {
            triggers,
            pipelines,
            subjects: subjects.clone(),
            policy,
            max_triggers: config.flows.max_triggers,
            max_triggers_per_subject: config.flows.max_triggers_per_subject,
        };
        let stores = Stores {
            functions: FunctionStore::new(&config.s3).with_read_limit(config.max_component_bytes),
            transfer,
            registry,
            bucket_settings,
            artifacts,
            flows,
        };
        let compiles = CompilePool::new(CompileLimits {
            concurrency: config.compile_concurrency,
            timeout: Duration::from_secs(config.validate_timeout_secs),
            max_bytes: config.max_component_bytes,
            timeout_setting: "FAAS_VALIDATE_TIMEOUT_SECS",
        });
        let handler = Arc::new(AdminHandler::new(stores, validator, compiles, config.max_component_bytes));
        let group = subjects.dispatcher_group();
        let commands = client.queue_subscribe(subjects.admin_all(), group.clone()).await?;
        let pings = client.queue_subscribe(subjects.ping_dispatcher(), group).await?;
        info!(subject = %subjects.admin_all(), "dispatcher serving admin commands");
        Ok(Some(Self {
            client: client.clone(),
            handler,
            health,
            sweep: sweep.map(|s| (s, sweep_interval)),
            commands,
            pings,
            subjects: Arc::new(subjects),
        }))
    }

    /// Serves commands until `shutdown` resolves, then finishes running ones.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Self { client, handler, health, sweep, mut commands, mut pings, subjects } = self;
        let sweeper = sweep.map(|(sweep, interval)| tokio::spawn(sweep.run(interval)));
        let mut running = JoinSet::new();
        let mut stopping = false;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown, if !stopping => {
                    // Drain: the stream ends once the server confirmed the
                    // UNSUB, so commands routed here before then still get
                    // an answer.
                    info!(running = running.len(), "dispatcher stopping: leaving the queue group");
                    stopping = true;
                    let _ = pings.unsubscribe().await;
                    let _ = commands.drain().await;
                }
                Some(ping) = pings.next(), if !stopping => {
                    if let Some(reply) = ping.reply {
                        let _ = client.publish(reply, health.ping_answer().into()).await;
                    }
                }
                Some(_) = running.join_next(), if !running.is_empty() => {}
                next = commands.next() => match next {
                    Some(message) => {
                        running.spawn(handle(client.clone(), handler.clone(), subjects.clone(), message));
                    }
                    None => break,
                },
            }
        }
        info!(running = running.len(), "dispatcher stopped taking commands; finishing running ones");
        if let Some(sweeper) = sweeper {
            sweeper.abort();
        }
        while running.join_next().await.is_some() {}
    }
}

async fn handle(client: Client, handler: Arc<AdminHandler>, subjects: Arc<Subjects>, message: Message) {
    let request_id = bus::request_id(&message);
    let span = info_span!("admin", request_id = %request_id, subject = %message.subject);
    async move {
        let Some(reply_to) = message.reply.clone() else {
            warn!("admin command without a reply subject; ignored");
            return;
        };
        let result = match serde_json::from_slice::<AdminRequest>(&message.payload) {
            // The subject is what NATS permissions grant (a principal may
            // be allowed `list_buckets` and nothing else), so the body may
            // not name another command.
            Ok(request) if message.subject.as_str() != subjects.admin(request.command()) => {
                let command = request.command();
                warn!(command, "admin command on another command's subject; refused");
                Err(ErrorBody::new(
                    ErrorCode::CommandMismatch,
                    format!("a {command} command must be sent on {}", subjects.admin(command)),
                ))
            }
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
