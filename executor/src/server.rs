//! The executor's NATS loop: take exec and HTTP-function requests, run
//! them, reply, and hand each call's log to the batcher
//! ([`crate::log_batcher`]), which it flushes before it stops.
//!
//! Requests are taken and calls run on the call threads (`server/calls.rs`), each
//! with a NATS connection and a single-threaded runtime of its own; the
//! rest (the followed stores, the batcher, the micro service) runs on the
//! runtime `run` is called on, with the client it is given.
//!
//! Concurrency is bounded twice, for every kind of request and every call
//! thread together: `concurrency` calls run at once and up to `backlog`
//! more wait for a slot. When both are full the call threads drain their
//! subscriptions, which takes them out of the queue group so the server
//! hands new requests to other executors; messages already delivered still
//! run. When room frees up they subscribe again.
//!
//! A request names a function and, by its subject, a world: the exec
//! subject runs an exec function, the http subject an HTTP function. An
//! HTTP function on the exec subject runs as `POST /` (triggers, jobs and
//! pipelines name it like any function) unless the caller insists on the
//! exec world (`Faas-Expect-World: exec`, the api's `/exec`); an exec
//! function on the http subject is refused, naming `/exec`.
//!
//! The executor is also a NATS micro service ([`bus::register`]): its
//! liveness ping is the service's `ping` endpoint, and its stats carry an
//! [`ExecutorStatus`] (concurrency, calls in flight).
//!
//! With `--metrics-listen` it serves its Prometheus metrics
//! ([`crate::metrics`]) there.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::{Client, Message};
use bus::{
    BucketSettingsStore, BucketSettingsWatch, ConcurrencyLeases, FunctionConfigStore, FunctionConfigWatch,
    FunctionRegistry, SecretsKey, TransferStore, VersionStore, VersionWatch,
};
use engine::{ArtifactStore, CompilePool};
use futures::{FutureExt as _, StreamExt};
use protocol::audit::Outcome;
use protocol::logs::CallLog;
use protocol::metrics::ExecutorStatus;
use protocol::subjects::{PONG, ROLE_EXECUTOR};
use protocol::{FunctionRef, Subjects, World, headers};
use storage::FunctionStore;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{Instrument, info, info_span, warn};

use crate::call_log::Call;
use crate::capabilities::blobstore::BlobBackend;
use crate::capabilities::keyvalue::KeyValueBackend;
use crate::capabilities::messaging::MessagingBackend;
use crate::capabilities::{CallIdentity, CapabilityHosts, CapabilityMetrics};
use crate::components::{CompileEveryCall, Components};
use crate::config::{CallLogSettings, CallLogs, ExecutorConfig};
use crate::error::ExecError;
use crate::http_call;
use crate::kept_calls;
use crate::loader::{ComponentLoader, Source};
use crate::log_batcher::{self, BatchSettings, LogBatcher, NatsSink};
use crate::metrics::{ExecutorMetrics, NOT_LOADED};
use crate::reply::{self, Output};
use crate::runtime::{FunctionRuntime, HttpOutput, SpentSandbox};
use crate::settings::CallSettings;

mod calls;
mod pipelines;
mod shadow;

/// How long a failed call's answer waits for its input to be kept; past
/// it the answer goes without `Faas-Call-Id` (the keep may still land).
const KEEP_INPUT_WAIT: Duration = Duration::from_millis(500);

/// Longest a graceful stop waits to publish and flush the queued call logs:
/// with NATS down, publishing would wait for a reconnect that may never come.
const LOG_FLUSH_WAIT: Duration = Duration::from_secs(5);

