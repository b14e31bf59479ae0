//! The dispatcher's NATS loop: take admin commands, run them, reply in JSON.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Message};
use bus::TransferStore;
use futures::StreamExt;
use protocol::{AdminReply, AdminRequest, ErrorBody, ErrorCode, Subjects, headers};
use storage::FunctionStore;
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use crate::config::DispatcherConfig;
use crate::handler::AdminHandler;

/// Why the dispatcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum DispatcherError {
    /// Subscribing on NATS failed.
    #[error("NATS subscription failed: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
}

/// Serves admin commands until `shutdown` resolves, then finishes running ones.
pub async fn run(
    config: DispatcherConfig,
    client: Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DispatcherError> {
    let subjects = Subjects::new(&config.subject_prefix);
    tokio::pin!(shutdown);
    let transfer = tokio::select! {
        () = &mut shutdown => return Ok(()),
        store = TransferStore::open_when_ready(&client) => store,
    };
    let handler = Arc::new(AdminHandler::new(
        FunctionStore::new(&config.s3),
        transfer,
        config.max_component_bytes,
        Duration::from_secs(config.validate_timeout_secs),
    ));
    let group = subjects.dispatcher_group();
    let mut commands = client.queue_subscribe(subjects.admin_all(), group.clone()).await?;
    let mut pings = client.queue_subscribe(subjects.ping_dispatcher(), group).await?;
    let mut running = JoinSet::new();
    info!(subject = %subjects.admin_all(), "dispatcher serving");

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(ping) = pings.next() => {
                if let Some(reply) = ping.reply {
                    let _ = client.publish(reply, "pong".into()).await;
                }
            }
            Some(_) = running.join_next(), if !running.is_empty() => {}
            Some(message) = commands.next() => {
                running.spawn(handle(client.clone(), handler.clone(), message));
            }
        }
    }
    info!(running = running.len(), "dispatcher stopping; finishing running commands");
    while running.join_next().await.is_some() {}
    Ok(())
}

async fn handle(client: Client, handler: Arc<AdminHandler>, message: Message) {
    let request_id = message
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::REQUEST_ID))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
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
        map.insert("Content-Type", "application/json");
        let payload = serde_json::to_vec(&reply).expect("admin replies always serialise");
        if let Err(err) = client.publish_with_headers(reply_to, map, payload.into()).await {
            warn!(%err, "could not publish the reply");
        }
    }
    .instrument(span)
    .await
}
