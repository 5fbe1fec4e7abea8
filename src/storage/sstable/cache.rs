//! Byte-bounded cache of decoded data blocks, shared by the tables of one
//! shard (thread-per-core: `Rc`/`RefCell`, no locks).
//!
//! Keyed by (table id, block number): each table's blocks sit in a vector
//! indexed by block number, so a lookup reads one slot whose address is known
//! from the key alone (the table's vector is found in a small map that stays
//! in the CPU cache). A hash table keyed by the pair, before, read a control
//! group and then a bucket: two cache misses on a large data set.
//!
//! Holds `Rc<Block>`, so a block evicted while an iterator still uses it
//! stays alive until the iterator drops it; only the cache's accounting
//! forgets it.
//!
//! Eviction is CLOCK (second chance), an approximation of LRU: a hit only
//! sets the block's `used` flag, in its slot. An LRU list (the `lru` crate,
//! before) made every hit follow a pointer to a list node, one cache miss
//! more on each point read that reaches a table (docs/benchmarks.md,
//! seventeenth pass).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use rustc_hash::FxHashMap;

use super::block::{Block, Entries};

/// Bytes charged per cached block on top of its contents: its slot and the
/// clock's entry, the `Rc` header and the `Block` itself with its restart
/// prefixes (a 4 KiB data block has a few restarts), roughly.
pub const BLOCK_OVERHEAD: usize = 96;

/// Blocks numbered this high or higher are not cached (a table's slots are
/// a vector as long as its highest cached block number). Tables with a hash
/// index have fewer blocks than this by format (24-bit block numbers).
pub const MAX_CACHED_BLOCK: u64 = 1 << 24;

type Key = (u64, u64);

struct Cached {
    block: Rc<Block>,
    /// The block's contents and where its entries end, beside the `used`
    /// flag: a lookup by [`BlockCache::with_entries`] reads them from here
    /// instead of from the `Block` (a cache miss of its own on a large data
    /// set).
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

/// One table's cached blocks.
#[derive(Default)]
struct TableBlocks {
    /// By block number.
    slots: Vec<Option<Cached>>,
    /// Blocks held, and bytes charged for them.
    count: usize,
    bytes: usize,
}

struct Inner {
    tables: FxHashMap<u64, TableBlocks>,
    /// The clock: every cached key, in the order the hand meets them (from
    /// the front), plus keys removed since (skipped when met).
    clock: VecDeque<Key>,
    /// Blocks held, and bytes charged, in all.
    count: usize,
    bytes: usize,
}

impl Inner {
    fn get(&self, (t, n): Key) -> Option<&Cached> {
        self.tables.get(&t)?.slots.get(usize::try_from(n).ok()?)?.as_ref()
    }

    /// The cached keys of table `t`.
    fn keys_of(&self, t: u64) -> Vec<Key> {
        let Some(tb) = self.tables.get(&t) else { return Vec::new() };
        tb.slots.iter().enumerate().filter(|(_, c)| c.is_some()).map(|(n, _)| (t, n as u64)).collect()
    }

    /// Put `block` in `k`'s slot (`k.1` < [`MAX_CACHED_BLOCK`]); the block it replaces, if any.
    fn put(&mut self, k: Key, block: Rc<Block>) -> Option<Cached> {
        let c = charge(&block);
        let n = k.1 as usize;
        let tb = self.tables.entry(k.0).or_default();
        if tb.slots.len() <= n {
            tb.slots.resize_with(n + 1, || None);
        }
        let old = tb.slots.get_mut(n).and_then(|slot| slot.replace(Cached::new(block)));
        let freed = old.as_ref().map_or(0, |o| charge(&o.block));
        tb.bytes = tb.bytes + c - freed;
        self.bytes = self.bytes + c - freed;
        if old.is_none() {
            tb.count += 1;
            self.count += 1;
        }
        old
    }

