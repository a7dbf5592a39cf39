//! A bounded, coalescing lookup cache that also remembers definitive failures for a while.
//!
//! moka's `try_get_with` makes concurrent misses on one key share one fetch, but it never
//! caches errors. So a definitive answer ("not found", "does not parse") is stored as a value,
//! with its own short lifetime through moka's per-entry [`Expiry`]; only transient errors
//! (registry down, slow, garbled) stay uncached, so the next lookup asks again.
//!
//! Warm reads are served by the [`HotIndex`] in front of moka (see `hot.rs` for why); a
//! sample of them still reaches moka so its eviction policy keeps a sense of popularity.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;

use crate::error::RegistryError;
use crate::hot::{HotEntry, HotIndex};
use crate::metrics::CacheCounters;

/// One hot hit in this many also reads moka, so moka's policy sees what is popular.
const TOUCH_EVERY: u64 = 1024;

/// A cached answer: the value, or a definitive error; with its own lifetime.
#[derive(Debug, Clone)]
struct Entry<T> {
    result: Result<T, Arc<RegistryError>>,
    ttl: Option<Duration>,
    /// Creation instant: identifies this entry in the hot index.
    born: Instant,
}

/// Gives each entry the lifetime it was created with.
struct EntryExpiry;

impl<K, T> Expiry<K, Entry<T>> for EntryExpiry {
    fn expire_after_create(&self, _key: &K, entry: &Entry<T>, _at: Instant) -> Option<Duration> {
        entry.ttl
    }
}

/// Sizing and lifetimes for one [`LookupCache`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct CachePolicy {
    /// Off: no caching and no coalescing; every lookup fetches.
    pub(crate) enabled: bool,
    /// Most entries kept.
    pub(crate) capacity: u64,
    /// Lifetime of a definitive failure.
    pub(crate) negative_ttl: Duration,
}

/// One cache of `K → T`, counting hits and misses.
pub(crate) struct LookupCache<K, T> {
    cache: Option<Cache<K, Entry<T>>>,
    hot: Arc<HotIndex<K, T>>,
    negative_ttl: Duration,
    counters: CacheCounters,
}

