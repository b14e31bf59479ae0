//! The executor's NATS loop: take exec requests, run them, reply.
//!
//! Concurrency is bounded twice: `concurrency` calls run at once and up to
//! `backlog` more wait for a slot. When both are full the executor drains its
//! exec subscription, which takes it out of the queue group so the server
//! hands new requests to other executors; messages already delivered to it
//! still run. When room frees up it subscribes again.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_nats::{Client, Message, Subscriber};
use futures::StreamExt;
use protocol::{FunctionRef, Subjects, headers};
use storage::FunctionStore;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use crate::config::ExecutorConfig;
use crate::error::ExecError;
use crate::loader::ComponentLoader;
use crate::reply;
use crate::runtime::FunctionRuntime;

/// Why the executor could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// Subscribing on NATS failed.
    #[error("NATS subscription failed: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    /// The Wasmtime engine could not be built.
    #[error("runtime setup failed: {0}")]
    Runtime(#[from] ExecError),
}

/// Shared by every request task.
struct Executor {
    /// Names this process in replies and logs.
    id: String,
    client: Client,
    subjects: Subjects,
    loader: ComponentLoader,
    runtime: Arc<FunctionRuntime>,
}

/// Serves exec requests until `shutdown` resolves, then lets running calls finish.
pub async fn run(
    config: ExecutorConfig,
    client: Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ExecutorError> {
    let subjects = Subjects::new(&config.subject_prefix);
    let runtime = Arc::new(FunctionRuntime::new(config.limits.clone())?);
    let loader = ComponentLoader::new(FunctionStore::new(&config.s3), runtime.clone());
    let id = uuid::Uuid::new_v4().to_string();
    let executor = Arc::new(Executor { id, client: client.clone(), subjects, loader, runtime });
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let room = Arc::new(Semaphore::new(config.concurrency.max(1) + config.backlog));

    let mut pings =
        client.queue_subscribe(executor.subjects.ping_executor(), executor.subjects.executor_group()).await?;
    let mut execs = Some(subscribe_execs(&executor).await?);
    let mut draining = false;
    let mut calls = JoinSet::new();
    info!(executor_id = %executor.id, subject = %executor.subjects.exec_all(), concurrency = config.concurrency, "executor serving");

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(ping) = pings.next() => answer_ping(&client, ping).await,
            Some(_) = calls.join_next(), if !calls.is_empty() => {}
            next = next_message(&mut execs) => match next {
                Some(message) => {
                    // Only messages already delivered while draining can wait here.
                    let accepted = tokio::select! {
                        permit = room.clone().acquire_owned() => permit.expect("semaphore never closes"),
                        () = &mut shutdown => break,
                    };
                    calls.spawn(handle(executor.clone(), message, slots.clone(), accepted));
                    if room.available_permits() == 0
                        && !draining
                        && let Some(sub) = execs.as_mut()
                    {
                        // Full: leave the queue group until there is room again.
                        let _ = sub.drain().await;
                        draining = true;
                    }
                }
                None => execs = None,
            },
            permit = room.clone().acquire_owned(), if execs.is_none() => {
                drop(permit);
                execs = Some(subscribe_execs(&executor).await?);
                draining = false;
            }
        }
    }

    info!(running = calls.len(), "executor stopping; letting running calls finish");
    drop(execs);
    while calls.join_next().await.is_some() {}
    Ok(())
}

async fn subscribe_execs(executor: &Executor) -> Result<Subscriber, ExecutorError> {
    let sub = executor
        .client
        .queue_subscribe(executor.subjects.exec_all(), executor.subjects.executor_group())
        .await?;
    Ok(sub)
}

async fn next_message(sub: &mut Option<Subscriber>) -> Option<Message> {
    match sub {
        Some(sub) => sub.next().await,
        None => std::future::pending().await,
    }
}

async fn answer_ping(client: &Client, ping: Message) {
    if let Some(reply) = ping.reply {
        let _ = client.publish(reply, "pong".into()).await;
    }
}

/// Waits for a slot, runs one exec request and replies to it.
async fn handle(
    executor: Arc<Executor>,
    message: Message,
    slots: Arc<Semaphore>,
    _accepted: OwnedSemaphorePermit,
) {
    let Ok(_slot) = slots.acquire_owned().await else { return };
    let header =
        |name: &str| message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_owned());
    let request_id = header(headers::REQUEST_ID).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let include_logs = header(headers::INCLUDE_LOGS).is_some_and(|v| v == "true");
    let function = executor.subjects.parse_exec(&message.subject);
    let span =
        info_span!("exec", request_id = %request_id, function = ?function.as_ref().map(|f| f.to_string()));

    async move {
        let Some(reply_to) = message.reply.clone() else {
            warn!("exec request without a reply subject; nothing to answer");
            return;
        };
        let started = Instant::now();
        let (headers, payload) = match function {
            Some(function) => match execute(&executor, &function, &message.payload).await {
                Ok(output) => {
                    info!(
                        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                        stdout = %output.stdout, stderr = %output.stderr, "call succeeded"
                    );
                    reply::success(&request_id, &executor.id, output, include_logs)
                }
                Err((error, stdout, stderr)) => {
                    warn!(
                        code = %error.code(), error = %error,
                        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                        stdout = %stdout, stderr = %stderr, "call failed"
                    );
                    reply::failure(&request_id, &executor.id, &error)
                }
            },
            None => {
                let error = ExecError::Internal(format!("not an exec subject: {}", message.subject));
                reply::failure(&request_id, &executor.id, &error)
            }
        };
        if let Err(err) = executor.client.publish_with_headers(reply_to, headers, payload).await {
            warn!(%err, "could not publish the reply");
        }
    }
    .instrument(span)
    .await
}

type Failure = (ExecError, String, String);

async fn execute(
    executor: &Executor,
    function: &FunctionRef,
    payload: &[u8],
) -> Result<crate::runtime::CallOutput, Failure> {
    let no_logs = |error| (error, String::new(), String::new());
    let input =
        String::from_utf8(payload.to_vec()).map_err(|e| no_logs(ExecError::InvalidInput(e.to_string())))?;
    let component = executor.loader.load(function).await.map_err(no_logs)?;
    let mut output = executor
        .runtime
        .call(&component, input)
        .await
        .map_err(|failure| (failure.error, failure.stdout, failure.stderr))?;
    // The reply must fit in one NATS message, headers included.
    let limit = (executor.client.server_info().max_payload).saturating_sub(4096);
    if output.result.len() > limit {
        let error = ExecError::OutputTooLarge { size: output.result.len(), limit };
        return Err((error, std::mem::take(&mut output.stdout), std::mem::take(&mut output.stderr)));
    }
    Ok(output)
}
