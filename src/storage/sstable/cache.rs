//! Byte-bounded cache of decoded data blocks, shared by the tables of one
//! shard (thread-per-core: `Rc`/`RefCell`, no locks).
//!
//! Keyed by (table id, block number). Holds `Rc<Block>`, so a block evicted
//! while an iterator still uses it stays alive until the iterator drops it;
//! only the cache's accounting forgets it.
//!
//! Eviction is CLOCK (second chance), an approximation of LRU: a hit only
//! sets the block's `used` flag, beside its key in the hash table's slot.
//! An LRU list (the `lru` crate, before) made every hit follow the table's
//! pointer to a list node, one cache miss more on each point read that
//! reaches a table (docs/benchmarks.md, seventeenth pass).

use std::cell::{Cell, RefCell};
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::rc::Rc;

use rustc_hash::{FxBuildHasher, FxHashMap};

use super::block::{Block, Entries};

/// Bytes charged per cached block on top of its contents: the table slot and
/// the clock's entry, the `Rc` header and the `Block` itself with its
/// restart prefixes (a 4 KiB data block has a few restarts), roughly.
pub const BLOCK_OVERHEAD: usize = 96;

type Key = (u64, u64);

struct Cached {
    block: Rc<Block>,
    /// The block's contents and where its entries end, beside the key: a
    /// lookup by [`BlockCache::with_entries`] reads them from here instead
    /// of from the `Block` (a cache miss of its own on a large data set).
    data: Rc<[u8]>,
    entries_end: u32,
    /// Read since the clock last passed it: it stays one more round.
    used: Cell<bool>,
}

impl Cached {
    fn new(block: Rc<Block>) -> Self {
        let (data, end) = block.shared_data();
        // Blocks are at most MAX_BLOCK_LEN (< 4 GiB) long.
        Cached { block, data, entries_end: u32::try_from(end).unwrap_or(u32::MAX), used: Cell::new(false) }
    }
}

struct Inner {
    map: HashMap<Key, Cached, FxBuildHasher>,
    /// The clock: every key in the map, in the order the hand meets them
    /// (from the front), plus keys removed since (skipped when met).
    clock: VecDeque<Key>,
    /// The same keys, ordered, so `remove_table` is a range scan rather than
    /// a walk over the whole cache.
    by_table: BTreeSet<Key>,
    /// Bytes charged, in all and per table (`has_room` weighs tables whole:
    /// summing their blocks took ~2 ms for 75k of them, on the shard).
    bytes: usize,
    table_bytes: FxHashMap<u64, usize>,
}

impl Inner {
    /// The cached keys of table `t`.
    fn keys_of(&self, t: u64) -> impl Iterator<Item = &Key> {
        self.by_table.range((t, 0)..=(t, u64::MAX))
    }

    fn charge(&mut self, table: u64, c: usize) {
        self.bytes += c;
        *self.table_bytes.entry(table).or_default() += c;
    }

