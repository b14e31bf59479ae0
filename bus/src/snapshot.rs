//! The current value of every key of a JetStream key-value bucket, in one
//! pass.
//!
//! Listing keys and then getting each is a round trip per key; an ordered
//! consumer over the last message of each subject streams them all at
//! once. Job listings and definition listings both read buckets this way.

use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt as _;

/// `(key, value)` of every live key (deleted and purged ones left out), in
/// no particular order.
pub(crate) async fn current_values(store: &kv::Store) -> Result<Vec<(String, bytes::Bytes)>, String> {
    let stored = store.stream.get_info().await.map_err(|e| e.to_string())?.state.messages;
    let mut values = Vec::new();
    if stored == 0 {
        return Ok(values);
    }
    let mut entries = store.watch_with_history(">").await.map_err(|e| e.to_string())?;
    // Quiet this long means nothing is left (entries expired meanwhile).
    while let Ok(Some(entry)) = tokio::time::timeout(Duration::from_secs(2), entries.next()).await {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.operation == kv::Operation::Put {
            values.push((entry.key, entry.value));
        }
        if entry.delta == 0 {
            break;
        }
    }
    Ok(values)
}
