//! The memtable: recent writes, sorted in internal order, size-accounted.
//!
//! Single-threaded (one shard owns it). Entries are inserted when their batch
//! is appended to the WAL and become *visible* to readers only once the WAL has
//! them (see `Engine`): every lookup here takes a `visible` sequence bound.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;

use crate::storage::types::{cmp_internal, Entry, SeqNo, ValueKind};

/// Key of the map: user key, then sequence number descending.
#[derive(Clone, Debug, PartialEq, Eq)]
struct InternalKey {
    key: Vec<u8>,
    seq: SeqNo,
}

impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_internal(&self.key, self.seq, &other.key, other.seq)
    }
}
impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Bytes charged per entry on top of key and value (map node, Vec headers).
const ENTRY_OVERHEAD_BYTES: usize = 64;

#[derive(Default)]
pub struct Memtable {
    map: RefCell<BTreeMap<InternalKey, (ValueKind, Vec<u8>)>>,
    bytes: Cell<usize>,
    max_seq: Cell<SeqNo>,
    min_seq: Cell<SeqNo>,
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
        self.map.borrow_mut().insert(InternalKey { key: key.to_vec(), seq }, (kind, value.to_vec()));
    }

    /// Newest version of `key` with seq <= `visible`.
    pub fn get(&self, key: &[u8], visible: SeqNo) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
        let map = self.map.borrow();
        let from = InternalKey { key: key.to_vec(), seq: visible };
        let (k, (kind, v)) = map.range(from..).next()?;
        (k.key == key).then(|| (k.seq, *kind, v.clone()))
    }

    /// The first entry after `after` (exclusive) or at/after `seek` (inclusive),
    /// skipping versions newer than `visible`. Re-seeks on every call so no
    /// borrow is held across awaits.
    pub fn next_entry(&self, pos: &Cursor, visible: SeqNo) -> Option<Entry> {
        let map = self.map.borrow();
        let lower = match pos {
            Cursor::Start => Bound::Unbounded,
            Cursor::AtOrAfter(key) => Bound::Included(InternalKey { key: key.clone(), seq: SeqNo::MAX }),
            Cursor::After(key, seq) => Bound::Excluded(InternalKey { key: key.clone(), seq: *seq }),
        };
        map.range((lower, Bound::Unbounded)).find(|(k, _)| k.seq <= visible).map(|(k, (kind, v))| Entry {
            key: k.key.clone(),
            seq: k.seq,
            kind: *kind,
            value: v.clone(),
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
        let lower = match after {
            None => Bound::Unbounded,
            Some((key, seq)) => Bound::Excluded(InternalKey { key, seq }),
        };
        let mut last = None;
        for (n, (k, (kind, v))) in map.range((lower, Bound::Unbounded)).enumerate() {
            if n == max {
                return last;
            }
            f(&k.key, k.seq, *kind, v);
            last = Some((k.key.clone(), k.seq));
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
                return true;
            }
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
