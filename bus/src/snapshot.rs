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
    let state = store.stream.get_info().await.map_err(|e| e.to_string())?.state;
    // By key, the last write winning: a key rewritten during the read is
    // seen twice.
    let mut values = std::collections::HashMap::new();
    if state.messages == 0 {
        return Ok(Vec::new());
    }
    let mut entries = store.watch_with_history(">").await.map_err(|e| e.to_string())?;
    // Quiet this long means nothing is left (entries expired meanwhile).
    while let Ok(Some(entry)) = tokio::time::timeout(Duration::from_secs(2), entries.next()).await {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.operation == kv::Operation::Put {
            values.insert(entry.key, entry.value);
        } else {
            values.remove(&entry.key);
        }
        // Caught up only once the last write seen at the start is passed: a
        // key rewritten meanwhile left the replay (its old value is gone)
        // and comes back as a new write after it.
        if entry.delta == 0 && entry.revision >= state.last_sequence {
            break;
        }
    }
    Ok(values.into_iter().collect())
}

/// `(key, value)` of every live key under `prefix` (which ends with `.`):
/// the subjects are counted first, so an empty prefix costs one request
/// and a full one is read without waiting for quiet.
pub(crate) async fn current_values_under(
    store: &kv::Store,
    prefix: &str,
) -> Result<Vec<(String, bytes::Bytes)>, String> {
    let filter = format!("{prefix}>");
    let mut subjects = store
        .stream
        .info_with_subjects(format!("{}{filter}", store.prefix))
        .await
        .map_err(|e| e.to_string())?;
    let mut expected = 0usize;
    while let Some(subject) = subjects.next().await {
        subject.map_err(|e| e.to_string())?;
        expected += 1;
    }
    let mut values = std::collections::HashMap::new();
    if expected == 0 {
        return Ok(Vec::new());
    }
    let mut entries = store.watch_with_history(&filter).await.map_err(|e| e.to_string())?;
    let mut seen = 0usize;
    while let Ok(Some(entry)) = tokio::time::timeout(Duration::from_secs(2), entries.next()).await {
        let entry = entry.map_err(|e| e.to_string())?;
        seen += 1;
        if entry.operation == kv::Operation::Put {
            values.insert(entry.key, entry.value);
        } else {
            values.remove(&entry.key);
        }
        // One entry per subject counted, the last pending: all there is.
        if seen >= expected && entry.delta == 0 {
            break;
        }
    }
    Ok(values.into_iter().collect())
}
