//! Compiled components by content digest, bounded by their memory.
//!
//! Compiling is the expensive part of a cold call (hundreds of milliseconds)
//! and instantiating a prepared component the cheap part (tens of
//! microseconds), so each executor keeps the prepared form of the components
//! it ran, keyed by the sha256 of their bytes. Keying by content rather than
//! by name means a new upload is a new key (no invalidation to get wrong)
//! and identical components uploaded under several names share one entry.
//!
//! Components differ in size by three orders of magnitude (a Rust `hello`
//! compiles to a few hundred KiB, a Python one to tens of MiB), so a count
//! of entries says nothing about memory. Each entry is weighed by what it
//! keeps resident ([`PreparedComponent::weight`]: its compiled image plus a
//! fixed allowance for the metadata and the prepared instance), and the
//! cache keeps as many as fit in a byte budget ([`CacheLimits`]), evicting
//! the least recently used first. A component heavier than the whole budget
//! is still served, but not kept: keeping it would flush every other entry
//! for one function. An optional count cap (the older setting) applies on
//! top. Concurrent misses on one digest load once, whether or not the result
//! is then kept.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing::debug;

use crate::runtime::PreparedComponent;

/// What the cache may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Most bytes of entries' weight kept.
    pub max_bytes: u64,
    /// Most entries kept, whatever their weight (`None`: no count cap).
    pub max_entries: Option<usize>,
}

/// The cache's gauges and counter, registered in the executor's registry.
#[derive(Debug, Clone, Default)]
pub struct CacheMetrics {
    bytes: Gauge,
    entries: Gauge,
    budget: Gauge,
    evictions: Counter,
    uncached: Counter,
}

impl CacheMetrics {
    /// The families, registered in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "faas_exec_cache_bytes",
            "Weight of the compiled components in memory (compiled image plus the prepared-instance allowance)",
            metrics.bytes.clone(),
        );
        registry.register(
            "faas_exec_cache_entries",
            "Compiled components in memory",
            metrics.entries.clone(),
        );
        registry.register(
            "faas_exec_cache_budget_bytes",
            "Most bytes of compiled components kept in memory (FAAS_CACHE_MAX_BYTES)",
            metrics.budget.clone(),
        );
        registry.register(
            "faas_exec_cache_evictions",
            "Compiled components dropped from memory to make room (least recently used first)",
            metrics.evictions.clone(),
        );
        registry.register(
            "faas_exec_cache_uncached_loads",
            "Components loaded and served but not kept, being heavier than the whole budget",
            metrics.uncached.clone(),
        );
        metrics
    }
}

struct Entry {
    component: Arc<PreparedComponent>,
    weight: u64,
}

struct Entries {
    lru: LruCache<String, Entry>,
    bytes: u64,
}

/// One load in progress, which the misses on the same digest that arrive
/// meanwhile wait for and share.
type Loading = Arc<tokio::sync::Mutex<Option<Arc<PreparedComponent>>>>;

/// Prepared components by digest.
pub struct ComponentCache {
    entries: Mutex<Entries>,
    limits: CacheLimits,
    metrics: CacheMetrics,
    /// One slot per digest being loaded, so a burst of cold calls loads
    /// once, and the ones that waited get the result even when it is too
    /// heavy to keep.
    loading: Mutex<HashMap<String, Loading>>,
}

impl ComponentCache {
    /// A cache within `limits`, reporting to `metrics`.
    pub fn new(limits: CacheLimits, metrics: CacheMetrics) -> Self {
        metrics.budget.set(i64::try_from(limits.max_bytes).unwrap_or(i64::MAX));
        Self {
            entries: Mutex::new(Entries { lru: LruCache::unbounded(), bytes: 0 }),
            limits,
            metrics,
            loading: Mutex::new(HashMap::new()),
        }
    }

    /// The component with `digest`, if cached; marks it recently used.
    pub fn get(&self, digest: &str) -> Option<Arc<PreparedComponent>> {
        self.entries.lock().expect("cache lock").lru.get(digest).map(|e| e.component.clone())
    }

    /// Number of cached components.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").lru.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total weight of the cached components, in bytes.
    pub fn bytes(&self) -> u64 {
        self.entries.lock().expect("cache lock").bytes
    }

