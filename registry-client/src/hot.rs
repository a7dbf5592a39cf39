//! The hot index: a plain sharded map in front of moka holding the values moka holds, so a
//! warm lookup costs one hash, one uncontended read lock and one clone.
//!
//! moka does its bookkeeping (frequency sketch, LRU order, timer wheel) on the reading thread
//! every few dozen reads, which puts about 1 in 60 warm lookups at several microseconds. The
//! hot index has no bookkeeping: moka stays the source of truth for what is cached, and its
//! eviction listener removes here what it removes there. Only values live here, never
//! negative entries.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::RwLock;
use std::time::Instant;

const SHARDS: usize = 16;

/// One value and the instant it stops being valid.
#[derive(Debug, Clone)]
pub(crate) struct HotEntry<T> {
    /// The cached value.
    pub(crate) value: T,
    /// When it expires (`None`: never); also identifies the moka entry it mirrors.
    pub(crate) expires: Option<Instant>,
    /// When the mirrored moka entry was created; identifies it for removal.
    pub(crate) born: Instant,
}

/// A sharded map of live values.
pub(crate) struct HotIndex<K, T> {
    shards: Vec<RwLock<HashMap<K, HotEntry<T>>>>,
    hasher: RandomState,
}

impl<K: Hash + Eq, T: Clone> HotIndex<K, T> {
    /// An empty index.
    pub(crate) fn new() -> Self {
        HotIndex {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &K) -> Option<&RwLock<HashMap<K, HotEntry<T>>>> {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards.get(index)
    }

    /// The value for `key`, if present and not expired at `now`.
    pub(crate) fn get(&self, key: &K, now: impl FnOnce() -> Instant) -> Option<T> {
        let shard = self.shard(key)?.read().ok()?;
        let entry = shard.get(key)?;
        match entry.expires {
            Some(deadline) if now() >= deadline => None,
            _ => Some(entry.value.clone()),
        }
    }

    /// Mirrors a value moka now holds.
    pub(crate) fn insert(&self, key: K, entry: HotEntry<T>) {
        if let Some(Ok(mut shard)) = self.shard(&key).map(|s| s.write()) {
            shard.insert(key, entry);
        }
    }

    /// Forgets `key` if it still mirrors the moka entry created at `born`.
    pub(crate) fn remove(&self, key: &K, born: Instant) {
        if let Some(Ok(mut shard)) = self.shard(key).map(|s| s.write()) {
            if shard.get(key).is_some_and(|e| e.born == born) {
                shard.remove(key);
            }
        }
    }

    /// Entries held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.read().ok().map(|m| m.len()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn returns_live_values_and_hides_expired_ones() {
        let hot = HotIndex::new();
        let born = Instant::now();
        let entry = |value, expires| HotEntry {
            value,
            expires,
            born,
        };
        hot.insert(1u32, entry(10u32, None));
        hot.insert(2, entry(20, Some(born + Duration::from_secs(60))));
        hot.insert(3, entry(30, Some(born)));
        assert_eq!(hot.get(&1, Instant::now), Some(10));
        assert_eq!(hot.get(&2, Instant::now), Some(20));
        assert_eq!(hot.get(&3, Instant::now), None);
        assert_eq!(hot.get(&4, Instant::now), None);
        assert_eq!(hot.len(), 3);
    }

    #[test]
    fn removal_only_forgets_the_entry_it_names() {
        let hot = HotIndex::new();
        let old = Instant::now();
        let new = old + Duration::from_millis(1);
        hot.insert(
            1u32,
            HotEntry {
                value: 2u32,
                expires: None,
                born: new,
            },
        );
        // moka reporting the eviction of an older entry for the same key keeps the newer one.
        hot.remove(&1, old);
        assert_eq!(hot.get(&1, Instant::now), Some(2));
        hot.remove(&1, new);
        assert_eq!(hot.get(&1, Instant::now), None);
    }
}