/// Why the executor could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// Subscribing on NATS failed.
    #[error("NATS subscription failed: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    /// The function registry could not be followed.
    #[error("function registry: {0}")]
    Registry(#[from] bus::RegistryError),
    /// The Wasmtime engine could not be built.
    #[error("runtime setup failed: {0}")]
    Runtime(#[from] ExecError),
    /// The micro service could not be registered.
    #[error(transparent)]
    Service(#[from] bus::ServiceError),
    /// `FAAS_HTTP_OUTGOING_ADDRESS_ALLOW` has an entry that is neither an
    /// address range nor a host name.
    #[error(transparent)]
    OutgoingAllow(#[from] bus::address_policy::BadAllowEntry),
    /// The function configurations could not be followed.
    #[error("function configuration: {0}")]
    FunctionConfig(#[from] bus::DefinitionError),
    /// The bucket settings (default capability grants) could not be followed.
    #[error("bucket settings: {0}")]
    BucketSettings(bus::DefinitionError),
    /// The function versions could not be followed.
    #[error("function versions: {0}")]
    Versions(bus::DefinitionError),
    /// The shadow configurations could not be followed.
    #[error("shadow configurations: {0}")]
    Shadow(bus::DefinitionError),
    /// The pipeline definitions could not be followed.
    #[error("pipeline definitions: {0}")]
    Pipelines(bus::DefinitionError),
    /// A call thread's connection to NATS could not be set up.
    #[error("call thread: {0}")]
    Connect(#[from] bus::ConnectError),
    /// A call thread or its runtime could not be started.
    #[error("cannot start a call thread: {0}")]
    CallThread(std::io::Error),
    /// A call thread ended without being told to stop (it panicked).
    #[error("a call thread ended unexpectedly")]
    CallThreadPanicked,
    /// The metrics address could not be bound.
    #[error("cannot serve metrics on {address}: {source}")]
    Metrics {
        /// `--metrics-listen`.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Shared by every request task.
struct Executor {
    /// Names this process in replies and logs.
    id: String,
    client: Client,
    subjects: Subjects,
    components: Components,
    runtime: Arc<FunctionRuntime>,
    /// Whether and how much of each call's log is published.
    call_logs: CallLogSettings,
    /// Where each call's log goes: published with its function's others.
    log_batcher: LogBatcher,
    metrics: Arc<ExecutorMetrics>,
    /// Where HTTP bodies too large for one message are taken and staged.
    transfer: TransferStore,
    /// Every function's configuration, followed.
    configs: FunctionConfigWatch,
    /// Every bucket's settings (its default capability grants), followed;
    /// the store answers while the copy is not known current.
    buckets: (BucketSettingsWatch, BucketSettingsStore),
    /// Every kept version of every function, followed: `Faas-Version`.
    versions: VersionWatch,
    /// Aliases and weights, read from the followed registry.
    aliases: crate::aliases::AliasRoutes,
    /// Opens the functions' secrets.
    secrets_key: Option<SecretsKey>,
    /// `max_concurrency` slots across executors.
    leases: ConcurrencyLeases,
    /// The functions being shadowed, and the shadow runs' slots and metrics.
    shadows: shadow::Shadows,
    /// Whether and where failed sync calls' inputs are kept.
    keeping: kept_calls::Keeping,
    /// Every pipeline definition, followed: the runs this executor takes.
    pipelines: bus::PipelineWatch,
}

/// Serves exec requests until `shutdown` resolves, then lets running calls finish.
pub async fn run(
    config: ExecutorConfig,
    client: Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ExecutorError> {
    let subjects = Subjects::new(&config.subject_prefix);
    let layout = bus::JetStreamLayout::new(&subjects, config.nats.js_replicas);
    let address_policy = bus::address_policy::AddressPolicy::new(
        bus::address_policy::HTTP_OUTGOING,
        &config.http_outgoing.address_allow,
    )?;
    let shutdown = shutdown.fuse();
    tokio::pin!(shutdown);
    let mut registry = prometheus_client::registry::Registry::default();
    let capability_metrics = Arc::new(CapabilityMetrics::new(&mut registry));
    let keyvalue = tokio::select! {
        () = &mut shutdown => return Ok(()),
        keyvalue = KeyValueBackend::open_when_ready(&client, &layout) => keyvalue,
    };
    let hosts = Arc::new(CapabilityHosts {
        subjects: subjects.clone(),
        limits: config.capabilities.clone(),
        metrics: capability_metrics,
        keyvalue,
        blobs: BlobBackend::new(&config.s3),
        messaging: MessagingBackend::new(client.clone()),
    });
    let runtime = Arc::new(
        // Room in the instance pool for the shadow runs too: they never take a live call's.
        FunctionRuntime::new(config.limits.clone(), config.concurrency + config.shadow_concurrency)?
            .with_address_policy(address_policy)
            .with_capabilities(hosts),
    );
    let functions = tokio::select! {
        () = &mut shutdown => return Ok(()),
        functions = FunctionRegistry::open_when_ready(&client, &layout) => functions,
    };
    let watch = functions.watch(&client).await?;
    let aliases = crate::aliases::AliasRoutes::new(functions.clone(), watch.clone());
    let transfer = TransferStore::open_when_ready(&client, &layout).await;
    let id = uuid::Uuid::new_v4().to_string();
    // A slot outlives no call: the longest a call may run, and a margin
    // for an executor that died holding it.
    let lease_age = config.limits.timeout() + Duration::from_secs(30);
    let (config_store, leases, bucket_settings, version_store) = tokio::select! {
        () = &mut shutdown => return Ok(()),
        opened = async {
            futures::join!(
                FunctionConfigStore::open_when_ready(&client, &layout),
                ConcurrencyLeases::open_when_ready(&client, &layout, lease_age, id.clone()),
                BucketSettingsStore::open_when_ready(&client, &layout),
                VersionStore::open_when_ready(&client, &layout),
            )
        } => opened,
    };
    let configs = config_store.watch(&client).await?;
    // An acked follower: a dispatcher answers a bucket settings change only
    // once every executor applied it, so a call after the answer has it.
    let buckets = bucket_settings.watch(&client).await.map_err(ExecutorError::BucketSettings)?;
    let versions = version_store.watch(&client).await.map_err(ExecutorError::Versions)?;
    // An acked follower too: `put_pipeline` / `delete_pipeline` answer once
    // every executor applied them, so the next run has the change.
    let pipelines = tokio::select! {
        () = &mut shutdown => return Ok(()),
        store = bus::open_pipelines(&client, &layout) => store,
    };
    let pipelines = bus::PipelineWatch::start(pipelines, &client).await.map_err(ExecutorError::Pipelines)?;
    let artifacts = ArtifactStore::open_configured(
        &client,
        &layout.names,
        layout.replicas,
        runtime.engine(),
        config.artifact_key.as_deref(),
    )
    .await
    .map(|store| match config.local_artifacts() {
        Some(local) => store.with_local(local),
        None => store,
    });
    let store = FunctionStore::new(&config.s3).with_read_limit(config.compile.max_component_bytes);
    let compiles = CompilePool::new(config.compile.limits());
    let components = if config.compile_every_call {
        Components::CompileEveryCall(CompileEveryCall { store, runtime: runtime.clone(), compiles })
    } else {
        Components::Loader(Box::new(ComponentLoader::new(
            store,
            (functions, watch),
            artifacts,
            (runtime.clone(), compiles),
            crate::cache::ComponentCache::new(
                config.cache_limits(),
                crate::cache::CacheMetrics::new(&mut registry),
            ),
        )))
    };
    let metrics = Arc::new(ExecutorMetrics::new(
        &mut registry,
        config.metrics.metrics_max_functions,
        config.concurrency.max(1),
        config.backlog,
    ));
    let shadows = shadow::Shadows::start(
        &client,
        &layout,
        &mut registry,
        config.shadow_concurrency,
        config.metrics.metrics_max_functions,
    )
    .await
    .map_err(ExecutorError::Shadow)?;
    // Dropped when `run` returns, which stops the metrics server.
    let (_stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(address) = config.metrics.metrics_listen {
        let exposition = bus::metrics::Exposition { registry: Arc::new(registry), refresh: None };
        let stopped = async move {
            let _ = metrics_stopped.await;
        };
        bus::metrics::spawn_server(address, exposition, stopped)
            .await
            .map_err(|source| ExecutorError::Metrics { address, source })?;
    }
    let (log_batcher, log_flusher) = LogBatcher::start(
        NatsSink(client.clone()),
        subjects.clone(),
        BatchSettings {
            flush_interval: config.call_logs.flush_interval(),
            max_bytes: log_batcher::batch_bytes(client.max_payload()),
        },
        metrics.call_logs_dropped.clone(),
    );
    let keeping = kept_calls::Keeping {
        platform_default: config.keep_failed_inputs,
        configs: configs.clone(),
        kept: bus::KeptInputs::new(client.clone(), subjects.clone()),
    };
    let executor = Arc::new(Executor {
        id,
        client: client.clone(),
        subjects,
        components,
        runtime,
        call_logs: config.call_logs.clone(),
        log_batcher,
        metrics,
        transfer,
        configs,
        buckets: (buckets, bucket_settings),
        versions,
        aliases,
        secrets_key: config.secrets_key.clone(),
        leases,
        shadows,
        keeping,
        pipelines,
    });
    let bounds = calls::Bounds::new(config.concurrency.max(1), config.backlog);

    let status = {
        let (id, slots, concurrency) = (executor.id.clone(), bounds.slots.clone(), config.concurrency.max(1));
        move || ExecutorStatus {
            executor: id.clone(),
            concurrency,
            in_flight: concurrency.saturating_sub(slots.available_permits()),
        }
    };
    let call_threads = config.call_threads();
    // Subscribed before the service is announced: an executor that answers
    // pings takes calls.
    let mut threads = tokio::select! {
        () = &mut shutdown => return Ok(()),
        started = calls::CallThreads::start(&executor, &config.nats, call_threads, bounds) => started?,
    };
    let spec = bus::ServiceSpec {
        name: executor.subjects.service_name(ROLE_EXECUTOR),
        description: "wasm-faas executor: runs functions",
        ping_subject: executor.subjects.ping_executor(),
        queue_group: executor.subjects.executor_group(),
        metadata: [
            ("instance".to_owned(), executor.id.clone()),
            ("exec_subject".to_owned(), executor.subjects.exec_all()),
            ("http_subject".to_owned(), executor.subjects.http_all()),
            ("pipeline_subject".to_owned(), executor.subjects.pipeline_all()),
            ("concurrency".to_owned(), config.concurrency.to_string()),
            ("call_threads".to_owned(), call_threads.to_string()),
        ]
        .into(),
    };
    let bus::RoleService { service, mut pings } = match bus::register(&client, spec, status).await {
        Ok(registered) => registered,
        Err(error) => {
            let _ = threads.stop().await;
            return Err(error.into());
        }
    };
    info!(
        executor_id = %executor.id, subject = %executor.subjects.exec_all(),
        concurrency = config.concurrency, call_threads, "executor serving"
    );

    let failed = loop {
        tokio::select! {
            () = &mut shutdown => break None,
            Some(ping) = pings.next() => {
                let _ = ping.respond(Ok(PONG.into())).await;
            }
            error = threads.failed() => break Some(error),
        }
    };
    info!("executor stopping: leaving the queue group, letting running calls finish");
    let _ = pings.stop().await;
    let stopped = threads.stop().await;
    // Every call answered: its log is queued. Published and flushed before
    // the client goes, so a graceful stop loses none while NATS is up; with
    // the bus down the stop must not wait for it.
    if tokio::time::timeout(LOG_FLUSH_WAIT, log_flusher.finish()).await.is_err() {
        warn!(wait = ?LOG_FLUSH_WAIT, "call logs not flushed in time; dropping them");
    }
    let _ = service.stop().await;
    match failed {
        Some(error) => Err(error),
        None => stopped,
    }
}

/// Waits for a slot, runs one exec request and replies to it.
async fn handle(
    executor: Arc<Executor>,
    replies: Arc<Client>,
    message: Message,
    slots: Arc<Semaphore>,
    _accepted: OwnedSemaphorePermit,
) {
    let waiting = Counted::new(&executor.metrics.waiting);
    let Ok(_slot) = slots.acquire_owned().await else { return };
    drop(waiting);
    let _running = Counted::new(&executor.metrics.in_flight);
    // A pipeline run holds this one slot for all its steps. Boxed: its
    // future nests every step's call, too deep to lay out inline here.
    if let Some(pipeline) = executor.subjects.parse_pipeline(&message.subject) {
        return Box::pin(pipelines::serve(executor, &replies, message, pipeline)).await;
    }
    let request_id = bus::request_id(&message);
    let include_logs = bus::header(&message, headers::INCLUDE_LOGS) == Some("true");
    let (function, route) = match executor.subjects.parse_exec(&message.subject) {
        Some(function) => (Some(function), World::Exec),
        None => (executor.subjects.parse_http(&message.subject), World::Http),
    };
    let span = info_span!(
        "exec", request_id = %request_id, function = ?function.as_ref().map(|f| f.to_string()),
        route = route.as_str()
    );
    bus::telemetry::adopt(&span, &message);

    async move {
        let Some(reply_to) = message.reply.clone() else {
            warn!("exec request without a reply subject; nothing to answer");
            return;
        };
        let started = Instant::now();
        let Some(function) = function else {
            let error = ExecError::InvalidSubject(message.subject.to_string());
            let (headers, payload) = reply::failure(&request_id, &executor.id, &error);
            if let Err(err) = replies.publish_with_headers(reply_to, headers, payload).await {
                warn!(%err, "could not publish the reply");
            }
            return;
        };
        let Answered { headers, payload, log, shadowed, spent } =
            answer(&executor, &function, route, &message, &request_id, started, include_logs).await;
        if let Err(err) = replies.publish_with_headers(reply_to, headers, payload).await {
            warn!(%err, "could not publish the reply");
        }
        after_reply(&executor, &function, shadowed, log);
        if let Some(spent) = spent {
            // The reply is queued for this thread's connection task: letting
            // it run first writes the reply before the sandbox is freed. The
            // call's slot is held until then, so the pool never holds more
            // instances than there are slots.
            tokio::task::yield_now().await;
            drop(spent);
        }
    }
    .instrument(span)
    .await
}

/// What one call answers, and what follows its reply.
struct Answered {
    headers: async_nats::HeaderMap,
    payload: bytes::Bytes,
    log: Option<CallLog>,
    shadowed: Option<shadow::Pending>,
    /// The sandbox of a successful exec call, freed once the reply is out.
    spent: Option<SpentSandbox>,
}

/// Runs one call of `function` as `message` asks and encodes its reply:
/// an exec or HTTP request, or a pipeline step (`pipelines`), alike.
async fn answer(
    executor: &Executor,
    function: &FunctionRef,
    route: World,
    message: &Message,
    request_id: &str,
    started: Instant,
    include_logs: bool,
) -> Answered {
    let limit = headers::payload_limit(executor.client.max_payload());
    let make_log = |outcome, digest: Option<&str>, stdout: &str, stderr: &str| {
        let call = Call {
            request_id,
            executor: &executor.id,
            function,
            digest,
            outcome,
            duration: started.elapsed(),
            stdout,
            stderr,
        };
        let settings = &executor.call_logs;
        (settings.mode == CallLogs::On).then(|| call.log(settings.max_bytes, limit))
    };
    let outcome = measured(executor, function, route, message, request_id, started).await;
    let shadowed = executor.shadows.sample(function, route, message, request_id, &outcome, started.elapsed());
    let mut spent = None;
    let (headers, payload, log) = match outcome {
        Ok((answer, version, sandbox)) => {
            spent = sandbox;
            let (stdout, stderr) = answer.logs();
            info!(
                elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                digest = %version.digest, cache = version.source.as_str(),
                stdout = %stdout, stderr = %stderr, "call succeeded"
            );
            let log = make_log(Outcome::Ok, Some(&version.digest), stdout, stderr);
            let encoded = match &answer {
                Answer::Exec(output, world) => {
                    reply::success(request_id, &executor.id, output.clone(), include_logs, limit).map(
                        |(mut map, payload)| {
                            map.insert(bus::header_name(headers::WORLD), world.as_str());
                            (map, payload)
                        },
                    )
                }
                Answer::Http(output) => {
                    let max_payload = executor.client.max_payload();
                    http_call::reply(request_id, &executor.id, output, &executor.transfer, max_payload).await
                }
            };
            match encoded {
                Ok((mut map, payload)) => {
                    map.insert(bus::header_name(headers::DIGEST), version.digest.as_str());
                    map.insert(bus::header_name(headers::CACHE), version.source.as_str());
                    (map, payload, log)
                }
                Err(error) => {
                    warn!(code = %error.code(), error = %error, "the reply could not be sent as it is");
                    let (map, payload) = reply::failure(request_id, &executor.id, &error);
                    let log = log.map(|log| CallLog { outcome: Outcome::Error(error.code()), ..log });
                    (map, payload, log)
                }
            }
        }
        Err(Failure { error, stdout, stderr, digest }) => {
            warn!(
                code = %error.code(), error = %error,
                elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                stdout = %stdout, stderr = %stderr, "call failed"
            );
            let log = make_log(Outcome::Error(error.code()), digest.as_deref(), &stdout, &stderr);
            let (mut map, payload) = reply::failure(request_id, &executor.id, &error);
            if let Some(digest) = &digest {
                map.insert(bus::header_name(headers::DIGEST), digest.as_str());
            }
            // Bounded: keeping the input must not hold the failure's answer up.
            let keep = Box::pin(executor.keeping.keep_failed(function, route, message, &error, digest));
            let kept = tokio::time::timeout(KEEP_INPUT_WAIT, keep).await.ok().flatten();
            if let Some(call_id) = kept {
                map.insert(bus::header_name(headers::CALL_ID), call_id);
            }
            (map, payload, log)
        }
    };
    Answered { headers, payload, log, shadowed, spent }
}

/// After the reply: the shadow run in a task of its own and the call's log
/// queued for its batch, so the caller waits for neither.
fn after_reply(
    executor: &Arc<Executor>,
    function: &FunctionRef,
    shadowed: Option<shadow::Pending>,
    log: Option<CallLog>,
) {
    if let Some(shadowed) = shadowed {
        shadowed.spawn(executor.clone());
    }
    if let Some(log) = log {
        executor.log_batcher.submit(function, log);
    }
}

/// A gauge counted up while this lives.
struct Counted(prometheus_client::metrics::gauge::Gauge);

impl Counted {
    fn new(gauge: &prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What a call answered.
enum Answer {
    /// An exec call's output, and the world of the function that made it.
    Exec(Output, World),
    /// An HTTP function's response.
    Http(HttpOutput),
}

impl Answer {
    fn logs(&self) -> (&str, &str) {
        match self {
            Self::Exec(output, _) => (&output.stdout, &output.stderr),
            Self::Http(output) => (&output.stdout, &output.stderr),
        }
    }
}

/// [`execute`], counted: outcome, cache source, duration, cold start.
async fn measured(
    executor: &Executor,
    function: &FunctionRef,
    route: World,
    message: &Message,
    request_id: &str,
    started: Instant,
) -> Result<(Answer, Version, Option<SpentSandbox>), Failure> {
    let mut loaded = None;
    let result = execute(executor, function, route, message, request_id, &mut loaded).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(failure) => failure.error.code().as_str(),
    };
    let cache = loaded.map_or(NOT_LOADED, |(source, _): (Source, Option<Duration>)| source.as_str());
    executor.metrics.call(function, outcome, cache, started.elapsed());
    if let Some((source, compile)) = loaded
        && source != Source::Memory
    {
        executor.metrics.cold_start(function, source.as_str(), compile);
    }
    result
}

/// A call that failed: why, what it printed until then, and the version
/// that ran, if one was loaded.
struct Failure {
    error: ExecError,
    stdout: String,
    stderr: String,
    digest: Option<String>,
}

impl Failure {
    fn before_load(error: ExecError) -> Self {
        Self { error, stdout: String::new(), stderr: String::new(), digest: None }
    }
}

/// Which version of the function ran, and where its compiled form came from.
struct Version {
    digest: String,
    source: Source,
}

async fn execute(
    executor: &Executor,
    function: &FunctionRef,
    route: World,
    message: &Message,
    request_id: &str,
    loaded_from: &mut Option<(Source, Option<Duration>)>,
) -> Result<(Answer, Version, Option<SpentSandbox>), Failure> {
    // A staged body is taken first, so that it never outlives a refusal.
    let request = match route {
        World::Http => Some(
            http_call::request(message, &executor.transfer, executor.runtime.limits().max_http_body)
                .await
                .map_err(Failure::before_load)?,
        ),
        World::Exec => None,
    };
    // `Faas-Version` (a digest prefix or an alias) and `current`'s weights.
    let loaded = executor.aliases.load(&executor.versions, &executor.components, function, message).await;
    let loaded = loaded.map_err(Failure::before_load)?;
    *loaded_from = Some((loaded.source, loaded.compile));
    let digest = Some(loaded.digest.clone());
    let config = executor
        .configs
        .config(function)
        .await
        .map_err(|e| Failure::before_load(ExecError::ConfigUnavailable(e.to_string())))?;
    let bucket = match executor.buckets.0.settings(&function.bucket) {
        Some(settings) => settings,
        None => executor.buckets.1.get(&function.bucket).await.map_err(|e| {
            Failure::before_load(ExecError::ConfigUnavailable(format!("bucket settings: {e}")))
        })?,
    };
    let mut settings = CallSettings::for_function(
        executor.runtime.limits(),
        function,
        config.as_deref(),
        bucket.capabilities.as_ref(),
        executor.secrets_key.as_ref(),
    )
    .map_err(Failure::before_load)?;
    if bus::header(message, headers::SIDE_EFFECTS) == Some(headers::SIDE_EFFECTS_NONE) {
        settings = settings.read_only();
    }
    settings.identity = Some(CallIdentity {
        function: function.clone(),
        request_id: request_id.to_owned(),
        hops: bus::hops(message),
    });
    let failed = |error: ExecError| Failure {
        error,
        stdout: String::new(),
        stderr: String::new(),
        digest: digest.clone(),
    };
    let ran = |failure: crate::runtime::CallFailure| Failure {
        error: failure.error,
        stdout: failure.stdout,
        stderr: failure.stderr,
        digest: digest.clone(),
    };
    let world = loaded.component.world();
    // The world is checked before a concurrency slot is taken: a call that
    // cannot run holds none.
    let expects_exec = bus::header(message, headers::EXPECT_WORLD) == Some(World::Exec.as_str());
    match (&request, world) {
        (None, World::Http) if expects_exec => {
            return Err(failed(http_call::wrong_world(function, World::Http)));
        }
        (Some(_), World::Exec) => return Err(failed(http_call::wrong_world(function, World::Exec))),
        _ => {}
    }
    let lease = match config.as_ref().and_then(|c| c.limits.max_concurrency) {
        None => None,
        Some(max) => match Box::pin(executor.leases.acquire(function, max)).await {
            Ok(Some(lease)) => Some(lease),
            Ok(None) => {
                let error = ExecError::ConcurrencyLimited { function: function.to_string(), max };
                return Err(Failure::before_load(error));
            }
            Err(err) => return Err(Failure::before_load(ExecError::ConfigUnavailable(err.to_string()))),
        },
    };
    let answer = run_in_world(executor, &loaded.component, message, request, &settings).await;
    // Given back before the reply, so a call after this one's answer finds
    // the slot free; a cancelled call gives it back on drop.
    if let Some(lease) = lease {
        Box::pin(lease.release()).await;
    }
    let (answer, spent) = answer.map_err(|outcome| match outcome {
        RunFailure::Before(error) => failed(error),
        RunFailure::Ran(failure) => ran(failure),
        RunFailure::After { error, stdout, stderr } => {
            Failure { error, stdout, stderr, digest: digest.clone() }
        }
    })?;
    // An exec reply must fit in one NATS message, headers included.
    let limit = headers::payload_limit(executor.client.max_payload());
    if let Answer::Exec(output, _) = &answer
        && output.result.len() > limit
    {
        let error = ExecError::OutputTooLarge { size: output.result.len(), limit };
        return Err(Failure { error, stdout: output.stdout.clone(), stderr: output.stderr.clone(), digest });
    }
    Ok((answer, Version { digest: loaded.digest, source: loaded.source }, spent))
}

/// How running a call failed: before the guest ran, in the guest (with
/// what it printed), or after it, turning its answer into an exec output.
enum RunFailure {
    Before(ExecError),
    Ran(crate::runtime::CallFailure),
    After { error: ExecError, stdout: String, stderr: String },
}

/// Runs the loaded function the way its world and the subject ask: an exec
/// call, an HTTP call, or an HTTP function run as `POST /` for an exec
/// request (triggers, jobs, pipelines, NATS clients).
async fn run_in_world(
    executor: &Executor,
    component: &crate::runtime::PreparedComponent,
    message: &Message,
    request: Option<crate::runtime::HttpRequest>,
    settings: &CallSettings,
) -> Result<(Answer, Option<SpentSandbox>), RunFailure> {
    let runtime = &executor.runtime;
    match (request, component.world()) {
        (None, World::Exec) => {
            let input = String::from_utf8(message.payload.to_vec())
                .map_err(|e| RunFailure::Before(ExecError::InvalidInput(e.to_string())))?;
            let (output, spent) =
                runtime.call_keeping_sandbox(component, input, settings).await.map_err(RunFailure::Ran)?;
            Ok((Answer::Exec(output.into(), World::Exec), Some(spent)))
        }
        (None, World::Http) => {
            let request = http_call::post(message.payload.clone());
            let (output, spent) =
                runtime.call_http(component, request, settings).await.map_err(RunFailure::Ran)?;
            let result = http_call::exec_output(&output).map_err(|error| RunFailure::After {
                error,
                stdout: output.stdout.clone(),
                stderr: output.stderr.clone(),
            })?;
            Ok((
                Answer::Exec(Output { result, stdout: output.stdout, stderr: output.stderr }, World::Http),
                Some(spent),
            ))
        }
        (Some(request), World::Http) => {
            let (output, spent) =
                runtime.call_http(component, request, settings).await.map_err(RunFailure::Ran)?;
            Ok((Answer::Http(output), Some(spent)))
        }
        (Some(_), World::Exec) => Err(RunFailure::Before(ExecError::Internal(
            "an exec function reached the HTTP path after the world check".into(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    /// The size of the future `make` would return, without calling it.
    fn future_size<F: std::future::Future>(_make: impl FnOnce() -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every move of a call's future is a memcpy of all of it (the spawn, at
    /// least): an unboxed cold path awaited on the call path (a store read,
    /// a compile) would double it again, as it did before (12.4 KiB).
    #[test]
    #[allow(unreachable_code)]
    fn a_warm_calls_future_holds_no_cold_path() {
        let call = future_size(|| {
            super::handle(unreachable!(), unreachable!(), unreachable!(), unreachable!(), unreachable!())
        });
        assert!(call <= 7 << 10, "a call's future is {call} bytes");
        let load = future_size(|| {
            crate::aliases::AliasRoutes::load(
                unreachable!(),
                unreachable!(),
                unreachable!(),
                unreachable!(),
                unreachable!(),
            )
        });
        assert!(load <= 1 << 10, "loading a function's component takes a future of {load} bytes");
    }
}
