//! Per-table hash index: a user key's hash → the data block and restart point
//! where its newest version is. A point lookup the Bloom filter lets through
//! then probes one cache line of this index instead of the index block's
//! binary search and the data block's restart search: several dependent
//! cache misses fewer for a key in a table (RocksDB's data-block hash index
//! does the second of these; this does both).
//!
//! Layout (docs/FORMAT.md, "Hash index block"): `buckets × 8` little-endian
//! u64 slots, 64 bytes (one cache line) per bucket. A key's hash picks its
//! bucket by the fast range reduction of its upper 32 bits; it takes the
//! first empty slot there or in the buckets after it (wrapping). A slot:
//!
//! ```text
//! bits  0..24  tag: bits 0..24 of the hash
//! bits 24..48  data block number + 1 (0: the slot is empty)
//! bits 48..64  offset in the block of the restart entry the key's newest
//!              version follows, or 0xFFFF: search the block
//! ```
//!
//! Buckets = ceil(keys / 6), so at most 3/4 of the slots are taken and a
//! lookup almost always ends in its own bucket, at a slot with its tag or an
//! empty one. Tags of different keys may be equal: a lookup yields every
//! slot with its tag until an empty slot, and the caller checks the key.

use crate::storage::error::DecodeError;
use crate::storage::types::prefetch;

/// u64 slots per bucket: one 64-byte cache line.
const SLOTS: usize = 8;
const BUCKET_BYTES: usize = SLOTS * 8;
const TAG_BITS: u32 = 24;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const BLOCK_BITS: u32 = 24;
/// Tables with more data blocks than this get no hash index.
pub const MAX_BLOCKS: u64 = (1 << BLOCK_BITS) - 1;
/// The restart offset of a key that lies past what 16 bits can say.
pub const SEARCH_BLOCK: u16 = u16::MAX;

/// Where the hash index says a key may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spot {
    /// Data block number (0-based, file order).
    pub block: u32,
    /// Offset of the restart entry to scan from, None: search the block.
    pub restart: Option<u16>,
}

#[inline]
fn bucket_of(h: u64, buckets: usize) -> usize {
    (((h >> 32) * buckets as u64) >> 32) as usize
}

fn slot(h: u64, spot: Spot) -> u64 {
    let restart = spot.restart.unwrap_or(SEARCH_BLOCK);
    (h & TAG_MASK) | ((u64::from(spot.block) + 1) << TAG_BITS) | (u64::from(restart) << (TAG_BITS + BLOCK_BITS))
}

fn spot_of(s: u64) -> Spot {
    let block = ((s >> TAG_BITS) & MAX_BLOCKS) as u32 - 1; // callers skip empty slots
    let restart = (s >> (TAG_BITS + BLOCK_BITS)) as u16;
    Spot { block, restart: (restart != SEARCH_BLOCK).then_some(restart) }
}

fn is_empty(s: u64) -> bool {
    (s >> TAG_BITS) & MAX_BLOCKS == 0
}

/// Append the index of the distinct user keys whose hashes are `hashes`
/// and whose spots are `spots` (the same length) to `out`. Every spot's
/// block must be below [`MAX_BLOCKS`].
#[cfg(test)]
fn build_hash_index(hashes: &[u64], spots: &[Spot], out: &mut Vec<u8>) {
    let mut b = HashIndexBuilder::new(hashes.len());
    b.add(hashes, spots);
    b.finish_into(out);
}

/// A hash index for `keys` keys, given a few at a time
/// ([`HashIndexBuilder::add`]), so that a caller can step aside between
/// them. The same bytes as [`build_hash_index`] over all of them in order.
pub struct HashIndexBuilder {
    slots: Vec<u64>,
    buckets: usize,
}

impl HashIndexBuilder {
    pub fn new(keys: usize) -> Self {
        let buckets = keys.div_ceil(6).max(1);
        HashIndexBuilder { slots: vec![0u64; buckets * SLOTS], buckets }
    }

    /// The next keys, in order: `hashes` and their `spots`, the same length.
    /// At most `keys` (as given to `new`) in all.
    pub fn add(&mut self, hashes: &[u64], spots: &[Spot]) {
        let buckets = self.buckets;
        for (i, (&h, &spot)) in hashes.iter().zip(spots).enumerate() {
            debug_assert!(u64::from(spot.block) < MAX_BLOCKS);
            // Buckets are random: ask for the bucket of a key a few ahead, so
            // that the misses overlap (a 64 MiB table's index is ~4 MiB).
            if let Some(&ahead) = hashes.get(i + 8) {
                prefetch(self.slots.as_ptr().wrapping_add(bucket_of(ahead, buckets) * SLOTS));
            }
            let start = bucket_of(h, buckets) * SLOTS;
            // From the bucket on, then from the front: there are more slots than
            // keys, so a free one exists.
            let (front, from_bucket) = self.slots.split_at_mut(start);
            if let Some(s) = from_bucket.iter_mut().chain(front).find(|s| **s == 0) {
                *s = slot(h, spot);
            }
        }
    }

