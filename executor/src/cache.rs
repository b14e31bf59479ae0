//! Compiled components by content digest.
//!
//! Compiling is the expensive part of a cold call (hundreds of milliseconds)
//! and instantiating a prepared component the cheap part (tens of
//! microseconds), so each executor keeps the prepared form of the components
//! it ran, keyed by the sha256 of their bytes. Keying by content rather than
//! by name means a new upload is a new key (no invalidation to get wrong)
//! and identical components uploaded under several names share one entry.
//! The cache holds a bounded number of entries and evicts the least
//! recently used; concurrent misses on one digest compile once.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::runtime::PreparedComponent;

/// Prepared components by digest.
pub struct ComponentCache {
    entries: Mutex<LruCache<String, Arc<PreparedComponent>>>,
    /// One lock per digest being loaded, so a burst of cold calls compiles once.
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ComponentCache {
    /// A cache of at most `capacity` components (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self { entries: Mutex::new(LruCache::new(capacity)), loading: Mutex::new(HashMap::new()) }
    }

    /// The component with `digest`, if cached; marks it recently used.
    pub fn get(&self, digest: &str) -> Option<Arc<PreparedComponent>> {
        self.entries.lock().expect("cache lock").get(digest).cloned()
    }

    /// Number of cached components.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached component with `digest`, or the one `load` produces, which
    /// is then cached under the digest `load` returns with it (normally
    /// `digest`; `load` may find other bytes than expected and say so).
    /// Only one `load` per digest runs at a time. The second value is `None`
    /// for a cache hit, else what `load` said about how it loaded.
    pub async fn get_or_load<F, Fut, E, T>(
        &self,
        digest: &str,
        load: F,
    ) -> Result<(Arc<PreparedComponent>, Option<T>), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, PreparedComponent, T), E>>,
    {
        if let Some(hit) = self.get(digest) {
            return Ok((hit, None));
        }
        let lock = self.loading.lock().expect("loading lock").entry(digest.to_owned()).or_default().clone();
        let guard = lock.lock().await;
        // Whoever held the lock before us may have loaded it.
        if let Some(hit) = self.get(digest) {
            return Ok((hit, None));
        }
        let outcome = load().await;
        let result = outcome.map(|(loaded_digest, prepared, how)| {
            let prepared = Arc::new(prepared);
            self.entries.lock().expect("cache lock").put(loaded_digest, prepared.clone());
            (prepared, Some(how))
        });
        drop(guard);
        self.loading.lock().expect("loading lock").remove(digest);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::ExecLimits;
    use crate::runtime::FunctionRuntime;

    fn prepared() -> (Arc<FunctionRuntime>, impl Fn() -> PreparedComponent) {
        let runtime = Arc::new(FunctionRuntime::new(ExecLimits::default(), 2).unwrap());
        let component = runtime.compile(&stack::guests::guest_bytes("hello")).unwrap();
        let rt = runtime.clone();
        (runtime, move || rt.prepare(&component).unwrap())
    }

    #[tokio::test]
    async fn least_recently_used_entries_are_evicted_first() {
        let (_runtime, make) = prepared();
        let cache = ComponentCache::new(2);
        for digest in ["a", "b"] {
            let loaded =
                cache.get_or_load(digest, || async { Ok::<_, ()>((digest.to_owned(), make(), ())) }).await;
            assert_eq!(loaded.unwrap().1, Some(()), "{digest} was loaded, not found");
        }
        assert!(cache.get("a").is_some(), "a is now the most recently used");
        cache.get_or_load("c", || async { Ok::<_, ()>(("c".to_owned(), make(), ())) }).await.unwrap();
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        assert_eq!(cache.len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_load_once_and_failures_are_not_cached() {
        let (_runtime, make) = prepared();
        let make = Arc::new(make);
        let cache = Arc::new(ComponentCache::new(4));
        let loads = Arc::new(AtomicUsize::new(0));
        let calls = (0..8).map(|_| {
            let (cache, loads, make) = (cache.clone(), loads.clone(), make.clone());
            tokio::spawn(async move {
                cache
                    .get_or_load("d", || async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Ok::<_, ()>(("d".to_owned(), (*make)(), ()))
                    })
                    .await
                    .unwrap();
            })
        });
        for call in futures::future::join_all(calls).await {
            call.unwrap();
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "eight concurrent misses compiled once");

        let failed = cache.get_or_load("e", || async { Err::<(String, PreparedComponent, ()), _>("boom") });
        assert_eq!(failed.await.err(), Some("boom"));
        assert!(cache.get("e").is_none(), "a failed load leaves no entry");
    }

    #[tokio::test]
    async fn a_load_that_found_other_bytes_is_cached_under_their_digest() {
        let (_runtime, make) = prepared();
        let cache = ComponentCache::new(4);
        cache.get_or_load("old", || async { Ok::<_, ()>(("new".to_owned(), make(), ())) }).await.unwrap();
        assert!(cache.get("old").is_none(), "never cached under a digest it does not have");
        assert!(cache.get("new").is_some());
    }
}
