//! A decoded block (data or index) and its iterator.
//!
//! A [`Block`] owns its contents and is decoded once (restart array checked)
//! and then shared through the cache as `Rc<Block>`. Lookups compare slices of
//! the block directly: [`Block::find_first_ge`] never materialises a key, so a
//! point lookup allocates nothing. Every read of an entry is bounds-checked:
//! a block with a good checksum but bad structure yields `DecodeError`.

use std::cmp::Ordering;
use std::ops::Range;
use std::rc::Rc;

use super::block_builder::common_prefix;
use super::format::MAX_BLOCK_LEN;
use crate::storage::codec::Reader;
use crate::storage::error::DecodeError;
use crate::storage::types::{key_prefix, prefetch, unpack_seq_kind, SeqNo, ValueKind};

#[derive(Debug)]
pub struct Block {
    /// Shared with the block cache's slot, which hands out the entries
    /// without touching the `Block` (`BlockCache::with_entries`).
    data: Rc<[u8]>,
    /// Start of the restart array = end of the entries.
    restarts_off: usize,
    num_restarts: usize,
    /// `key_prefix` of each restart key past the bytes all restart keys
    /// share (`common`), so the binary search over restarts compares
    /// integers in one array and decodes an entry only on a tie (an index
    /// block has one restart per data block: thousands in a table). Past the
    /// shared bytes, so that keys with a long common start (db_bench's
    /// decimal keys) still differ in them.
    restart_prefixes: Vec<u64>,
    /// Where in `data` the bytes every restart key starts with are (the first
    /// restart key's first bytes).
    common: Range<usize>,
}

/// One entry parsed in place.
struct RawEntry<'a> {
    shared: usize,
    suffix: &'a [u8],
    seq_kind: u64,
    value: &'a [u8],
    /// Offset of the following entry.
    next: usize,
}

/// The result of [`Block::find_first_ge`]: the first entry whose user key is
/// >= the target, and whether it is equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<'a> {
    pub key_eq: bool,
    pub seq: SeqNo,
    pub kind: ValueKind,
    pub value: &'a [u8],
}

fn to_usize(v: u64) -> Result<usize, DecodeError> {
    usize::try_from(v).map_err(|_| DecodeError::TooLarge { len: v, limit: MAX_BLOCK_LEN })
}

impl Block {
    /// Check the restart array; entries are checked lazily as they are read.
    /// The contents are copied once, into the block's shared allocation.
    pub fn decode(data: impl AsRef<[u8]>) -> Result<Self, DecodeError> {
        let data: Rc<[u8]> = Rc::from(data.as_ref());
        if data.len() as u64 > MAX_BLOCK_LEN {
            return Err(DecodeError::TooLarge { len: data.len() as u64, limit: MAX_BLOCK_LEN });
        }
        let len = data.len();
        let count_off = len.checked_sub(4).ok_or(DecodeError::Truncated { needed: 4, had: len })?;
        let n = Reader::new(data.get(count_off..).unwrap_or_default()).u32()? as usize;
        let restarts_off = n
            .checked_mul(4)
            .and_then(|b| count_off.checked_sub(b))
            .ok_or(DecodeError::Invalid("restart count exceeds block"))?;
        let mut block = Block { data, restarts_off, num_restarts: n, restart_prefixes: Vec::new(), common: 0..0 };
        block.check_restarts()?;
        if n > 0 {
            // Restart keys ascend, so what the first and last share, all do.
            let (first, last) = (block.restart_key(0)?, block.restart_key(n - 1)?);
            let len = common_prefix(first, last);
            let start = first.as_ptr() as usize - block.data.as_ptr() as usize;
            block.common = start..start + len;
            block.restart_prefixes = (0..n)
                .map(|i| block.restart_key(i).map(|k| key_prefix(k.get(len..).unwrap_or_default())))
                .collect::<Result<_, _>>()?;
        }
        Ok(block)
    }

    /// Restarts strictly increasing, inside the entries, the first at 0;
    /// a non-empty block needs at least one.
    fn check_restarts(&self) -> Result<(), DecodeError> {
        if self.num_restarts == 0 && self.restarts_off != 0 {
            return Err(DecodeError::Invalid("entries without restart points"));
        }
        let mut prev: Option<usize> = None;
        for i in 0..self.num_restarts {
            let r = self.restart(i)?;
            let ok = match prev {
                None => r == 0,
                Some(p) => r > p,
            };
            if !ok || r >= self.restarts_off {
                return Err(DecodeError::Invalid("bad restart offset"));
            }
            prev = Some(r);
        }
        Ok(())
    }

