//! Waiting for every live follower of a key-value bucket to apply a write.
//!
//! The function registry and the trigger store are followed the same way:
//! each follower is a JetStream push consumer that acks an entry only after
//! applying it. A writer that must not answer before every follower applied
//! its write waits here for their ack floors to pass its revision.

use std::time::{Duration, Instant};

use async_nats::jetstream::stream::Stream;
use futures::TryStreamExt as _;

/// Why the wait ended without every follower caught up.
pub(crate) enum WaitError {
    /// The stream's consumers could not be listed.
    Unavailable(String),
    /// These followers had not acked `revision` by the deadline.
    Behind(Vec<String>),
}

/// Waits until every consumer of `stream` named `<prefix>...` with a live
/// subscriber has acked `revision`. Consumers without a subscriber belong
/// to dead processes and are skipped.
pub(crate) async fn wait_for_acks(
    stream: &Stream,
    prefix: &str,
    revision: u64,
    timeout: Duration,
) -> Result<(), WaitError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let consumers: Vec<_> =
            stream.consumers().try_collect().await.map_err(|e| WaitError::Unavailable(e.to_string()))?;
        let behind: Vec<String> = consumers
            .into_iter()
            .filter(|c| c.name.starts_with(prefix) && c.push_bound)
            .filter(|c| c.ack_floor.stream_sequence < revision)
            .map(|c| c.name)
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(WaitError::Behind(behind));
        }
        tokio::time::sleep(pause).await;
        // Followers usually ack within a millisecond; a slow one is not
        // worth a consumer listing per millisecond.
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
