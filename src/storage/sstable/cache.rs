//! Byte-bounded LRU cache of decoded data blocks, shared by the tables of one
//! shard (thread-per-core: `Rc`/`RefCell`, no locks).
//!
//! Keyed by (table id, block offset). Holds `Rc<Block>`, so a block evicted
//! while an iterator still uses it stays alive until the iterator drops it;
//! only the cache's accounting forgets it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;

use lru::LruCache;
use rustc_hash::FxBuildHasher;

use super::block::Block;

/// Bytes charged per cached block on top of its contents: the LRU node, the
/// `Rc` header and the `Block` itself with its restart prefixes (a 4 KiB data
/// block has a few restarts), roughly.
pub const BLOCK_OVERHEAD: usize = 96;

type Key = (u64, u64);

struct Inner {
    lru: LruCache<Key, Rc<Block>, FxBuildHasher>,
    /// The same keys, ordered, so `remove_table` is a range scan rather than
    /// a walk over the whole cache.
    by_table: BTreeSet<Key>,
    bytes: usize,
}

pub struct BlockCache {
    capacity: usize,
    inner: RefCell<Inner>,
    hits: Cell<u64>,
    misses: Cell<u64>,
}

fn charge(block: &Block) -> usize {
    block.size() + BLOCK_OVERHEAD
}

impl BlockCache {
    pub fn new(capacity_bytes: usize) -> Self {
        BlockCache {
            capacity: capacity_bytes,
            inner: RefCell::new(Inner {
                lru: LruCache::unbounded_with_hasher(FxBuildHasher),
                by_table: BTreeSet::new(),
                bytes: 0,
            }),
            hits: Cell::new(0),
            misses: Cell::new(0),
        }
    }

    /// Look up a block, counting a hit or miss and marking it recently used.
    pub fn get(&self, table_id: u64, offset: u64) -> Option<Rc<Block>> {
        let found = self.get_cached(table_id, offset);
        if found.is_none() {
            self.misses.set(self.misses.get() + 1);
        }
        found
    }

    /// [`get`](Self::get) for a caller that will fall back to `get` on a
    /// miss: a hit counts and is marked recently used, a miss counts nothing
    /// (the fallback counts it).
    pub fn get_cached(&self, table_id: u64, offset: u64) -> Option<Rc<Block>> {
        let found = self.inner.borrow_mut().lru.get(&(table_id, offset)).cloned();
        if found.is_some() {
            self.hits.set(self.hits.get() + 1);
        }
        found
    }

    /// Look up without touching stats or recency (for scans, which should
    /// neither promote blocks nor distort the hit rate of point reads).
    pub fn peek(&self, table_id: u64, offset: u64) -> Option<Rc<Block>> {
        self.inner.borrow().lru.peek(&(table_id, offset)).cloned()
    }

    /// Insert (or replace) a block, then evict least recently used blocks
    /// until within capacity. A block larger than the whole cache is not kept.
    pub fn insert(&self, table_id: u64, offset: u64, block: Rc<Block>) {
        let c = charge(&block);
        if c > self.capacity {
            return;
        }
        let mut inner = self.inner.borrow_mut();
        let key = (table_id, offset);
        if let Some(old) = inner.lru.put(key, block) {
            inner.bytes -= charge(&old);
        }
        inner.by_table.insert(key);
        inner.bytes += c;
        while inner.bytes > self.capacity {
            let Some((k, old)) = inner.lru.pop_lru() else {
                break;
            };
            inner.by_table.remove(&k);
            inner.bytes -= charge(&old);
        }
    }

    /// Drop every block of a table (deleted after compaction, or closed).
    pub fn remove_table(&self, table_id: u64) {
        let mut inner = self.inner.borrow_mut();
        let keys: Vec<Key> = inner.by_table.range((table_id, 0)..=(table_id, u64::MAX)).copied().collect();
        for k in keys {
            inner.by_table.remove(&k);
            if let Some(old) = inner.lru.pop(&k) {
                inner.bytes -= charge(&old);
            }
        }
    }

    /// Whether blocks of `bytes` in all would fit beside what the cache
    /// holds of tables other than `replaced` (which are about to go).
    pub fn has_room(&self, bytes: u64, replaced: &[u64]) -> bool {
        let inner = self.inner.borrow();
        let freed: usize = replaced
            .iter()
            .flat_map(|&t| inner.by_table.range((t, 0)..=(t, u64::MAX)))
            .filter_map(|k| inner.lru.peek(k))
            .map(|b| charge(b))
            .sum();
        let kept = inner.bytes.saturating_sub(freed) as u64;
        kept.saturating_add(bytes) <= self.capacity as u64
    }

