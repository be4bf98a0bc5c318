//! Packed shards read whole, and kept for the calls of this process that read them next.
//!
//! The images of a PCA function lie all over its shards (the partition deals them at
//! random), so its coalesced ranged reads cover nearly every byte of each; so do the
//! partition's probes and validation's held-out images. Read by range, a run fetched each
//! shard once per call. Read whole, in parallel parts, and kept, the run fetches it once,
//! and every call after the first pays one `HEAD` to check that it is still the same object.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use mltrain_store::Store;
use tokio::sync::OnceCell;

/// Bytes asked for by one ranged read of a whole shard: several in flight make up for
/// one connection's throughput and for a round trip each.
const PART: u64 = 4 << 20;

/// Ranges closer than this are read as one by `object_store`'s `get_ranges`
/// (`OBJECT_STORE_COALESCE_DEFAULT`): what a call's ranged reads of a shard would fetch.
const COALESCE_GAP: u64 = 1 << 20;

/// Whether reading the shard whole costs little more than reading `ranges` of it: their
/// coalesced reads would fetch at least half of the bytes up to the last range's end.
pub(crate) fn worth_reading_whole(ranges: &[Range<u64>]) -> bool {
    let mut sorted: Vec<&Range<u64>> = ranges.iter().filter(|r| r.end > r.start).collect();
    sorted.sort_by_key(|r| r.start);
    let (mut covered, mut current): (u64, Option<Range<u64>>) = (0, None);
    for r in sorted {
        current = match current {
            Some(c) if r.start <= c.end.saturating_add(COALESCE_GAP) => {
                Some(c.start..c.end.max(r.end))
            }
            Some(c) => {
                covered += c.end - c.start;
                Some(r.clone())
            }
            None => Some(r.clone()),
        };
    }
    let Some(last) = current else { return false };
    covered += last.end - last.start;
    let end = ranges.iter().map(|r| r.end).max().unwrap_or(0);
    covered.saturating_mul(2) >= end
}

/// Shards kept whole in memory, up to a budget of bytes, the oldest given up first. Clones
/// share the shards. A shard is read once however many calls ask for it at the same time.
#[derive(Debug, Clone, Default)]
pub struct ShardCache {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Keys of `entries`, oldest first.
    order: VecDeque<String>,
    /// Bytes the entries hold or are being read into.
    kept: u64,
}

#[derive(Debug)]
struct Entry {
    size: u64,
    e_tag: Option<String>,
    bytes: Arc<OnceCell<Bytes>>,
}

impl State {
    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.kept -= entry.size;
            self.order.retain(|k| k != key);
        }
    }

    /// Removes `key` if its entry is still the one reading into `cell`.
    fn remove_if(&mut self, key: &str, cell: &Arc<OnceCell<Bytes>>) {
        if self
            .entries
            .get(key)
            .is_some_and(|e| Arc::ptr_eq(&e.bytes, cell))
        {
            self.remove(key);
        }
    }
}

impl ShardCache {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock, so a poisoned one still guards a whole
        // state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes the cache holds now.
    pub fn kept(&self) -> u64 {
        self.lock().kept
    }

    /// The shard under `key`, whole: kept from an earlier read if the store still has that
    /// same object (size and entity tag), else read in parallel parts, `concurrency` at a
    /// time, and kept if it fits in `budget` bytes (older shards are given up to make room
    /// before it is read). The bytes may be fewer than the store said if the shard shrank
    /// while it was read; such a read is not kept.
    pub async fn whole(
        &self,
        store: &Store,
        key: &str,
        budget: u64,
        concurrency: usize,
    ) -> mltrain_store::Result<Bytes> {
        let (size, e_tag) = store.version(key).await?;
        let cell = {
            let mut state = self.lock();
            match state.entries.get(key) {
                Some(e) if e.size == size && e.e_tag == e_tag => Some(Arc::clone(&e.bytes)),
                _ => {
                    state.remove(key);
                    if size > budget {
                        None
                    } else {
                        while state.kept + size > budget {
                            let Some(oldest) = state.order.front().cloned() else {
                                break;
                            };
                            state.remove(&oldest);
                        }
                        let bytes = Arc::new(OnceCell::new());
                        state.entries.insert(
                            key.to_string(),
                            Entry {
                                size,
                                e_tag,
                                bytes: Arc::clone(&bytes),
                            },
                        );
                        state.order.push_back(key.to_string());
                        state.kept += size;
                        Some(bytes)
                    }
                }
            }
        };
        let Some(cell) = cell else {
            return read_whole(store, key, size, concurrency).await;
        };
        let read = cell
            .get_or_try_init(|| read_whole(store, key, size, concurrency))
            .await
            .cloned();
        match read {
            Ok(bytes) if bytes.len() as u64 == size => Ok(bytes),
            other => {
                self.lock().remove_if(key, &cell);
                other
            }
        }
    }
}