    /// Keeps `component` under `digest` if it fits the budget at all,
    /// evicting the least recently used entries until everything fits.
    fn insert(&self, digest: String, component: Arc<PreparedComponent>) {
        let weight = component.weight();
        if weight > self.limits.max_bytes {
            self.metrics.uncached.inc();
            // Every cold call of such a function lands here: the counter
            // (`faas_exec_cache_uncached_loads_total`) is the operator's signal.
            debug!(
                digest,
                weight,
                budget = self.limits.max_bytes,
                "component heavier than the whole cache budget: served, not kept (raise FAAS_CACHE_MAX_BYTES)"
            );
            return;
        }
        let max_entries = self.limits.max_entries.unwrap_or(usize::MAX).max(1);
        let mut entries = self.entries.lock().expect("cache lock");
        if let Some(old) = entries.lru.put(digest, Entry { component, weight }) {
            entries.bytes -= old.weight;
        }
        entries.bytes += weight;
        let mut evicted = 0;
        // The entry just put is the most recently used, and fits alone, so
        // it is never the one popped.
        while entries.bytes > self.limits.max_bytes || entries.lru.len() > max_entries {
            let Some((_, old)) = entries.lru.pop_lru() else { break };
            entries.bytes -= old.weight;
            evicted += 1;
        }
        self.metrics.bytes.set(i64::try_from(entries.bytes).unwrap_or(i64::MAX));
        self.metrics.entries.set(i64::try_from(entries.lru.len()).unwrap_or(i64::MAX));
        drop(entries);
        if evicted > 0 {
            self.metrics.evictions.inc_by(evicted);
        }
    }

    /// The cached component with `digest`, or the one `load` produces, which
    /// is then cached under the digest `load` returns with it (normally
    /// `digest`; `load` may find other bytes than expected and say so).
    /// Only one `load` per digest runs at a time, and misses that waited for
    /// it share its result. The second value is `None` for a cache hit (or
    /// a shared load), else what `load` said about how it loaded.
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
        let slot = self.loading.lock().expect("loading lock").entry(digest.to_owned()).or_default().clone();
        let mut loaded = slot.lock().await;
        // Whoever held the slot before us may have loaded it.
        if let Some(shared) = loaded.as_ref() {
            return Ok((shared.clone(), None));
        }
        if let Some(hit) = self.get(digest) {
            return Ok((hit, None));
        }
        let outcome = load().await;
        let result = outcome.map(|(loaded_digest, prepared, how)| {
            let prepared = Arc::new(prepared);
            self.insert(loaded_digest, prepared.clone());
            *loaded = Some(prepared.clone());
            (prepared, Some(how))
        });
        // Later misses find the entry in the cache (or, if it was too heavy
        // to keep, load it again); the waiters already queued on this slot
        // take the result from it.
        self.loading.lock().expect("loading lock").remove(digest);
        drop(loaded);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::ExecLimits;
    use crate::runtime::FunctionRuntime;

    /// Makes prepared copies of the guest `name`.
    fn preparer(name: &str) -> impl Fn() -> PreparedComponent + use<> {
        let runtime = Arc::new(FunctionRuntime::new(ExecLimits::default(), 2).unwrap());
        let component = runtime.compile(&stack::guests::guest_bytes(name)).unwrap();
        move || runtime.prepare(&component).unwrap()
    }

    fn limits(max_bytes: u64) -> CacheLimits {
        CacheLimits { max_bytes, max_entries: None }
    }

    async fn put(cache: &ComponentCache, digest: &str, make: &dyn Fn() -> PreparedComponent) -> bool {
        let (_, how) = cache
            .get_or_load(digest, || async { Ok::<_, ()>((digest.to_owned(), make(), ())) })
            .await
            .unwrap();
        how.is_some()
    }

    #[test]
    fn an_entry_weighs_its_compiled_image_and_bigger_components_weigh_more() {
        let (hello, fibonacci) = (preparer("hello")(), preparer("fibonacci")());
        for prepared in [&hello, &fibonacci] {
            let image = prepared.image_bytes();
            assert!(image > 16 << 10, "a compiled Rust guest is more than 16 KiB of code: {image}");
            assert_eq!(prepared.weight(), image + crate::runtime::PREPARED_OVERHEAD_BYTES);
        }
        // Not a fixed size per entry: the weight follows the component.
        assert_ne!(hello.weight(), fibonacci.weight());
    }

    #[tokio::test]
    async fn least_recently_used_entries_are_evicted_first_by_weight() {
        let make = preparer("hello");
        let weight = make().weight();
        // Room for three hellos, not four.
        let cache = ComponentCache::new(limits(weight * 3 + weight / 2), CacheMetrics::default());
        for digest in ["a", "b", "c"] {
            assert!(put(&cache, digest, &make).await, "{digest} was loaded, not found");
        }
        assert_eq!((cache.len(), cache.bytes()), (3, 3 * weight));
        assert!(cache.get("a").is_some(), "a is now the most recently used");
        assert!(put(&cache, "d", &make).await);
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(["a", "c", "d"].iter().all(|d| cache.get(d).is_some()));
        assert_eq!((cache.len(), cache.bytes()), (3, 3 * weight));
    }