impl<K, T> LookupCache<K, T>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// A cache with `policy`, counting into `counters`.
    pub(crate) fn new(policy: CachePolicy, counters: CacheCounters) -> Self {
        let hot: Arc<HotIndex<K, T>> = Arc::new(HotIndex::new());
        let mirror = hot.clone();
        let cache = policy.enabled.then(|| {
            Cache::builder()
                .max_capacity(policy.capacity)
                .expire_after(EntryExpiry)
                .eviction_listener(move |key: Arc<K>, entry: Entry<T>, _cause| {
                    mirror.remove(key.as_ref(), entry.born);
                })
                .build()
        });
        LookupCache {
            cache,
            hot,
            negative_ttl: policy.negative_ttl,
            counters,
        }
    }

    /// The cached answer for `key`, or the answer of `fetch` (run once for all concurrent
    /// callers missing on `key`). Values live `positive_ttl` (`None`: until evicted),
    /// definitive errors live the negative TTL, transient errors are not kept.
    pub(crate) async fn get_or_fetch<F, Fut>(
        &self,
        key: K,
        positive_ttl: Option<Duration>,
        fetch: F,
    ) -> Result<T, RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let Some(cache) = &self.cache else {
            self.counters.misses.inc();
            return fetch().await;
        };
        if let Some(value) = self.hot.get(&key, Instant::now) {
            if self.counters.hits.inc().is_multiple_of(TOUCH_EVERY) {
                let _ = cache.get(&key).await;
            }
            return Ok(value);
        }
        if let Some(entry) = cache.get(&key).await {
            self.counters.hits.inc();
            return entry.result.map_err(|e| (*e).clone());
        }
        self.counters.misses.inc();
        let negative_ttl = self.negative_ttl;
        let hot = &self.hot;
        let hot_key = key.clone();
        let entry = cache
            .try_get_with(key, async move {
                let result = fetch().await;
                let born = Instant::now();
                match result {
                    Ok(value) => {
                        // Mirrored before moka stores it, so moka's eviction of this entry
                        // (which names `born`) always comes after.
                        hot.insert(
                            hot_key,
                            HotEntry {
                                value: value.clone(),
                                expires: positive_ttl.map(|ttl| born + ttl),
                                born,
                            },
                        );
                        Ok(Entry {
                            result: Ok(value),
                            ttl: positive_ttl,
                            born,
                        })
                    }
                    Err(e) if e.is_transient() => Err(e),
                    Err(e) => Ok(Entry {
                        result: Err(Arc::new(e)),
                        ttl: Some(negative_ttl),
                        born,
                    }),
                }
            })
            .await
            .map_err(|e| (*e).clone())?;
        entry.result.map_err(|e| (*e).clone())
    }

    /// The value cached for `key` now, if any, without fetching or counting a lookup: what
    /// [`Self::get_or_fetch`] would answer at once (values only; not definitive errors).
    pub(crate) fn peek(&self, key: &K) -> Option<T> {
        self.cache.as_ref()?;
        self.hot.get(key, Instant::now)
    }

    /// Entries held now (approximate; moka applies writes lazily).
    pub(crate) fn len(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.entry_count())
    }

    /// Values in the hot index now.
    #[cfg(test)]
    fn hot_len(&self) -> usize {
        self.hot.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Missing;
    use crate::metrics::{CacheKind, Metrics};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cache(enabled: bool, negative_ms: u64) -> (LookupCache<u32, u32>, Metrics) {
        let metrics = Metrics::default();
        let policy = CachePolicy {
            enabled,
            capacity: 100,
            negative_ttl: Duration::from_millis(negative_ms),
        };
        (
            LookupCache::new(policy, metrics.counters(CacheKind::Schema)),
            metrics,
        )
    }

    fn not_found() -> RegistryError {
        RegistryError::NotFound {
            what: Missing::SchemaId,
            error_code: 40403,
            message: "Schema not found".into(),
        }
    }

    fn down() -> RegistryError {
        RegistryError::Unavailable {
            endpoint: "/schemas/ids/{id}",
            reason: "connection refused".into(),
            elapsed: Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn hits_after_the_first_fetch() {
        let (c, m) = cache(true, 1000);
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            let v = c
                .get_or_fetch(1, None, || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(42)
                })
                .await;
            assert_eq!(v, Ok(42));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!((m.cache_hits(), m.cache_misses()), (2, 1));
    }

    #[tokio::test]
    async fn definitive_failures_are_kept_for_the_negative_ttl_only() {
        let (c, _) = cache(true, 150);
        let calls = AtomicUsize::new(0);
        let lookup = || {
            c.get_or_fetch(9, None, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(not_found())
            })
        };
        assert_eq!(lookup().await, Err(not_found()));
        assert_eq!(lookup().await, Err(not_found()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(lookup().await, Err(not_found()));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn transient_failures_are_not_kept() {
        let (c, _) = cache(true, 10_000);
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            let r = c
                .get_or_fetch(5, None, || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(down())
                })
                .await;
            assert!(matches!(r, Err(e) if e.is_transient()));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let r = c.get_or_fetch(5, None, || async { Ok(7) }).await;
        assert_eq!(r, Ok(7));
    }

    #[tokio::test]
    async fn positive_ttl_expires_values() {
        let (c, _) = cache(true, 10_000);
        let calls = AtomicUsize::new(0);
        let lookup = || {
            c.get_or_fetch(3, Some(Duration::from_millis(100)), || async {
                Ok(calls.fetch_add(1, Ordering::SeqCst) as u32)
            })
        };
        assert_eq!(lookup().await, Ok(0));
        assert_eq!(lookup().await, Ok(0));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(lookup().await, Ok(1));
    }

    #[tokio::test]
    async fn peek_sees_live_values_only_and_counts_nothing() {
        let (c, m) = cache(true, 10_000);
        assert_eq!(c.peek(&1), None, "nothing fetched yet");
        c.get_or_fetch(1, Some(Duration::from_millis(100)), || async { Ok(5) })
            .await
            .expect("fetched");
        let _ = c.get_or_fetch(2, None, || async { Err(not_found()) }).await;
        assert_eq!(c.peek(&1), Some(5));
        assert_eq!(c.peek(&2), None, "a definitive failure is not a value");
        assert_eq!((m.cache_hits(), m.cache_misses()), (0, 2));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(c.peek(&1), None, "expired with its ttl");

        let (off, _) = cache(false, 10_000);
        off.get_or_fetch(1, None, || async { Ok(5) })
            .await
            .expect("fetched");
        assert_eq!(off.peek(&1), None, "a disabled cache holds nothing");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_share_one_fetch() {
        let (c, _) = cache(true, 1000);
        let c = Arc::new(c);
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (c, calls) = (c.clone(), calls.clone());
                tokio::spawn(async move {
                    c.get_or_fetch(1, None, || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(1)
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.expect("task ran"), Ok(1));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn evictions_leave_the_hot_index_too() {
        let metrics = Metrics::default();
        let policy = CachePolicy {
            enabled: true,
            capacity: 10,
            negative_ttl: Duration::from_secs(1),
        };
        let c: LookupCache<u32, u32> =
            LookupCache::new(policy, metrics.counters(CacheKind::Schema));
        for key in 0..500u32 {
            let v = c.get_or_fetch(key, None, || async move { Ok(key) }).await;
            assert_eq!(v, Ok(key));
        }
        if let Some(cache) = &c.cache {
            cache.run_pending_tasks().await;
        }
        assert!(c.len() <= 10, "moka holds {}", c.len());
        assert!(c.hot_len() <= 10, "hot index holds {}", c.hot_len());
    }

    #[tokio::test]
    async fn disabled_cache_always_fetches() {
        let (c, m) = cache(false, 1000);
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            let v = c
                .get_or_fetch(1, None, || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(1)
                })
                .await;
            assert_eq!(v, Ok(1));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!((m.cache_hits(), m.cache_misses(), c.len()), (0, 3, 0));
    }
}