    /// Drop `k`'s block, and what it was charged.
    fn forget(&mut self, (t, n): Key) {
        let Some(tb) = self.tables.get_mut(&t) else { return };
        let Some(old) = usize::try_from(n).ok().and_then(|n| tb.slots.get_mut(n)).and_then(Option::take) else {
            return;
        };
        let c = charge(&old.block);
        tb.bytes -= c;
        tb.count -= 1;
        self.bytes -= c;
        self.count -= 1;
        if tb.count == 0 {
            self.tables.remove(&t);
        }
    }

    /// Evict one block: the first the hand meets that was not used since it
    /// last passed. False if the cache is empty.
    fn evict_one(&mut self) -> bool {
        while let Some(k) = self.clock.pop_front() {
            let Some(c) = self.get(k) else { continue }; // removed since
            if c.used.replace(false) {
                self.clock.push_back(k);
                continue;
            }
            self.forget(k);
            return true;
        }
        false
    }

    /// Drop the clock's entries for removed keys once they outnumber the
    /// live ones: a cache that never fills never moves its hand.
    fn trim_clock(&mut self) {
        if self.clock.len() > 2 * self.count + 64 {
            let mut clock = std::mem::take(&mut self.clock);
            clock.retain(|&k| self.get(k).is_some());
            self.clock = clock;
        }
    }
}

pub struct BlockCache {
    capacity: usize,
    /// Bytes of table images lent to tables for their blocks' first reads
    /// (`Table::keep_image`), charged to this cache: blocks get the rest.
    lent: Cell<usize>,
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
            lent: Cell::new(0),
            inner: RefCell::new(Inner { tables: FxHashMap::default(), clock: VecDeque::new(), count: 0, bytes: 0 }),
            hits: Cell::new(0),
            misses: Cell::new(0),
        }
    }

    /// Look up a block, counting a hit or miss and marking it recently used.
    pub fn get(&self, table_id: u64, block: u64) -> Option<Rc<Block>> {
        let found = self.get_cached(table_id, block);
        if found.is_none() {
            self.count_miss();
        }
        found
    }

    /// Count a miss that a caller of [`get_cached`](Self::get_cached)
    /// served itself (from a table's kept image).
    pub fn count_miss(&self) {
        self.misses.set(self.misses.get() + 1);
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
        let c = inner.get((table_id, block))?;
        c.used.set(true);
        self.hits.set(self.hits.get() + 1);
        Some(c)
    }

    /// Look up without touching stats or recency (for scans, which should
    /// neither promote blocks nor distort the hit rate of point reads).
    pub fn peek(&self, table_id: u64, block: u64) -> Option<Rc<Block>> {
        self.inner.borrow().get((table_id, block)).map(|c| c.block.clone())
    }

    /// Insert (or replace) a block, then evict blocks the clock finds unused
    /// until within capacity. A block larger than the whole cache, or
    /// numbered [`MAX_CACHED_BLOCK`] or higher, is not kept.
    pub fn insert(&self, table_id: u64, number: u64, block: Rc<Block>) {
        if charge(&block) > self.capacity || number >= MAX_CACHED_BLOCK {
            return;
        }
        let mut inner = self.inner.borrow_mut();
        let key = (table_id, number);
        if inner.put(key, block).is_none() {
            inner.clock.push_back(key);
        }
        self.evict_to_room(&mut inner);
    }

    /// Evict blocks the clock finds unused until they fit the room.
    fn evict_to_room(&self, inner: &mut Inner) {
        while inner.bytes > self.room() && inner.evict_one() {}
        inner.trim_clock();
    }

    /// What blocks may take: the capacity less the images lent.
    fn room(&self) -> usize {
        self.capacity.saturating_sub(self.lent.get())
    }

    /// Charge a table image of `bytes` lent to its table, evicting blocks
    /// to make room; false (nothing charged) if the images lent would then
    /// take more than half the capacity.
    pub fn charge_image(&self, bytes: usize) -> bool {
        let lent = self.lent.get().saturating_add(bytes);
        if lent > self.capacity / 2 {
            return false;
        }
        self.lent.set(lent);
        self.evict_to_room(&mut self.inner.borrow_mut());
        true
    }

    /// A lent image of `bytes` was taken back.
    pub fn release_image(&self, bytes: usize) {
        self.lent.set(self.lent.get().saturating_sub(bytes));
    }

    /// Bytes of table images lent ([`charge_image`](Self::charge_image)).
    pub fn lent_bytes(&self) -> usize {
        self.lent.get()
    }

    /// Drop every block of a table (deleted after compaction, or closed).
    pub fn remove_table(&self, table_id: u64) {
        let mut inner = self.inner.borrow_mut();
        for k in inner.keys_of(table_id) {
            inner.forget(k);
        }
        inner.trim_clock();
    }

    /// Make the blocks of `tables` (about to go) the first the clock evicts,
    /// before any other block, whether used or not.
    pub fn evict_first(&self, tables: &[u64]) {
        let mut inner = self.inner.borrow_mut();
        let keys: Vec<Key> = tables.iter().flat_map(|&t| inner.keys_of(t)).collect();
        for k in keys {
            if let Some(c) = inner.get(k) {
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
        let freed: usize = replaced.iter().filter_map(|t| inner.tables.get(t)).map(|tb| tb.bytes).sum();
        let kept = inner.bytes.saturating_sub(freed) as u64;
        kept.saturating_add(bytes) <= self.room() as u64
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
        assert_eq!((inner.count, inner.tables.len()), (1, 1), "removed tables leave nothing behind");
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
    fn lent_images_are_charged_and_leave_blocks_the_rest() {
        let per = 1000 + BLOCK_OVERHEAD;
        let cache = BlockCache::new(per * 8);
        for off in 0..8 {
            cache.insert(1, off, block(1000));
        }
        assert!(!cache.charge_image(per * 4 + 1), "more than half the capacity");
        assert_eq!((cache.lent_bytes(), cache.stats().2), (0, per * 8), "nothing charged, nothing evicted");
        assert!(cache.charge_image(per * 3));
        assert!(cache.stats().2 <= per * 5, "blocks evicted to make room");
        assert!(!cache.charge_image(per * 2), "two lent images past half");
        assert!(!cache.has_room(per as u64 * 5 + 1, &[]));
        for off in 8..16 {
            cache.insert(1, off, block(1000));
        }
        assert!(cache.stats().2 <= per * 5);
        cache.release_image(per * 3);
        assert_eq!(cache.lent_bytes(), 0);
        for off in 16..24 {
            cache.insert(1, off, block(1000));
        }
        assert_eq!(cache.stats().2, per * 8, "the whole capacity again");
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
        // Numbered past what a table's slots may grow to: not kept either.
        cache.insert(1, MAX_CACHED_BLOCK, block(100));
        cache.insert(1, u64::MAX, block(100));
        assert!(cache.peek(1, MAX_CACHED_BLOCK).is_none() && cache.peek(1, u64::MAX).is_none());
        assert_eq!(cache.stats().2, 200 + BLOCK_OVERHEAD);
    }

    #[test]
    fn remove_table_drops_only_that_table() {
        let cache = BlockCache::new(1 << 20);
        for t in 1..=3 {
            for n in [0, 4096, 100_000 - t] {
                cache.insert(t, n, block(20));
            }
        }
        cache.remove_table(2);
        assert_eq!(cache.stats().2, 6 * (20 + BLOCK_OVERHEAD));
        assert!(cache.peek(2, 0).is_none() && cache.peek(2, 100_000 - 2).is_none());
        assert!(cache.peek(1, 100_000 - 1).is_some() && cache.peek(3, 0).is_some());
        cache.remove_table(2);
        cache.remove_table(1);
        cache.remove_table(3);
        assert_eq!(cache.stats().2, 0);
    }
}
