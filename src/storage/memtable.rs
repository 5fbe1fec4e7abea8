//! The memtable: recent writes, sorted in internal order, size-accounted.
//!
//! Single-threaded (one shard owns it). Entries are inserted when their batch
//! is appended to the WAL and become *visible* to readers only once the WAL has
//! them (see `Engine`): every lookup here takes a `visible` sequence bound.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::hash_map::Entry as HashSlot;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::ops::Bound;

use xxhash_rust::xxh3::xxh3_64;

use crate::storage::types::{cmp_internal, key_prefix, Entry, SeqNo, ValueKind};

/// Key of the map: user key, then sequence number descending.
///
/// The key bytes live in the memtable's [`Arena`] (or, for a search key, in
/// the caller's slice for the length of the call), so an entry costs no heap
/// allocation of its own. `prefix` holds the key's first 16 bytes as two
/// big-endian numbers (zero padded): most comparisons end there, inside the
/// B-tree node, without following the pointer. Server keys start with an
/// 8-byte ring token; keys of the db_bench kind (16 decimal digits) share
/// their first 8 bytes, which is why 16.
#[derive(Clone, Copy)]
struct InternalKey {
    prefix: (u64, u64),
    seq: SeqNo,
    ptr: *const u8,
    len: usize,
}

impl InternalKey {
    /// A key that borrows `key`: valid while `key` is (see the type's docs).
    fn borrowing(key: &[u8], seq: SeqNo) -> Self {
        InternalKey { prefix: prefix16(key), seq, ptr: key.as_ptr(), len: key.len() }
    }

    fn key(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is either arena memory, which lives as long
        // as the memtable and never moves (chunks are never grown), or a slice
        // borrowed for the duration of one lookup (`borrowing`).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// The first 16 bytes as two zero-padded big-endian numbers; like
/// `key_prefix`, they order like the keys whenever they differ.
fn prefix16(key: &[u8]) -> (u64, u64) {
    (key_prefix(key), key_prefix(key.get(8..).unwrap_or_default()))
}

impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match self.prefix.cmp(&other.prefix) {
            Ordering::Equal => cmp_internal(self.key(), self.seq, other.key(), other.seq),
            o => o,
        }
    }
}
impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for InternalKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for InternalKey {}

/// The value of an entry: its bytes follow the key's in the arena.
#[derive(Clone, Copy)]
struct Slot {
    kind: ValueKind,
    value_len: u32,
}

/// Append-only byte storage in chunks that never move.
#[derive(Default)]
struct Arena {
    chunks: Vec<Vec<u8>>,
}

const ARENA_CHUNK_BYTES: usize = 1 << 20;
/// Spare chunks kept per thread: about one 64 MiB memtable's worth.
const MAX_SPARE_CHUNKS: usize = 80;

