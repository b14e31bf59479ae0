//! Prometheus metrics plumbing every role shares: the settings
//! (`--metrics-listen`, `--metrics-max-functions`), the cap on per-function
//! label values, the histogram buckets, and the tiny HTTP server that
//! serves `GET /metrics` for the roles that have no HTTP server of their
//! own (executors, dispatchers).
//!
//! The metrics themselves are `prometheus-client` families, registered by
//! each role in a registry of its own (never a process-global one, so
//! several roles in one test process do not mix), and encoded in the
//! Prometheus text format (0.0.4) on each scrape.

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// The `Content-Type` of the Prometheus text format.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The label value of every function (or trigger, pipeline, job target)
/// beyond the cap.
pub const OTHER: &str = "(other)";

/// Default of [`MetricsOptions::metrics_max_functions`].
pub const DEFAULT_MAX_FUNCTIONS: usize = 500;

/// Seconds buckets of call-like durations: a warm call takes well under a
/// millisecond, a cold one hundreds, a slow guest up to its time limit.
pub const CALL_BUCKETS: [f64; 15] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Seconds buckets of compiles: tens of milliseconds to a minute.
pub const COMPILE_BUCKETS: [f64; 12] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// How an executor or a dispatcher exposes its metrics.
#[derive(Debug, Clone, clap::Args)]
pub struct MetricsOptions {
    /// Address to serve Prometheus metrics on (`GET /metrics`), such as
    /// `0.0.0.0:9464`. Unset: no metrics endpoint.
    #[arg(long, env = "FAAS_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Functions (and triggers, pipelines, job targets) that get a label
    /// value of their own in this process's metrics; later ones are counted
    /// as `(other)`, so label sets stay bounded whatever callers name.
    #[arg(long, env = "FAAS_METRICS_MAX_FUNCTIONS", default_value_t = DEFAULT_MAX_FUNCTIONS)]
    pub metrics_max_functions: usize,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        Self { metrics_listen: None, metrics_max_functions: DEFAULT_MAX_FUNCTIONS }
    }
}

/// Bounds the values of a name label: the first `max` distinct names keep
/// their own value for the life of the process, every later one is
/// [`OTHER`]. Names come from the bus (a request may name any function),
/// so without this a caller could grow the series without bound.
#[derive(Debug)]
pub struct LabelCap {
    max: usize,
    seen: Mutex<HashSet<String>>,
}

impl LabelCap {
    /// A cap of `max` names.
    pub fn new(max: usize) -> Self {
        Self { max, seen: Mutex::new(HashSet::new()) }
    }

    /// The label value for `name`.
    pub fn label(&self, name: &str) -> String {
        let mut seen = self.seen.lock().expect("label cap lock");
        if seen.contains(name) {
            return name.to_owned();
        }
        if seen.len() < self.max {
            seen.insert(name.to_owned());
            return name.to_owned();
        }
        OTHER.to_owned()
    }
}

/// Registers `faas_build_info{role, version} 1`, so dashboards can tell
/// versions apart during a rolling upgrade.
pub fn register_build_info(registry: &mut Registry, role: &str) {
    let info = prometheus_client::metrics::family::Family::<[(&'static str, String); 2], Gauge>::default();
    info.get_or_create(&[("role", role.to_owned()), ("version", env!("CARGO_PKG_VERSION").to_owned())])
        .set(1);
    registry.register("faas_build_info", "The running role and its version; always 1", info);
}

/// The registry's metrics in the Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, registry)
        .expect("writing to a String never fails");
    text
}

/// Brings scrape-time values (queue depths read from JetStream) up to date
/// before the registry is encoded.
pub type Refresh = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// How long a scrape waits for [`Refresh`]: a scrape answers with the last
/// known values rather than hang while NATS is slow.
const REFRESH_WAIT: Duration = Duration::from_secs(2);

/// What the metrics endpoint serves.
#[derive(Clone)]
pub struct Exposition {
    /// The role's metrics.
    pub registry: Arc<Registry>,
    /// Run before each scrape, if set.
    pub refresh: Option<Refresh>,
}

impl Exposition {
    /// The text of one scrape.
    pub async fn scrape(&self) -> String {
        if let Some(refresh) = &self.refresh {
            let _ = tokio::time::timeout(REFRESH_WAIT, refresh()).await;
        }
        encode(&self.registry)
    }
}

/// Binds `address` and serves `GET /metrics` in a task of its own until
/// `shutdown` resolves; returns the bound address (port 0 picks one).
pub async fn spawn_server(
    address: SocketAddr,
    exposition: Exposition,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    info!(address = %bound, "serving metrics on /metrics");
    tokio::spawn(serve(listener, exposition, shutdown));
    Ok(bound)
}

/// Serves `GET /metrics` (HTTP/1.1) on `listener` until `shutdown` resolves.
pub async fn serve(listener: TcpListener, exposition: Exposition, shutdown: impl Future<Output = ()>) {
    let shutdown = shutdown.fuse();
    tokio::pin!(shutdown);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let exposition = exposition.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let exposition = exposition.clone();
                            async move { Ok::<_, Infallible>(answer(&exposition, request).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(err) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    warn!(%err, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    connections.shutdown().await;
}

async fn answer(exposition: &Exposition, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: Bytes| {
        Response::builder()
            .status(status)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .expect("a valid response")
    };
    if request.uri().path() != "/metrics" {
        return reply(StatusCode::NOT_FOUND, "text/plain", Bytes::from_static(b"metrics are on /metrics\n"));
    }
    match *request.method() {
        Method::GET => reply(StatusCode::OK, CONTENT_TYPE, exposition.scrape().await.into()),
        Method::HEAD => reply(StatusCode::OK, CONTENT_TYPE, Bytes::new()),
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", Bytes::from_static(b"GET only\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_the_first_names_and_folds_the_rest() {
        let cap = LabelCap::new(2);
        assert_eq!(cap.label("a"), "a");
        assert_eq!(cap.label("b"), "b");
        assert_eq!(cap.label("c"), OTHER);
        assert_eq!(cap.label("a"), "a", "a name seen keeps its value");
        assert_eq!(cap.label("d"), OTHER);
    }

    #[test]
    fn build_info_is_a_gauge_of_one() {
        let mut registry = Registry::default();
        register_build_info(&mut registry, "executor");
        let text = encode(&registry);
        assert!(text.contains("# TYPE faas_build_info gauge"), "{text}");
        assert!(text.contains("faas_build_info{role=\"executor\",version=\""), "{text}");
        assert!(text.trim_end().ends_with(" 1"), "{text}");
    }
}