    fn restart(&self, i: usize) -> Result<usize, DecodeError> {
        let at = i.checked_mul(4).and_then(|o| o.checked_add(self.restarts_off));
        let b = at.and_then(|a| self.data.get(a..)).ok_or(DecodeError::Invalid("restart index"))?;
        Ok(Reader::new(b).u32()? as usize)
    }

    /// Bytes this block holds (for cache accounting).
    pub fn size(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.restarts_off == 0
    }

    /// The block's contents (shared) and where its entries end.
    pub fn shared_data(&self) -> (Rc<[u8]>, usize) {
        (self.data.clone(), self.restarts_off)
    }

    fn entries(&self) -> Entries<'_> {
        Entries::new(&self.data, self.restarts_off)
    }

    fn entry_at(&self, off: usize) -> Result<RawEntry<'_>, DecodeError> {
        self.entries().entry_at(off)
    }

    /// The key stored at restart point `i` (whole, since shared must be 0).
    fn restart_key(&self, i: usize) -> Result<&[u8], DecodeError> {
        let e = self.entry_at(self.restart(i)?)?;
        if e.shared != 0 {
            return Err(DecodeError::Invalid("restart entry with shared prefix"));
        }
        Ok(e.suffix)
    }

    /// Offset of the last restart whose key is < `target` (or of the first).
    fn seek_restart(&self, target: &[u8]) -> Result<usize, DecodeError> {
        if self.num_restarts == 0 {
            return Ok(0);
        }
        self.restart(self.seek_restart_index(target)?)
    }

    /// Index of the last restart whose key is < `target` (or 0).
    fn seek_restart_index(&self, target: &[u8]) -> Result<usize, DecodeError> {
        let common = self.data.get(self.common.clone()).unwrap_or_default();
        match target.get(..common.len()).unwrap_or(target).cmp(common) {
            // Every restart key is > target, or every one < target.
            Ordering::Less => return Ok(0),
            Ordering::Greater => return Ok(self.num_restarts.saturating_sub(1)),
            Ordering::Equal => {}
        }
        let tp = key_prefix(target.get(common.len()..).unwrap_or_default());
        let (mut lo, mut hi) = (0, self.num_restarts);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let less = match self.restart_prefixes.get(mid).map(|p| p.cmp(&tp)) {
                Some(Ordering::Less) => true,
                Some(Ordering::Greater) => false,
                _ => self.restart_key(mid)? < target,
            };
            if less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo.saturating_sub(1))
    }

    /// The number of the first restart whose key is >= `target`, or the
    /// number of restarts if none is: in an index block, which has a restart
    /// at every entry, the number of the first data block that may hold it.
    pub fn first_restart_ge(&self, target: &[u8]) -> Result<usize, DecodeError> {
        if self.num_restarts == 0 {
            return Ok(0);
        }
        let i = self.seek_restart_index(target)?;
        Ok(if self.restart_key(i)? < target { i + 1 } else { i })
    }

    /// The first entry whose user key is >= `target`, found without building
    /// any key: we track how much of `target` the current key matches (`m`).
    /// An entry sharing more than `m` bytes with its predecessor orders like
    /// it (still < target); otherwise only its suffix needs comparing.
    pub fn find_first_ge(&self, target: &[u8]) -> Result<Option<Found<'_>>, DecodeError> {
        if self.num_restarts == 0 {
            return Ok(None);
        }
        let i = self.seek_restart_index(target)?;
        let off = self.restart(i)?;
        let run_end = if i + 1 < self.num_restarts { self.restart(i + 1)? + 64 } else { self.restarts_off };
        self.entries().scan(off, run_end, target)
    }

    /// [`find_first_ge`](Self::find_first_ge) from the restart entry at
    /// `restart`: see [`Entries::find_from`].
    pub fn find_from(&self, restart: usize, target: &[u8]) -> Result<Option<Found<'_>>, DecodeError> {
        self.entries().find_from(restart, target)
    }
}

/// A block's entries (the bytes before its restart array), for a lookup
/// that knows the restart entry to start from (a table's hash index does):
/// the block cache hands them out from its own slot, so such a lookup never
/// touches the [`Block`] (one cache miss fewer).
#[derive(Clone, Copy)]
pub struct Entries<'a>(&'a [u8]);

impl<'a> Entries<'a> {
    /// The entries of a block whose contents are `data` and whose restart
    /// array starts at `end`.
    pub fn new(data: &'a [u8], end: usize) -> Self {
        Entries(data.get(..end).unwrap_or_default())
    }