thread_local! {
    /// Chunks of freed memtables, reused by the next ones on this thread (one
    /// shard per thread). Fresh memory costs a page fault and the kernel
    /// zeroing each page: 11% of the server's samples under SET before this.
    static SPARE_CHUNKS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

impl Arena {
    fn new_chunk(need: usize) -> Vec<u8> {
        if need <= ARENA_CHUNK_BYTES {
            if let Some(mut c) = SPARE_CHUNKS.with(|s| s.borrow_mut().pop()) {
                c.clear();
                return c;
            }
        }
        Vec::with_capacity(need.max(ARENA_CHUNK_BYTES))
    }

    /// Give every chunk back to the spare list (or to the allocator).
    fn release(&mut self) {
        SPARE_CHUNKS.with(|s| {
            let mut spare = s.borrow_mut();
            for c in self.chunks.drain(..) {
                if c.capacity() == ARENA_CHUNK_BYTES && spare.len() < MAX_SPARE_CHUNKS {
                    spare.push(c);
                }
            }
        });
    }

    /// Copy `a` then `b` next to each other; returns where `a` starts.
    fn put(&mut self, a: &[u8], b: &[u8]) -> *const u8 {
        let need = a.len() + b.len();
        let fits = self.chunks.last().is_some_and(|c| c.capacity() - c.len() >= need);
        if !fits {
            // A chunk is never grown past its capacity, so pointers into it stay valid.
            self.chunks.push(Self::new_chunk(need));
        }
        let c = self.chunks.last_mut().expect("a chunk was just ensured");
        let start = c.len();
        c.extend_from_slice(a);
        c.extend_from_slice(b);
        c[start..].as_ptr()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        self.release();
    }
}

/// Bytes charged per entry on top of key and value (its share of a B-tree node).
const ENTRY_OVERHEAD_BYTES: usize = 48;

#[derive(Default)]
pub struct Memtable {
    // Declared before `arena`: the map's keys point into it.
    map: RefCell<BTreeMap<InternalKey, Slot>>,
    /// The newest version of each key, by the key's 64-bit hash, so a point
    /// read needs no B-tree search (one probe, then the key bytes). Two keys
    /// that share a hash share a slot: the later insert takes it, and reads
    /// of the other key find a different key there and search the B-tree.
    /// An insert always takes its key's slot, so an empty slot proves the key
    /// is not in the memtable. Points into the arena, like `map`.
    newest: RefCell<HashMap<u64, Point, BuildHasherDefault<PrehashedKey>>>,
    arena: RefCell<Arena>,
    bytes: Cell<usize>,
    max_seq: Cell<SeqNo>,
    min_seq: Cell<SeqNo>,
}

/// A slot of `Memtable::newest`: where a version's key and value are.
#[derive(Clone, Copy)]
struct Point {
    ptr: *const u8,
    key_len: u32,
    value_len: u32,
    seq: SeqNo,
    kind: ValueKind,
}

/// Keys of `Memtable::newest` are xxh3 hashes already: use them as they are.
#[derive(Default)]
struct PrehashedKey(u64);

impl std::hash::Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the map's keys are u64).
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Bytes charged for a new slot of `Memtable::newest` (entry and table share).
const POINT_OVERHEAD_BYTES: usize = 40;

/// The key of `Memtable::newest`. Unit tests fold it into 64 values, so that
/// keys share slots often and the B-tree fallback is tested too.
fn point_hash(key: &[u8]) -> u64 {
    let h = xxh3_64(key);
    if cfg!(test) {
        h % 64
    } else {
        h
    }
}

fn point_key(p: &Point) -> &[u8] {
    // SAFETY: a `Point` is made from an arena entry, and the arena lives as
    // long as the memtable and never moves its bytes (see `InternalKey::key`).
    unsafe { std::slice::from_raw_parts(p.ptr, p.key_len as usize) }
}

/// The entry's key and value bytes.
fn entry_bytes<'a>(k: &'a InternalKey, slot: &Slot) -> (&'a [u8], &'a [u8]) {
    // SAFETY: `k` is a map entry, so its bytes are in the arena, which outlives
    // the map borrow `'a` comes from; the value follows the key (`Arena::put`).
    unsafe {
        let key = std::slice::from_raw_parts(k.ptr, k.len);
        let value = std::slice::from_raw_parts(k.ptr.add(k.len), slot.value_len as usize);
        (key, value)
    }
}

