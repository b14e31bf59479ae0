//! The admin half of the dispatcher: bucket (and bucket settings),
//! function (and function configuration), trigger, pipeline and token
//! commands, each audited.
//!
//! It is the only part of the platform that writes to S3 and the only one
//! besides executors that compiles (to check an upload and precompile it), so
//! it owns the S3 client and a Wasmtime engine; the flows half needs neither.
//! Commands arrive on `<prefix>.admin.<command>` in the dispatchers' queue
//! group and are answered in JSON; this half also registers the dispatcher
//! as a NATS micro service ([`bus::register`]), whose `ping` endpoint
//! answers with what [`Health`] says and whose stats carry a
//! [`DispatcherStatus`] (instance id and health).

mod alias_commands;
mod config_commands;
mod flow_commands;
mod handler;
mod shadow_commands;
mod sweep;
mod token_commands;
mod version_commands;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Message, Subscriber};
use bus::audit::AuditLog;
use bus::logs::CallLogs;
use bus::{
    BucketSettingsStore, DefinitionStore, FunctionConfigStore, FunctionRegistry, KeyValueData,
    ShadowOutcomes, ShadowStore, TokenStore, TransferStore, VersionStore,
};
use engine::{ArtifactStore, CompileLimits, CompilePool, ComponentValidator};
use futures::StreamExt as _;
use protocol::audit::{AuditEvent, Audited, Outcome};
use protocol::metrics::DispatcherStatus;
use protocol::subjects::ROLE_DISPATCHER;
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
    service: bus::RoleService,
    subjects: Arc<Subjects>,
}

/// Who this dispatcher is and what it reports, for its service stats.
pub struct Reporting {
    /// The dispatcher's instance id.
    pub instance: String,
    /// Whether its background parts run.
    pub health: Arc<Health>,
}

