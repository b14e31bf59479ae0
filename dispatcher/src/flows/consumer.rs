//! Taking deliveries from a durable pull consumer, a bounded number at once.
//!
//! The job worker and the callback sender consume the same way: each
//! delivery goes to a task of its own, at most `concurrency` run at once, a
//! shutdown stops the taking and lets the running ones finish, and a
//! consumer (or stream) that was deleted stops the loop for good with an
//! error the dispatcher's health reports. A deleted consumer is not always
//! announced on the message stream, which then just goes quiet, so it is
//! asked after every error and every [`CONSUMER_CHECK`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use bus::JobError;
use futures::StreamExt as _;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// How often a consumer is asked whether it still exists.
const CONSUMER_CHECK: Duration = Duration::from_secs(2);

/// How long to wait after a consumer error before taking again.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Hands each delivery of `consumer` to `handle`, `concurrency` at most at
/// once, until `shutdown`; then waits for the running ones. `what` names
/// the consumer in logs and errors.
pub async fn take_bounded<F>(
    what: &str,
    consumer: &PullConsumer,
    concurrency: usize,
    handle: impl Fn(Message) -> F,
    shutdown: impl Future<Output = ()>,
) -> Result<(), JobError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let concurrency = concurrency.max(1);
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(concurrency)
        .messages()
        .await
        .map_err(|e| JobError::Unavailable(format!("{what}: {e}")))?;
    let slots = Arc::new(Semaphore::new(concurrency));
    // Tracked, not joined: a finished delivery gives its slot back itself
    // and wakes nothing here (joining woke this loop once per delivery).
    let running = TaskTracker::new();
    let mut stopped = None;
    let mut check = tokio::time::interval(CONSUMER_CHECK);
    info!(concurrency, "{what} taking deliveries");
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("semaphore never closes"),
        };
        tokio::select! {
            () = &mut shutdown => break,
            _ = check.tick() => {
                if let Some(gone) = consumer_gone(what, consumer).await {
                    stopped = Some(gone);
                    break;
                }
            }
            next = messages.next() => match next {
                Some(Ok(message)) => {
                    // A delivery's future is large (a job's about 8 KiB:
                    // every step it may await, nested). Boxed here it is
                    // copied once; moved through the spawn by value it was
                    // copied several times per delivery (issue 15).
                    let task = Box::pin(handle(message));
                    running.spawn(async move {
                        task.await;
                        drop(slot);
                    });
                }
                Some(Err(err)) => {
                    if let Some(gone) = consumer_gone(what, consumer).await {
                        stopped = Some(gone);
                        break;
                    }
                    warn!(%err, "{what}: consumer error; retrying in 1 s");
                    tokio::time::sleep(ERROR_PAUSE).await;
                }
                None => {
                    stopped = Some(JobError::Unavailable(format!("{what}: the message stream ended")));
                    break;
                }
            },
        }
    }
    info!(running = running.len(), "{what} stopping; finishing running deliveries");
    running.close();
    running.wait().await;
    stopped.map_or(Ok(()), Err)
}

/// Why the loop must stop, if its consumer (or the stream) is gone: it
/// would never get a delivery again. Unreachable JetStream is not a reason.
async fn consumer_gone(what: &str, consumer: &PullConsumer) -> Option<JobError> {
    match consumer.get_info().await {
        Err(err)
            if matches!(
                err.kind(),
                ConsumerInfoErrorKind::NotFound | ConsumerInfoErrorKind::StreamNotFound
            ) =>
        {
            Some(JobError::Unavailable(format!("{what}: its consumer was deleted")))
        }
        _ => None,
    }
}