impl Memtable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        self.bytes.set(self.bytes.get() + key.len() + value.len() + ENTRY_OVERHEAD_BYTES);
        self.max_seq.set(self.max_seq.get().max(seq));
        if self.min_seq.get() == 0 || seq < self.min_seq.get() {
            self.min_seq.set(seq);
        }
        let value_len = u32::try_from(value.len()).expect("values are bounded far below 4 GiB");
        let ptr = self.arena.borrow_mut().put(key, value);
        let k = InternalKey { prefix: prefix16(key), seq, ptr, len: key.len() };
        self.map.borrow_mut().insert(k, Slot { kind, value_len });
        let key_len = u32::try_from(key.len()).expect("keys are bounded far below 4 GiB");
        let point = Point { ptr, key_len, value_len, seq, kind };
        match self.newest.borrow_mut().entry(point_hash(key)) {
            HashSlot::Vacant(v) => {
                v.insert(point);
                self.bytes.set(self.bytes.get() + POINT_OVERHEAD_BYTES);
            }
            // Versions arrive in sequence order; keep the newer one anyway.
            HashSlot::Occupied(mut o) if o.get().seq <= seq || point_key(o.get()) != key => {
                o.insert(point);
            }
            HashSlot::Occupied(_) => {}
        }
    }

    /// Newest version of `key` with seq <= `visible`.
    pub fn get(&self, key: &[u8], visible: SeqNo) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
        match self.newest.borrow().get(&point_hash(key)) {
            None => return None,
            Some(p) if p.seq <= visible && point_key(p) == key => {
                // SAFETY: as `point_key`; the value follows the key.
                let value = unsafe { std::slice::from_raw_parts(p.ptr.add(p.key_len as usize), p.value_len as usize) };
                return Some((p.seq, p.kind, value.to_vec()));
            }
            // Another key with the same hash, or a version too new to see.
            Some(_) => {}
        }
        let map = self.map.borrow();
        let probe = InternalKey::borrowing(key, visible);
        let (k, slot) = map.range(probe..).next()?;
        // Check the inline prefix first: a miss then touches no arena memory.
        if k.prefix != probe.prefix || k.len != key.len() {
            return None;
        }
        let (found, value) = entry_bytes(k, slot);
        (found == key).then(|| (k.seq, slot.kind, value.to_vec()))
    }

    /// The first entry after `after` (exclusive) or at/after `seek` (inclusive),
    /// skipping versions newer than `visible`. Re-seeks on every call so no
    /// borrow is held across awaits.
    pub fn next_entry(&self, pos: &Cursor, visible: SeqNo) -> Option<Entry> {
        let map = self.map.borrow();
        let lower = match pos {
            Cursor::Start => Bound::Unbounded,
            Cursor::AtOrAfter(key) => Bound::Included(InternalKey::borrowing(key, SeqNo::MAX)),
            Cursor::After(key, seq) => Bound::Excluded(InternalKey::borrowing(key, *seq)),
        };
        map.range((lower, Bound::Unbounded)).find(|(k, _)| k.seq <= visible).map(|(k, slot)| {
            let (key, value) = entry_bytes(k, slot);
            Entry { key: key.to_vec(), seq: k.seq, kind: slot.kind, value: value.to_vec() }
        })
    }

    /// Approximate memory used, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes.get()
    }
    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.borrow().is_empty()
    }
    pub fn max_seq(&self) -> SeqNo {
        self.max_seq.get()
    }

    /// Up to `max` entries in internal order after `after` (exclusive; None:
    /// from the start), for flushing a sealed memtable in slices so the shard
    /// can yield between them. Returns where to go on from (None: done).
    pub fn for_each_after(
        &self,
        after: Option<(Vec<u8>, SeqNo)>,
        max: usize,
        mut f: impl FnMut(&[u8], SeqNo, ValueKind, &[u8]),
    ) -> Option<(Vec<u8>, SeqNo)> {
        let map = self.map.borrow();
        let lower = match &after {
            None => Bound::Unbounded,
            Some((key, seq)) => Bound::Excluded(InternalKey::borrowing(key, *seq)),
        };
        let mut last = None;
        for (n, (k, slot)) in map.range((lower, Bound::Unbounded)).enumerate() {
            if n == max {
                return last.map(|(key, seq): (&[u8], SeqNo)| (key.to_vec(), seq));
            }
            let (key, value) = entry_bytes(k, slot);
            f(key, k.seq, slot.kind, value);
            last = Some((key, k.seq));
        }
        None
    }

    /// Free up to `n` entries (oldest keys first); true once empty. For
    /// releasing a flushed memtable in slices: dropping a 64 MiB B-tree at once
    /// stalls the shard for tens of milliseconds. Only for a memtable no reader
    /// can see any more.
    pub fn release_some(&self, n: usize) -> bool {
        let mut map = self.map.borrow_mut();
        for _ in 0..n {
            if map.pop_first().is_none() {
                break;
            }
        }
        // No reader can see this memtable any more: the point index can go at once.
        *self.newest.borrow_mut() = HashMap::default();
        if map.is_empty() {
            self.arena.borrow_mut().release();
        }
        map.is_empty()
    }
}