    fn entry_at(self, off: usize) -> Result<RawEntry<'a>, DecodeError> {
        let rest = self.0.get(off..).ok_or(DecodeError::Invalid("entry offset"))?;
        let mut r = Reader::new(rest);
        let (shared, unshared, value_len) = match rest.get(..3) {
            // Fast path: all three lengths < 128, one byte each (small entries).
            Some(&[a, b, c]) if (a | b | c) < 0x80 => {
                r.bytes(3)?;
                (usize::from(a), usize::from(b), usize::from(c))
            }
            _ => (to_usize(r.varint()?)?, to_usize(r.varint()?)?, to_usize(r.varint()?)?),
        };
        let suffix = r.bytes(unshared)?;
        let seq_kind = r.u64()?;
        let value = r.bytes(value_len)?;
        Ok(RawEntry { shared, suffix, seq_kind, value, next: off + r.pos() })
    }

    /// [`Block::find_first_ge`] from the restart entry at `restart`: scans
    /// at most to the end. An offset that is not a restart entry's is an
    /// error or a miss, never a wrong hit.
    pub fn find_from(self, restart: usize, target: &[u8]) -> Result<Option<Found<'a>>, DecodeError> {
        // Restart runs of small entries take a few lines; more are fetched
        // as the scan goes.
        self.scan(restart, restart + 512, target)
    }

    /// The scan of `find_first_ge` from the entry at `off` (a restart entry,
    /// so its `shared` must be 0), past every key < `target`.
    fn scan(self, mut off: usize, run_end: usize, target: &[u8]) -> Result<Option<Found<'a>>, DecodeError> {
        let end = self.0.len();
        // The scan reads entries one after another, each offset found in the
        // last: ask for every line up to the next restart's entry (at most
        // 4 KiB) at once, so that its cache misses overlap instead of
        // following each other.
        for line in (off..run_end.min(end).min(off + 4096)).step_by(64) {
            prefetch(self.0.as_ptr().wrapping_add(line));
        }
        let (mut m, mut prev_len) = (0usize, 0usize);
        while off < end {
            let e = self.entry_at(off)?;
            if e.shared > prev_len {
                return Err(DecodeError::Invalid("shared prefix longer than previous key"));
            }
            prev_len = e.shared + e.suffix.len();
            off = e.next;
            if e.shared > m {
                continue; // differs from target where its predecessor did: still less
            }
            let rest = target.get(e.shared..).unwrap_or_default();
            m = e.shared + common_prefix(e.suffix, rest);
            let ord = e.suffix.cmp(rest);
            if ord != Ordering::Less {
                let (seq, kind) = unpack_seq_kind(e.seq_kind)?;
                return Ok(Some(Found { key_eq: ord == Ordering::Equal, seq, kind, value: e.value }));
            }
        }
        Ok(None)
    }
}

/// A cursor over a block's entries, materialising each key in a reused buffer.
/// After a successful `seek*`/`next`, either `valid()` and the accessors
/// describe the current entry, or the cursor is past the end.
pub struct BlockIter {
    block: Rc<Block>,
    key: Vec<u8>,
    seq: SeqNo,
    kind: ValueKind,
    value: Range<usize>,
    valid: bool,
    /// Offset of the entry after the current one.
    next_off: usize,
}

impl BlockIter {
    pub fn new(block: Rc<Block>) -> Self {
        BlockIter { block, key: Vec::new(), seq: 0, kind: ValueKind::Value, value: 0..0, valid: false, next_off: 0 }
    }

    pub fn valid(&self) -> bool {
        self.valid
    }
    pub fn key(&self) -> &[u8] {
        &self.key
    }
    pub fn seq(&self) -> SeqNo {
        self.seq
    }
    pub fn kind(&self) -> ValueKind {
        self.kind
    }
    pub fn value(&self) -> &[u8] {
        self.block.entries().0.get(self.value.clone()).unwrap_or_default()
    }

    pub fn seek_to_first(&mut self) -> Result<(), DecodeError> {
        self.key.clear();
        self.next_off = 0;
        self.advance()
    }

    /// Position at the first entry whose user key is >= `target`.
    pub fn seek(&mut self, target: &[u8]) -> Result<(), DecodeError> {
        self.next_off = self.block.seek_restart(target)?;
        self.key.clear();
        loop {
            self.advance()?;
            if !self.valid || self.key.as_slice() >= target {
                return Ok(());
            }
        }
    }

