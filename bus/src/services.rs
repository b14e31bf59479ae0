//! The platform's roles as NATS micro services, so operators see every
//! instance with their usual tools (`nats micro ls/info/stats`, `$SRV.*`).
//!
//! Executors and dispatchers each register a service named after the
//! subject prefix and the role ([`protocol::Subjects::service_name`]) with
//! one endpoint, `ping`, on the role's ping subject in the role's queue
//! group (so any one instance answers a liveness ping, as before). The
//! endpoint's stats carry the instance's own status as `data`, which is how
//! the api's `/ready` learns about every instance: one
//! `$SRV.STATS.<name>` request, answered by all ([`gather_stats`]).
//!
//! The executors' exec subscription stays a plain queue subscription: an
//! executor leaves the queue group while it is full, which an endpoint
//! cannot do; its calls are counted in its Prometheus metrics instead.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::service::endpoint::Endpoint;
use async_nats::service::{Service, ServiceExt as _, Stats};
use futures::StreamExt as _;
use serde::Serialize;

/// A service could not be registered.
#[derive(Debug, thiserror::Error)]
#[error("registering the {service} service: {reason}")]
pub struct ServiceError {
    service: String,
    reason: String,
}

/// What a role registers.
pub struct ServiceSpec {
    /// The service name ([`protocol::Subjects::service_name`]).
    pub name: String,
    /// One line for `nats micro info`.
    pub description: &'static str,
    /// The ping subject its `ping` endpoint serves.
    pub ping_subject: String,
    /// The queue group the endpoint joins.
    pub queue_group: String,
    /// Shown by `nats micro info` (instance id, prefix, limits).
    pub metadata: HashMap<String, String>,
}

/// A registered service and its `ping` endpoint, whose requests the role
/// answers ([`protocol::subjects::PONG`] or what is wrong).
pub struct RoleService {
    /// The service; stop it at shutdown.
    pub service: Service,
    /// The `ping` endpoint's requests.
    pub pings: Endpoint,
}

/// Registers `spec`; `status` is called for each stats request and its
/// answer becomes the `ping` endpoint's `data`.
pub async fn register<S: Serialize>(
    client: &async_nats::Client,
    spec: ServiceSpec,
    status: impl Fn() -> S + Send + Sync + 'static,
) -> Result<RoleService, ServiceError> {
    let error = |reason: &dyn std::fmt::Display| ServiceError {
        service: spec.name.clone(),
        reason: reason.to_string(),
    };
    let service = client
        .service_builder()
        .description(spec.description)
        .metadata(spec.metadata.clone())
        .stats_handler(move |_endpoint, _stats| serde_json::to_value(status()).unwrap_or_default())
        .start(spec.name.as_str(), env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| error(&e))?;
    let pings = service
        .endpoint_builder()
        .name("ping")
        .queue_group(spec.queue_group.as_str())
        .add(spec.ping_subject.as_str())
        .await
        .map_err(|e| error(&e))?;
    Ok(RoleService { service, pings })
}

/// How long [`gather_stats`] waits for a further answer once one came:
/// instances answer within a millisecond or two of each other.
const SETTLE: Duration = Duration::from_millis(100);

/// Every instance's stats of the service `name`: the answers to one
/// `$SRV.STATS.<name>` request that arrive within `first` (for the first
/// one) and then 100 ms of each other. Empty at once when no instance
/// is subscribed (the server says so), or when NATS is unreachable.
pub async fn gather_stats(client: &async_nats::Client, name: &str, first: Duration) -> Vec<Stats> {
    let inbox = client.new_inbox();
    let Ok(mut replies) = client.subscribe(inbox.clone()).await else { return Vec::new() };
    if client.publish_with_reply(format!("$SRV.STATS.{name}"), inbox, "".into()).await.is_err() {
        return Vec::new();
    }
    let mut stats = Vec::new();
    let mut wait = first;
    while let Ok(Some(reply)) = tokio::time::timeout(wait, replies.next()).await {
        if reply.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            break;
        }
        if let Ok(answer) = serde_json::from_slice::<Stats>(&reply.payload) {
            stats.push(answer);
        }
        wait = SETTLE;
    }
    stats
}

/// The `data` of a service's `ping` endpoint in one instance's stats.
pub fn ping_data<T: serde::de::DeserializeOwned>(stats: &Stats) -> Option<T> {
    let endpoint = stats.endpoints.iter().find(|e| e.name == "ping")?;
    serde_json::from_value(endpoint.data.clone()?).ok()
}