    pub fn finish_into(self, out: &mut Vec<u8>) {
        if cfg!(target_endian = "little") {
            out.extend_from_slice(bytemuck::cast_slice(&self.slots));
        } else {
            out.reserve(self.slots.len() * 8);
            for s in self.slots {
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
    }
}

/// A decoded hash index, kept in memory by the open table.
#[derive(Debug, Clone)]
pub struct HashIndex {
    slots: Vec<u64>,
    buckets: usize,
}

impl HashIndex {
    /// Checks the length (whole buckets, at least one) and that no slot names
    /// a block at or past `data_blocks`.
    pub fn decode(data: &[u8], data_blocks: u64) -> Result<Self, DecodeError> {
        if data.is_empty() || !data.len().is_multiple_of(BUCKET_BYTES) {
            return Err(DecodeError::Invalid("hash index length not a whole number of buckets"));
        }
        let slots: Vec<u64> =
            data.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).collect();
        if slots.iter().any(|&s| !is_empty(s) && u64::from(spot_of(s).block) >= data_blocks) {
            return Err(DecodeError::Invalid("hash index names a block past the last"));
        }
        if slots.iter().all(|&s| !is_empty(s)) {
            return Err(DecodeError::Invalid("hash index without an empty slot"));
        }
        Ok(HashIndex { buckets: slots.len() / SLOTS, slots })
    }

    /// Every spot whose tag matches `h`'s, in probe order.
    pub fn spots(&self, h: u64) -> Spots<'_> {
        Spots { slots: &self.slots, at: bucket_of(h, self.buckets) * SLOTS, left: self.slots.len(), tag: h & TAG_MASK }
    }
}

/// Iterator of [`HashIndex::spots`]; ends at the first empty slot.
pub struct Spots<'a> {
    slots: &'a [u64],
    at: usize,
    left: usize,
    tag: u64,
}

impl Iterator for Spots<'_> {
    type Item = Spot;

    fn next(&mut self) -> Option<Spot> {
        while self.left > 0 {
            let s = *self.slots.get(self.at)?;
            if is_empty(s) {
                self.left = 0;
                return None;
            }
            self.left -= 1;
            self.at += 1;
            if self.at == self.slots.len() {
                self.at = 0;
            }
            if s & TAG_MASK == self.tag {
                return Some(spot_of(s));
            }
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::storage::sstable::bloom::hash_key;

    fn build(keys: &[(u64, Spot)]) -> Vec<u8> {
        let (hashes, spots): (Vec<u64>, Vec<Spot>) = keys.iter().copied().unzip();
        let mut out = Vec::new();
        build_hash_index(&hashes, &spots, &mut out);
        out
    }

    fn spot(i: u32) -> Spot {
        Spot { block: i / 10, restart: (!i.is_multiple_of(3)).then_some((i % 1000) as u16) }
    }

    #[test]
    fn every_key_finds_its_spot_and_absent_keys_almost_never_match() {
        for n in [0u32, 1, 5, 6, 7, 100, 10_000] {
            let keys: Vec<_> = (0..n).map(|i| (hash_key(format!("key{i}").as_bytes()), spot(i))).collect();
            let idx = HashIndex::decode(&build(&keys), u64::from(n / 10 + 1)).unwrap();
            for (i, &(h, s)) in keys.iter().enumerate() {
                assert!(idx.spots(h).any(|x| x == s), "n={n} key {i}");
            }
            let false_hits: usize =
                (0..10_000).map(|i| idx.spots(hash_key(format!("absent{i}").as_bytes())).count()).sum();
            assert!(false_hits <= 1, "n={n}: {false_hits} false candidates");
        }
    }

    #[test]
    fn equal_tags_yield_every_candidate() {
        // Same bucket and tag, different keys: both spots come back, in insertion order.
        let keys =
            [(0x1234_0000_00ab_cdef, spot(1)), (0x1234_0000_00ab_cdef, spot(2)), (0x1234_0000_0000_0001, spot(4))];
        let idx = HashIndex::decode(&build(&keys), 10).unwrap();
        assert_eq!(idx.spots(0x1234_0000_00ab_cdef).collect::<Vec<_>>(), vec![spot(1), spot(2)]);
        assert_eq!(idx.spots(0x1234_0000_0000_0001).collect::<Vec<_>>(), vec![spot(4)]);
    }

    #[test]
    fn full_buckets_spill_into_the_next_and_wrap() {
        // 60 keys, 10 buckets: all hashed into the last bucket spill over the
        // end into the first ones.
        let keys: Vec<_> = (0..60u64).map(|i| (u64::MAX - (i << 24) - i, spot(i as u32))).collect();
        let idx = HashIndex::decode(&build(&keys), 10).unwrap();
        for &(h, s) in &keys {
            assert_eq!(idx.spots(h).collect::<Vec<_>>(), vec![s]);
        }
    }

    #[test]
    fn bad_indexes_error() {
        assert!(HashIndex::decode(&[], 1).is_err());
        assert!(HashIndex::decode(&[0; 63], 1).is_err());
        assert!(HashIndex::decode(&[0xff; 64], 1 << 30).is_err()); // no empty slot
        let one = build(&[(7, Spot { block: 3, restart: None })]);
        assert!(HashIndex::decode(&one, 4).is_ok());
        assert!(HashIndex::decode(&one, 3).is_err()); // block 3 of 3
    }
}