    /// Move to the following entry (or past the end).
    pub fn advance(&mut self) -> Result<(), DecodeError> {
        self.valid = false;
        if self.next_off >= self.block.restarts_off {
            return Ok(());
        }
        let e = self.block.entry_at(self.next_off)?;
        if e.shared > self.key.len() {
            return Err(DecodeError::Invalid("shared prefix longer than previous key"));
        }
        (self.seq, self.kind) = unpack_seq_kind(e.seq_kind)?;
        self.key.truncate(e.shared);
        self.key.extend_from_slice(e.suffix);
        self.value = (e.next - e.value.len())..e.next;
        self.next_off = e.next;
        self.valid = true;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::block_builder::BlockBuilder;
    use super::*;
    use crate::storage::types::pack_seq_kind;
    use proptest::prelude::*;

    type E = (Vec<u8>, SeqNo, ValueKind, Vec<u8>);

    fn build(entries: &[E], interval: usize) -> Rc<Block> {
        let mut b = BlockBuilder::new(interval);
        for (k, s, kind, v) in entries {
            b.add(k, pack_seq_kind(*s, *kind), v);
        }
        Rc::new(Block::decode(b.finish()).unwrap())
    }

    fn collect(block: &Rc<Block>) -> Vec<E> {
        let mut it = BlockIter::new(block.clone());
        it.seek_to_first().unwrap();
        let mut out = Vec::new();
        while it.valid() {
            out.push((it.key().to_vec(), it.seq(), it.kind(), it.value().to_vec()));
            it.advance().unwrap();
        }
        out
    }

    fn e(k: &str, s: SeqNo, v: &str) -> E {
        (k.as_bytes().to_vec(), s, ValueKind::Value, v.as_bytes().to_vec())
    }

    fn sample() -> Vec<E> {
        vec![
            e("apple", 9, "red"),
            e("apple", 3, "green"),
            (b"apricot".to_vec(), 7, ValueKind::Tombstone, vec![]),
            e("banana", 1, ""),
            e("band", 4, "x"),
            e("bandana", 4, &"y".repeat(10_000)),
            e("c", 2, "z"),
        ]
    }

    #[test]
    fn roundtrip_all_restart_intervals() {
        for interval in [1, 2, 3, 16] {
            let block = build(&sample(), interval);
            assert_eq!(collect(&block), sample(), "interval {interval}");
        }
    }

    #[test]
    fn restart_points_placed_every_interval() {
        let entries: Vec<E> = (0..40).map(|i| e(&format!("key{i:03}"), 1, "v")).collect();
        let block = build(&entries, 16);
        assert_eq!(block.num_restarts, 3);
        for i in 0..3 {
            let k = block.restart_key(i).unwrap();
            assert_eq!(k, format!("key{:03}", i * 16).as_bytes());
        }
    }

    #[test]
    fn seek_and_find() {
        let block = build(&sample(), 2);
        let mut it = BlockIter::new(block.clone());
        it.seek(b"apple").unwrap();
        assert_eq!((it.key(), it.seq()), (&b"apple"[..], 9));
        it.advance().unwrap();
        assert_eq!(it.seq(), 3);
        it.seek(b"ban").unwrap();
        assert_eq!(it.key(), b"banana");
        it.seek(b"bandan").unwrap();
        assert_eq!(it.key(), b"bandana");
        assert_eq!(it.value().len(), 10_000);
        it.seek(b"d").unwrap();
        assert!(!it.valid());

        let f = block.find_first_ge(b"apple").unwrap().unwrap();
        assert!(f.key_eq && f.seq == 9 && f.value == b"red");
        let f = block.find_first_ge(b"apricot").unwrap().unwrap();
        assert_eq!((f.key_eq, f.kind), (true, ValueKind::Tombstone));
        let f = block.find_first_ge(b"banana").unwrap().unwrap();
        assert!(f.key_eq && f.value.is_empty());
        assert!(!block.find_first_ge(b"b").unwrap().unwrap().key_eq);
        assert!(!block.find_first_ge(b"").unwrap().unwrap().key_eq);
        assert!(block.find_first_ge(b"cc").unwrap().is_none());
    }

    #[test]
    fn empty_block() {
        let block = build(&[], 16);
        assert!(block.is_empty());
        assert!(collect(&block).is_empty());
        assert!(block.find_first_ge(b"a").unwrap().is_none());
    }

    fn raw_block() -> Vec<u8> {
        let mut b = BlockBuilder::new(2);
        for (k, s, kind, v) in sample() {
            b.add(&k, pack_seq_kind(s, kind), &v);
        }
        b.finish()
    }

    /// Decode then walk every entry and probe: must not panic, may fail.
    fn exercise(data: Vec<u8>) -> Result<(), DecodeError> {
        let block = Rc::new(Block::decode(data)?);
        let mut it = BlockIter::new(block.clone());
        it.seek_to_first()?;
        while it.valid() {
            it.advance()?;
        }
        for probe in [&b""[..], b"band", b"c", b"zz"] {
            it.seek(probe)?;
            block.find_first_ge(probe)?;
        }
        Ok(())
    }

    #[test]
    fn bad_blocks_error() {
        let raw = raw_block();
        for cut in [0, 1, 3, raw.len() - 1] {
            assert!(Block::decode(&raw[..cut]).is_err(), "cut {cut}");
        }
        let mut bad = raw.clone();
        let n = bad.len();
        bad[n - 4..].copy_from_slice(&1_000_000u32.to_le_bytes());
        assert!(Block::decode(bad).is_err(), "restart count");
        let mut bad = raw.clone();
        bad[n - 8..n - 4].copy_from_slice(&(n as u32).to_le_bytes());
        assert!(Block::decode(bad).is_err(), "restart past end");
        // A restart pointing into the middle of an entry.
        let mut bad = raw.clone();
        bad[n - 8..n - 4].copy_from_slice(&((n as u32) - 100).to_le_bytes());
        assert!(exercise(bad).is_err());
        // A value length running past the entries.
        let mut bad = raw.clone();
        bad[2] = 0x7f;
        assert!(exercise(bad).is_err());
        assert!(exercise(vec![0xff; 64]).is_err());
    }

    #[test]
    fn every_flipped_byte_never_panics() {
        let raw = raw_block();
        for i in 0..raw.len() {
            for bit in [0x01, 0x80] {
                let mut b = raw.clone();
                b[i] ^= bit;
                let _ = exercise(b);
            }
        }
    }

    fn sorted_entries() -> impl Strategy<Value = Vec<E>> {
        let entry = (
            proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..12),
            1..1000u64,
            prop_oneof![Just(ValueKind::Value), Just(ValueKind::Tombstone)],
            proptest::collection::vec(any::<u8>(), 0..40),
        );
        proptest::collection::vec(entry, 0..200).prop_map(|mut v| {
            v.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            v.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
            v
        })
    }

