//! Process bootstrap for the service binaries: the runtime, logging and
//! trace export, shutdown.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The standard OpenTelemetry variable that turns trace export on.
const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard per-signal variant, honoured the same way.
const OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// Keeps the trace exporter of a process; dropping it sends the spans still
/// buffered (hold it in `main` until the service has stopped).
#[must_use = "dropping it at once stops trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`); JSON lines when
/// `LOG_FORMAT=json`, for log shippers. When `OTEL_EXPORTER_OTLP_ENDPOINT`
/// (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, spans are also
/// exported as OpenTelemetry traces over OTLP/HTTP (protobuf), under
/// `service` unless `OTEL_SERVICE_NAME` names it; the other standard
/// `OTEL_*` variables (headers, timeout, sampler) apply as usual.
pub fn init_tracing(service: &str) -> Telemetry {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let format = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let format = if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json") {
        format.json().boxed()
    } else {
        format.boxed()
    };
    let exporting = [OTLP_ENDPOINT, OTLP_TRACES_ENDPOINT].iter().any(|v| std::env::var_os(v).is_some());
    let (provider, failure) = match exporting.then(|| tracer_provider(service)) {
        None => (None, None),
        Some(Ok(provider)) => (Some(provider), None),
        Some(Err(err)) => (None, Some(err)),
    };
    let traces = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("wasm-faas")));
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(filter).with(format).with(traces).try_init();
    if let Some(err) = failure {
        tracing::error!(error = %err, "trace export is configured but could not start; running without it");
    }
    Telemetry { provider }
}

fn tracer_provider(service: &str) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    // The exporter's HTTP client is rustls without a built-in provider (the
    // workspace links ring only): install it, unless the process already has.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
    let resource = if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        Resource::builder().build()
    } else {
        Resource::builder().with_service_name(service.to_owned()).build()
    };
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` sends).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler cannot fail on unix");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Why a service process stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError<E> {
    /// The async runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// NATS could not be reached.
    #[error(transparent)]
    Connect(#[from] crate::ConnectError),
    /// The service's task panicked.
    #[error("the service's task panicked: {0}")]
    Panicked(#[source] tokio::task::JoinError),
    /// The service stopped with an error of its own.
    #[error(transparent)]
    Service(E),
}

/// Runs a service binary: a multi-thread runtime (`workers` threads, unset
/// Tokio's default: `TOKIO_WORKER_THREADS`, else one per CPU), logging and
/// trace export as [`init_tracing`] sets them up, a NATS connection, then
/// the service's `run` until it returns.
///
/// `run` goes on a worker thread, not the thread blocked on the runtime:
/// there, every task it spawned per message went through the runtime's
/// inject queue and woke a parked worker (a futex and a context switch per
/// call, `bench/results/*-xwake.md`); on a worker it starts in that
/// worker's local queue, next to the NATS connection task that woke it.
pub fn serve<F, E>(
    service: &'static str,
    nats: &crate::NatsOptions,
    workers: Option<std::num::NonZeroUsize>,
    run: impl FnOnce(async_nats::Client) -> F,
) -> Result<(), ServeError<E>>
where
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: Send + 'static,
{
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = workers {
        runtime.worker_threads(threads.get());
    }
    let runtime = runtime.enable_all().build().map_err(ServeError::Runtime)?;
    runtime.block_on(async {
        let _telemetry = init_tracing(service);
        let client = crate::connect(nats, service).await?;
        tokio::spawn(run(client)).await.map_err(ServeError::Panicked)?.map_err(ServeError::Service)
    })
}