/// A position in a memtable scan.
#[derive(Clone, Debug)]
pub enum Cursor {
    Start,
    AtOrAfter(Vec<u8>),
    After(Vec<u8>, SeqNo),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_visible_version_wins() {
        let m = Memtable::new();
        m.insert(b"a", 1, ValueKind::Value, b"1");
        m.insert(b"a", 3, ValueKind::Value, b"3");
        m.insert(b"a", 5, ValueKind::Tombstone, b"");
        m.insert(b"b", 2, ValueKind::Value, b"b");
        assert_eq!(m.get(b"a", 10).map(|e| e.0), Some(5));
        assert_eq!(m.get(b"a", 4), Some((3, ValueKind::Value, b"3".to_vec())));
        assert_eq!(m.get(b"a", 0), None);
        assert_eq!(m.get(b"c", 10), None);
        assert_eq!(m.get(b"", 10), None);
        assert_eq!(m.max_seq(), 5);
    }

    #[test]
    fn cursor_walks_in_internal_order() {
        let m = Memtable::new();
        for (k, s) in [(b"a", 1), (b"a", 4), (b"b", 2), (b"c", 3)] {
            m.insert(k, s, ValueKind::Value, b"x");
        }
        let mut out = Vec::new();
        let mut cur = Cursor::Start;
        while let Some(e) = m.next_entry(&cur, 3) {
            out.push((e.key.clone(), e.seq));
            cur = Cursor::After(e.key, e.seq);
        }
        assert_eq!(out, vec![(b"a".to_vec(), 1), (b"b".to_vec(), 2), (b"c".to_vec(), 3)]);
        let e = m.next_entry(&Cursor::AtOrAfter(b"b".to_vec()), 10).unwrap();
        assert_eq!(e.key, b"b");
    }
}

#[cfg(test)]
mod slice_tests {
    use super::*;

    #[test]
    fn for_each_after_walks_in_slices_and_release_empties() {
        let m = Memtable::new();
        for i in 0..10u32 {
            m.insert(format!("k{i}").as_bytes(), u64::from(i) + 1, ValueKind::Value, b"v");
        }
        let mut seen = Vec::new();
        let mut pos = None;
        loop {
            pos = m.for_each_after(pos, 3, |k, _, _, _| seen.push(k.to_vec()));
            if pos.is_none() {
                break;
            }
        }
        assert_eq!(seen.len(), 10);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert!(!m.release_some(4));
        assert!(m.release_some(100));
        assert!(m.is_empty());
    }
}

#[cfg(test)]
mod prop_tests {
    use super::*;
    use proptest::prelude::*;

    // A run of zeros (0 to 17 bytes) then a short tail over a tiny alphabet:
    // keys that tie on the first 8 or 16 bytes, keys shorter than the inline
    // prefix, and keys that differ only by trailing zeros, which a zero-padded
    // prefix cannot tell apart on its own.
    fn key() -> impl Strategy<Value = Vec<u8>> {
        (0usize..18, prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xff]), 0..4)).prop_map(|(n, tail)| {
            let mut k = vec![0u8; n];
            k.extend(tail);
            k
        })
    }

    proptest! {
        #[test]
        fn matches_a_sorted_oracle(
            keys in prop::collection::vec(key(), 1..200),
            probes in prop::collection::vec(key(), 0..20),
            visible in 0u64..250,
        ) {
            let m = Memtable::new();
            let mut oracle = Vec::new();
            for (i, k) in keys.iter().enumerate() {
                let seq = i as u64 + 1;
                m.insert(k, seq, ValueKind::Value, &seq.to_le_bytes());
                oracle.push((k.clone(), seq));
            }
            oracle.sort_by(|a, b| cmp_internal(&a.0, a.1, &b.0, b.1));
            let mut walked = Vec::new();
            let mut pos = None;
            loop {
                pos = m.for_each_after(pos, 7, |k, seq, _, v| {
                    assert_eq!(v, seq.to_le_bytes());
                    walked.push((k.to_vec(), seq));
                });
                if pos.is_none() { break; }
            }
            prop_assert_eq!(&walked, &oracle);
            // Point reads, of present keys and of probes that may be absent
            // (test builds fold the point index into 64 slots: many collide).
            for k in keys.iter().chain(&probes) {
                let want = oracle.iter().find(|(ok, s)| ok == k && *s <= visible).map(|e| (e.1, e.1.to_le_bytes().to_vec()));
                prop_assert_eq!(m.get(k, visible).map(|e| (e.0, e.2)), want);
            }
            prop_assert!(m.release_some(usize::MAX) && m.is_empty());
        }
    }
}