    /// (hits, misses, bytes currently charged).
    pub fn stats(&self) -> (u64, u64, usize) {
        (self.hits.get(), self.misses.get(), self.inner.borrow().bytes)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A valid block of `len` bytes (4, or at least 19): one entry of zeros
    /// (empty key and value, seq 0) padded with zeros.
    fn block(len: usize) -> Rc<Block> {
        let mut v = vec![0u8; len.max(4)];
        let n = v.len();
        v[n - 4..].copy_from_slice(&0u32.to_le_bytes());
        // Entries region must be empty for 0 restarts, so use one restart at 0
        // when len > 4: its entry must decode (3 length bytes and a seq).
        if n > 8 {
            v[n - 8..n - 4].copy_from_slice(&0u32.to_le_bytes());
            v[n - 4..].copy_from_slice(&1u32.to_le_bytes());
        }
        Rc::new(Block::decode(v).unwrap())
    }

    #[test]
    fn capacity_respected_and_lru_evicted() {
        let per = 1000 + BLOCK_OVERHEAD;
        let cache = BlockCache::new(per * 3);
        for off in 0..3 {
            cache.insert(1, off, block(1000));
        }
        assert_eq!(cache.stats().2, per * 3);
        assert!(cache.get(1, 0).is_some()); // 0 is now most recent; 1 is LRU
        cache.insert(1, 3, block(1000));
        assert!(cache.stats().2 <= per * 3);
        assert!(cache.peek(1, 1).is_none(), "LRU block evicted");
        assert!(cache.peek(1, 0).is_some() && cache.peek(1, 2).is_some() && cache.peek(1, 3).is_some());
    }

    #[test]
    fn hits_and_misses_counted() {
        let cache = BlockCache::new(1 << 20);
        assert!(cache.get(1, 0).is_none());
        cache.insert(1, 0, block(100));
        assert!(cache.get(1, 0).is_some());
        assert!(cache.get(1, 0).is_some());
        assert!(cache.peek(1, 0).is_some()); // not counted
        assert_eq!(cache.stats(), (2, 1, 100 + BLOCK_OVERHEAD));
        // A hit counts; a miss is left to the `get` that follows it.
        assert!(cache.get_cached(1, 0).is_some() && cache.get_cached(1, 9).is_none());
        assert_eq!(cache.stats(), (3, 1, 100 + BLOCK_OVERHEAD));
    }

    #[test]
    fn room_is_what_the_other_tables_leave() {
        let cache = BlockCache::new(1000);
        assert!(cache.has_room(1000, &[]) && !cache.has_room(1001, &[]));
        cache.insert(1, 0, block(100));
        cache.insert(2, 0, block(100));
        let per = (100 + BLOCK_OVERHEAD) as u64;
        assert!(cache.has_room(1000 - 2 * per, &[]) && !cache.has_room(1001 - 2 * per, &[]));
        assert!(cache.has_room(1000 - per, &[2]) && !cache.has_room(1001 - per, &[2, 3]));
        assert!(cache.has_room(1000, &[1, 2]));
    }

    #[test]
    fn replace_and_oversized() {
        let cache = BlockCache::new(1000);
        cache.insert(1, 0, block(100));
        cache.insert(1, 0, block(200));
        assert_eq!(cache.stats().2, 200 + BLOCK_OVERHEAD);
        cache.insert(1, 8, block(5000));
        assert!(cache.peek(1, 8).is_none());
        assert_eq!(cache.stats().2, 200 + BLOCK_OVERHEAD);
    }

    #[test]
    fn remove_table_drops_only_that_table() {
        let cache = BlockCache::new(1 << 20);
        for t in 1..=3 {
            for off in [0, 4096, u64::MAX] {
                cache.insert(t, off, block(20));
            }
        }
        cache.remove_table(2);
        assert_eq!(cache.stats().2, 6 * (20 + BLOCK_OVERHEAD));
        assert!(cache.peek(2, 0).is_none() && cache.peek(2, u64::MAX).is_none());
        assert!(cache.peek(1, u64::MAX).is_some() && cache.peek(3, 0).is_some());
        cache.remove_table(2);
        cache.remove_table(1);
        cache.remove_table(3);
        assert_eq!(cache.stats().2, 0);
    }
}