/// The `size` bytes of the object under `key`, read in parts of [`PART`] bytes,
/// `concurrency` at a time. A part that comes back short ends the bytes there.
async fn read_whole(
    store: &Store,
    key: &str,
    size: u64,
    concurrency: usize,
) -> mltrain_store::Result<Bytes> {
    let parts: Vec<Range<u64>> = (0..size.div_ceil(PART))
        .map(|i| i * PART..((i + 1) * PART).min(size))
        .collect();
    let reads = parts.into_iter().map(|range| {
        let (store, key) = (store.clone(), key.to_string());
        async move {
            let want = range.end - range.start;
            let mut got = store.get_ranges(&key, &[range]).await?;
            let part = got.pop().unwrap_or_default();
            Ok::<_, mltrain_store::Error>((part, want))
        }
    });
    let parts: Vec<(Bytes, u64)> = futures::stream::iter(reads)
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    if let [(only, want)] = parts.as_slice() {
        if only.len() as u64 == *want {
            return Ok(only.clone());
        }
    }
    let mut whole = BytesMut::with_capacity(usize::try_from(size).unwrap_or(usize::MAX));
    for (part, want) in parts {
        whole.extend_from_slice(&part);
        if (part.len() as u64) < want {
            break;
        }
    }
    Ok(whole.freeze())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    fn memory() -> Store {
        Store::from_url("memory://").unwrap()
    }

    /// `(HEAD, GET)` requests `store` counted since `before`.
    fn requests_since(store: &Store, before: &mltrain_store::StoreStats) -> (u64, u64) {
        let now = store.stats();
        (now.head - before.head, now.get - before.get)
    }

    #[test]
    fn ranges_that_cover_most_of_a_shard_are_worth_reading_whole() {
        // Images a few bytes apart: one coalesced read of nearly everything.
        let dense: Vec<Range<u64>> = (0..100).map(|i| i * 1000..i * 1000 + 900).collect();
        assert!(worth_reading_whole(&dense));
        // A few images megabytes apart: each is its own small read.
        let sparse: Vec<Range<u64>> = (0..8)
            .map(|i| i * (8 << 20)..i * (8 << 20) + 1000)
            .collect();
        assert!(!worth_reading_whole(&sparse));
        // Far apart but large: most of the bytes are wanted anyway.
        let large: Vec<Range<u64>> = (0..4)
            .map(|i| i * (3 << 20)..i * (3 << 20) + (2 << 20))
            .collect();
        assert!(worth_reading_whole(&large));
        assert!(!worth_reading_whole(&[]));
        let empty = std::iter::once(5..5).collect::<Vec<_>>();
        assert!(!worth_reading_whole(&empty));
    }

    #[tokio::test]
    async fn a_shard_is_read_in_parts_once_and_again_when_it_changes() {
        let store = memory();
        let cache = ShardCache::default();
        let bytes: Bytes = (0..(PART * 2 + 123)).map(|i| (i % 251) as u8).collect();
        store.put("s/shard", bytes.clone()).await.unwrap();

        let before = store.stats();
        let (a, b) = tokio::join!(
            cache.whole(&store, "s/shard", 1 << 30, 4),
            cache.whole(&store, "s/shard", 1 << 30, 4)
        );
        assert_eq!(a.unwrap(), bytes);
        assert_eq!(b.unwrap(), bytes);
        // Two HEADs, and three parts read once between both calls.
        assert_eq!(requests_since(&store, &before), (2, 3));
        assert_eq!(cache.kept(), bytes.len() as u64);

        // The same object again: one HEAD, nothing read.
        let before = store.stats();
        assert_eq!(
            cache.whole(&store, "s/shard", 1 << 30, 4).await.unwrap(),
            bytes
        );
        assert_eq!(requests_since(&store, &before), (1, 0));

        // A shortened shard is a new version: read again, never the old bytes.
        store.put("s/shard", bytes.slice(..1000)).await.unwrap();
        assert_eq!(
            cache.whole(&store, "s/shard", 1 << 30, 4).await.unwrap(),
            bytes.slice(..1000)
        );
        assert_eq!(cache.kept(), 1000);
    }

    #[tokio::test]
    async fn the_budget_gives_up_the_oldest_shards_and_never_keeps_one_too_large() {
        let store = memory();
        let cache = ShardCache::default();
        for name in ["a", "b", "c"] {
            store.put(name, Bytes::from(vec![1u8; 600])).await.unwrap();
        }
        cache.whole(&store, "a", 1000, 4).await.unwrap();
        assert_eq!(cache.kept(), 600);
        cache.whole(&store, "b", 1000, 4).await.unwrap();
        assert_eq!(cache.kept(), 600, "a went to make room for b");
        // Too large for the budget: read, handed over, not kept, and b stays.
        assert_eq!(cache.whole(&store, "c", 500, 4).await.unwrap().len(), 600);
        assert_eq!(cache.kept(), 600);
        let before = store.stats();
        cache.whole(&store, "b", 1000, 4).await.unwrap();
        assert_eq!(requests_since(&store, &before), (1, 0));
    }

    #[tokio::test]
    async fn a_missing_shard_is_not_found_and_not_kept() {
        let store = memory();
        let cache = ShardCache::default();
        let err = cache.whole(&store, "gone", 1 << 20, 4).await.unwrap_err();
        assert!(
            matches!(err, mltrain_store::Error::NotFound { .. }),
            "{err:?}"
        );
        assert_eq!(cache.kept(), 0);
    }
}