    fn uncharge(&mut self, table: u64, c: usize) {
        self.bytes -= c;
        if let Entry::Occupied(mut e) = self.table_bytes.entry(table) {
            *e.get_mut() -= c;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }

    /// Drop `k`'s block, and what it was charged.
    fn forget(&mut self, k: &Key) {
        if let Some(old) = self.map.remove(k) {
            self.by_table.remove(k);
            self.uncharge(k.0, charge(&old.block));
        }
    }

    /// Evict one block: the first the hand meets that was not used since it
    /// last passed. False if the cache is empty.
    fn evict_one(&mut self) -> bool {
        while let Some(k) = self.clock.pop_front() {
            let Some(c) = self.map.get(&k) else { continue }; // removed since
            if c.used.replace(false) {
                self.clock.push_back(k);
                continue;
            }
            self.forget(&k);
            return true;
        }
        false
    }

    /// Drop the clock's entries for removed keys once they outnumber the
    /// live ones: a cache that never fills never moves its hand.
    fn trim_clock(&mut self) {
        if self.clock.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.clock.retain(|k| map.contains_key(k));
        }
    }
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
                map: HashMap::default(),
                clock: VecDeque::new(),
                by_table: BTreeSet::new(),
                bytes: 0,
                table_bytes: FxHashMap::default(),
            }),
            hits: Cell::new(0),
            misses: Cell::new(0),
        }
    }

    /// Look up a block, counting a hit or miss and marking it recently used.
    pub fn get(&self, table_id: u64, block: u64) -> Option<Rc<Block>> {
        let found = self.get_cached(table_id, block);
        if found.is_none() {
            self.misses.set(self.misses.get() + 1);
        }
        found
    }

    /// [`get`](Self::get) for a caller that will fall back to `get` on a
    /// miss: a hit counts and is marked recently used, a miss counts nothing
    /// (the fallback counts it).
    pub fn get_cached(&self, table_id: u64, block: u64) -> Option<Rc<Block>> {
        let inner = self.inner.borrow();
        self.hit(&inner, table_id, block).map(|c| c.block.clone())
    }

    /// [`get_cached`](Self::get_cached) for a lookup that needs only the
    /// block's entries (`Entries::find_from`): `f` runs on them in place.
    pub fn with_entries<R>(&self, table_id: u64, block: u64, f: impl FnOnce(Entries<'_>) -> R) -> Option<R> {
        let inner = self.inner.borrow();
        let c = self.hit(&inner, table_id, block)?;
        Some(f(Entries::new(&c.data, c.entries_end as usize)))
    }

    /// A point read's lookup: a hit is counted and marked used for the clock.
    fn hit<'a>(&self, inner: &'a Inner, table_id: u64, block: u64) -> Option<&'a Cached> {
        let c = inner.map.get(&(table_id, block))?;
        c.used.set(true);
        self.hits.set(self.hits.get() + 1);
        Some(c)
    }

    /// Look up without touching stats or recency (for scans, which should
    /// neither promote blocks nor distort the hit rate of point reads).
    pub fn peek(&self, table_id: u64, block: u64) -> Option<Rc<Block>> {
        self.inner.borrow().map.get(&(table_id, block)).map(|c| c.block.clone())
    }

    /// Insert (or replace) a block, then evict blocks the clock finds unused
    /// until within capacity. A block larger than the whole cache is not kept.
    pub fn insert(&self, table_id: u64, number: u64, block: Rc<Block>) {
        let c = charge(&block);
        if c > self.capacity {
            return;
        }
        let mut inner = self.inner.borrow_mut();
        let key = (table_id, number);
        match inner.map.insert(key, Cached::new(block)) {
            Some(old) => inner.uncharge(table_id, charge(&old.block)),
            None => {
                inner.clock.push_back(key);
                inner.by_table.insert(key);
            }
        }
        inner.charge(table_id, c);
        while inner.bytes > self.capacity && inner.evict_one() {}
        inner.trim_clock();
    }

    /// Drop every block of a table (deleted after compaction, or closed).
    pub fn remove_table(&self, table_id: u64) {
        let mut inner = self.inner.borrow_mut();
        let keys: Vec<Key> = inner.keys_of(table_id).copied().collect();
        for k in &keys {
            inner.forget(k);
        }
        inner.trim_clock();
    }

    /// Make the blocks of `tables` (about to go) the first the clock evicts,
    /// before any other block, whether used or not.
    pub fn evict_first(&self, tables: &[u64]) {
        let mut inner = self.inner.borrow_mut();
        let keys: Vec<Key> = tables.iter().flat_map(|&t| inner.keys_of(t).copied()).collect();
        for k in keys {
            if let Some(c) = inner.map.get(&k) {
                c.used.set(false);
                // Its older place in the clock stays, and is skipped once it is gone.
                inner.clock.push_front(k);
            }
        }
    }

    /// Whether blocks of `bytes` in all would fit beside what the cache
    /// holds of tables other than `replaced` (which are about to go).
    pub fn has_room(&self, bytes: u64, replaced: &[u64]) -> bool {
        let inner = self.inner.borrow();
        let freed: usize = replaced.iter().filter_map(|t| inner.table_bytes.get(t)).sum();
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
    fn capacity_respected_and_a_block_unused_since_evicted() {
        let per = 1000 + BLOCK_OVERHEAD;
        let cache = BlockCache::new(per * 3);
        for off in 0..3 {
            cache.insert(1, off, block(1000));
        }
        assert_eq!(cache.stats().2, per * 3);
        assert!(cache.get(1, 0).is_some()); // 0 is used: the clock passes it once
        cache.insert(1, 3, block(1000));
        assert!(cache.stats().2 <= per * 3);
        assert!(cache.peek(1, 1).is_none(), "the first block unused since evicted");
        assert!(cache.peek(1, 0).is_some() && cache.peek(1, 2).is_some() && cache.peek(1, 3).is_some());
    }

    #[test]
    fn the_clock_forgets_removed_tables() {
        // A cache that never fills never moves its hand: removed keys must
        // not pile up in the clock.
        let cache = BlockCache::new(1 << 30);
        for t in 0..1000 {
            cache.insert(t, 0, block(20));
            cache.insert(t, 4096, block(20));
            cache.remove_table(t);
        }
        cache.insert(5000, 0, block(20));
        let inner = cache.inner.borrow();
        assert_eq!(inner.map.len(), 1);
        assert!(inner.clock.len() <= 2 + 64 + 2, "{} clock entries", inner.clock.len());
    }

    #[test]
    fn blocks_marked_to_go_are_evicted_first() {
        let per = 100 + BLOCK_OVERHEAD;
        let cache = BlockCache::new(per * 4);
        for t in 1..=4 {
            cache.insert(t, 0, block(100));
        }
        assert!(cache.get(3, 0).is_some());
        cache.evict_first(&[3, 4]);
        cache.insert(5, 0, block(100));
        cache.insert(6, 0, block(100));
        // 3 was used and 4 is newer than 1 and 2: without the mark, 1 and 2 would go.
        assert!(cache.peek(3, 0).is_none() && cache.peek(4, 0).is_none());
        assert!((1..=2).chain(5..=6).all(|t| cache.peek(t, 0).is_some()));
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
        // Evicted and removed blocks leave their table's count.
        cache.insert(3, 0, block(100));
        cache.insert(3, 1, block(500)); // evicts 1's block: the oldest, unused
        assert!(cache.peek(1, 0).is_none());
        assert!(cache.has_room(1000 - per, &[3]) && !cache.has_room(1001 - per, &[1, 3]));
        cache.remove_table(3);
        assert!(cache.has_room(1000 - per, &[]) && cache.has_room(1000, &[2]));
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