    #[tokio::test]
    async fn a_heavy_entry_evicts_as_many_light_ones_as_its_weight_needs() {
        let (light, heavy) = (preparer("hello"), preparer("fibonacci"));
        let (lw, hw) = (light().weight(), heavy().weight());
        let (light, heavy): (&dyn Fn() -> PreparedComponent, &dyn Fn() -> PreparedComponent) =
            if lw <= hw { (&light, &heavy) } else { (&heavy, &light) };
        let (lw, hw) = (lw.min(hw), lw.max(hw));
        let budget = hw + 2 * lw;
        let metrics = CacheMetrics::default();
        let cache = ComponentCache::new(limits(budget), metrics.clone());
        for digest in ["l1", "l2", "l3"] {
            put(&cache, digest, light).await;
        }
        let kept_before = cache.len();
        put(&cache, "h", heavy).await;
        assert!(cache.get("h").is_some());
        assert!(cache.bytes() <= budget, "{} over the {budget} budget", cache.bytes());
        // Exactly the oldest light entries went, as many as the heavy one needed.
        let evicted = metrics.evictions.get() as usize;
        assert_eq!(cache.len(), kept_before + 1 - evicted);
        assert!(cache.get("l1").is_none(), "the least recently used went first");
        assert!(cache.get("l3").is_some(), "the most recently used light entry stays");
        assert_eq!(metrics.entries.get(), cache.len() as i64);
        assert_eq!(metrics.bytes.get(), cache.bytes() as i64);
        assert_eq!(metrics.budget.get(), budget as i64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_entry_over_the_whole_budget_is_served_once_per_burst_and_not_kept() {
        let make = Arc::new(preparer("hello"));
        let metrics = CacheMetrics::default();
        let cache = Arc::new(ComponentCache::new(limits(make().weight() - 1), metrics.clone()));
        put(&cache, "small-budget", &*make).await;
        assert!(cache.is_empty() && cache.bytes() == 0, "too heavy to keep");
        let loads = Arc::new(AtomicUsize::new(0));
        let calls = (0..6).map(|_| {
            let (cache, loads, make) = (cache.clone(), loads.clone(), make.clone());
            tokio::spawn(async move {
                cache
                    .get_or_load("big", || async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Ok::<_, ()>(("big".to_owned(), (*make)(), ()))
                    })
                    .await
                    .unwrap();
            })
        });
        for call in futures::future::join_all(calls).await {
            call.unwrap();
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "the waiting misses shared the one load");
        assert!(cache.get("big").is_none());
        assert_eq!(metrics.uncached.get(), 2);
        assert_eq!(metrics.evictions.get(), 0, "nothing was evicted for it");
    }

    #[tokio::test]
    async fn the_count_cap_still_applies_on_top_of_the_budget() {
        let make = preparer("hello");
        let cache = ComponentCache::new(
            CacheLimits { max_bytes: u64::MAX, max_entries: Some(2) },
            Default::default(),
        );
        for digest in ["a", "b", "c"] {
            put(&cache, digest, &make).await;
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a").is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_load_once_and_failures_are_not_cached() {
        let make = Arc::new(preparer("hello"));
        let cache = Arc::new(ComponentCache::new(limits(u64::MAX), CacheMetrics::default()));
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
        let make = preparer("hello");
        let cache = ComponentCache::new(limits(u64::MAX), CacheMetrics::default());
        cache.get_or_load("old", || async { Ok::<_, ()>(("new".to_owned(), make(), ())) }).await.unwrap();
        assert!(cache.get("old").is_none(), "never cached under a digest it does not have");
        assert!(cache.get("new").is_some());
    }

    #[test]
    fn metrics_are_exposed_under_the_executor_names() {
        let mut registry = Registry::default();
        let metrics = CacheMetrics::new(&mut registry);
        let _cache = ComponentCache::new(limits(1 << 20), metrics);
        let text = bus::metrics::encode(&registry);
        for name in [
            "faas_exec_cache_bytes 0",
            "faas_exec_cache_entries 0",
            "faas_exec_cache_budget_bytes 1048576",
            "faas_exec_cache_evictions_total 0",
            "faas_exec_cache_uncached_loads_total 0",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