    proptest! {
        #[test]
        fn prop_roundtrip_and_seek(
            entries in sorted_entries(),
            interval in 1..20usize,
            // Bytes every key starts with (the restart search skips them).
            common in proptest::collection::vec(prop_oneof![Just(b'a'), any::<u8>()], 0..12),
            random_probe in proptest::collection::vec(prop_oneof![Just(b'a'), any::<u8>()], 0..6),
            pick in any::<proptest::sample::Index>(),
            probe_kind in 0..4u8,
        ) {
            let entries: Vec<E> = entries.into_iter().map(|(k, s, kind, v)| ([&common[..], &k[..]].concat(), s, kind, v)).collect();
            let block = build(&entries, interval);
            let cut = pick.index(common.len() + 1);
            let probe = match (probe_kind, entries.is_empty()) {
                (0, false) => entries[pick.index(entries.len())].0.clone(),
                // Past the common bytes, at them, short of them, or anywhere.
                (1, _) => [&common[..], &random_probe[..]].concat(),
                (2, _) => [&common[..cut], &random_probe[..]].concat(),
                _ => random_probe,
            };
            prop_assert_eq!(collect(&block), entries.clone());
            let want = entries.iter().position(|x| x.0.as_slice() >= probe.as_slice());
            let mut it = BlockIter::new(block.clone());
            it.seek(&probe).unwrap();
            let found = block.find_first_ge(&probe).unwrap();
            match want {
                None => {
                    prop_assert!(!it.valid());
                    prop_assert!(found.is_none());
                }
                Some(i) => {
                    let w = &entries[i];
                    prop_assert_eq!((it.key(), it.seq(), it.value()), (&w.0[..], w.1, &w.3[..]));
                    let f = found.unwrap();
                    prop_assert_eq!((f.key_eq, f.seq, f.value), (w.0 == probe, w.1, &w.3[..]));
                    // From the restart before it, as a hash index leads.
                    let from = block.find_from(block.restart(i / interval).unwrap(), &probe).unwrap();
                    prop_assert_eq!(from, Some(f));
                }
            }
            if interval == 1 {
                prop_assert_eq!(block.first_restart_ge(&probe).unwrap(), want.unwrap_or(entries.len()));
            }
        }

        #[test]
        fn prop_garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = exercise(data);
        }
    }
}