impl Admin {
    /// Opens the stores (waiting for JetStream) and subscribes. `None` when
    /// `shutdown` came first.
    pub async fn start(
        config: &DispatcherConfig,
        client: &Client,
        reporting: Reporting,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Option<Self>, DispatcherError> {
        let subjects = Subjects::new(&config.subject_prefix);
        let layout = bus::JetStreamLayout::new(&subjects, config.nats.js_replicas);
        let names = &layout.names;
        let trigger_bucket = names.triggers();
        let Reporting { instance, health } = reporting;
        let opened = async {
            futures::join!(
                TransferStore::open_when_ready(client, &layout),
                FunctionRegistry::open_when_ready(client, &layout),
                DefinitionStore::open_when_ready(client, &layout, &trigger_bucket, "trigger"),
                bus::open_pipelines(client, &layout),
                TokenStore::open_when_ready(client, &layout),
                bus::retry("audit log", || AuditLog::setup(client, &subjects, &layout, &config.stores)),
                bus::retry("call logs", || CallLogs::setup(client, &subjects, &layout, &config.stores)),
                BucketSettingsStore::open_when_ready(client, &layout),
                FunctionConfigStore::open_when_ready(client, &layout),
                KeyValueData::open_when_ready(client, &layout, config.stores.keyvalue),
                VersionStore::open_when_ready(client, &layout),
                ShadowStore::open_when_ready(client, &layout),
                bus::retry("shadow outcomes", || ShadowOutcomes::setup(
                    client,
                    &subjects,
                    &layout,
                    &config.stores
                )),
            )
        };
        // The audit trail's and the call logs' streams are set up here;
        // events and logs reach them by being published.
        let (
            transfer,
            registry,
            triggers,
            pipelines,
            tokens,
            (),
            (),
            bucket_settings,
            function_config,
            keyvalue,
            versions,
            shadow,
            shadow_outcomes,
        ) = tokio::select! {
            () = shutdown => return Ok(None),
            opened = opened => opened,
        };
        let validator = ComponentValidator::new();
        let artifacts = ArtifactStore::open_configured(
            client,
            names,
            layout.replicas,
            validator.engine(),
            config.artifact_key.as_deref(),
        )
        .await;
        let policy = TriggerSubjectPolicy::new(config.flows.trigger_subjects.iter().cloned())
            .map_err(DispatcherError::Config)?;
        let sweep =
            artifacts.clone().filter(|_| config.artifact_sweep_secs > 0).map(|artifacts| sweep::Sweep {
                registry: registry.clone(),
                versions: versions.clone(),
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
            function_config,
            artifacts,
            flows,
            tokens,
            keyvalue,
            versions,
            shadow: (shadow, shadow_outcomes),
        };
        let compiles = CompilePool::new(CompileLimits {
            concurrency: config.compile_concurrency,
            timeout: Duration::from_secs(config.validate_timeout_secs),
            max_bytes: config.max_component_bytes,
            timeout_setting: "FAAS_VALIDATE_TIMEOUT_SECS",
        });
        let handler = Arc::new(
            AdminHandler::new(stores, validator, compiles, config.max_component_bytes)
                .with_keep_versions(config.keep_versions),
        );
        let group = subjects.dispatcher_group();
        let commands = client.queue_subscribe(subjects.admin_all(), group.clone()).await?;
        let status = {
            let (instance, health) = (instance.clone(), health.clone());
            move || DispatcherStatus { dispatcher: instance.clone(), health: health.ping_answer() }
        };
        let spec = bus::ServiceSpec {
            name: subjects.service_name(ROLE_DISPATCHER),
            description: "wasm-faas dispatcher: admin commands, jobs, triggers, pipelines",
            ping_subject: subjects.ping_dispatcher(),
            queue_group: group,
            metadata: [("instance".to_owned(), instance), ("admin_subject".to_owned(), subjects.admin_all())]
                .into(),
        };
        let service = bus::register(client, spec, status).await?;
        info!(subject = %subjects.admin_all(), "dispatcher serving admin commands");
        Ok(Some(Self {
            client: client.clone(),
            handler,
            health,
            sweep: sweep.map(|s| (s, sweep_interval)),
            commands,
            service,
            subjects: Arc::new(subjects),
        }))
    }

    /// Serves commands until `shutdown` resolves, then finishes running ones.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Self { client, handler, health, sweep, mut commands, service, subjects } = self;
        let bus::RoleService { service, mut pings } = service;
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
                    let _ = pings.stop().await;
                    let _ = commands.drain().await;
                }
                Some(ping) = pings.next(), if !stopping => {
                    let _ = ping.respond(Ok(health.ping_answer().into())).await;
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
        let _ = service.stop().await;
    }
}

async fn handle(client: Client, handler: Arc<AdminHandler>, subjects: Arc<Subjects>, message: Message) {
    let request_id = bus::request_id(&message);
    // A command without a principal comes from a NATS client that is not
    // the api: served (NATS permissions decide who may send it), and
    // audited as such.
    let principal = bus::audit::principal(&message);
    let span = info_span!(
        "admin",
        request_id = %request_id,
        subject = %message.subject,
        principal_id = %principal.id,
        principal_name = %principal.name,
    );
    bus::telemetry::adopt(&span, &message);
    async move {
        let Some(reply_to) = message.reply.clone() else {
            warn!("admin command without a reply subject; ignored");
            return;
        };
        let mut audited = None;
        let result = match serde_json::from_slice::<AdminRequest>(&message.payload) {
            // The subject is what NATS permissions grant (a principal may
            // be allowed `list_buckets` and nothing else), so the body may
            // not name another command.
            Ok(request) if message.subject.as_str() != subjects.admin(request.command()) => {
                let command = request.command();
                warn!(command, "admin command on another command's subject; refused");
                audited = request.audit();
                Err(ErrorBody::new(
                    ErrorCode::CommandMismatch,
                    format!("a {command} command must be sent on {}", subjects.admin(command)),
                ))
            }
            Ok(request) => {
                let command = request.command();
                audited = request.audit();
                let result = handler.handle(request, &principal).await;
                match &result {
                    Ok(_) => info!(command, "command succeeded"),
                    Err(err) => warn!(command, code = %err.code, error = %err.message, "command failed"),
                }
                result
            }
            Err(err) => Err(ErrorBody::new(ErrorCode::BadRequest, format!("malformed admin command: {err}"))),
        };
        if let Some(Audited { action, target }) = audited {
            let event = AuditEvent {
                at_ms: protocol::jobs::now_ms(),
                request_id: request_id.clone(),
                action: action.to_owned(),
                principal,
                target,
                outcome: Outcome::of(&result, |err| err.code),
            };
            bus::audit::record(&client, &subjects, &event).await;
        }
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
