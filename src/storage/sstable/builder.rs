//! [`TableBuilder`]: turns a sorted stream of entries into a whole table file
//! image in memory (flushes and compactions then write it with one aligned
//! `write_at`).

use super::block::Block;
use super::block_builder::{BlockBuilder, BlockWriter};
use super::bloom::{hash_key, FilterBuilder};
use super::format::{put_block_trailer, BlockHandle, Footer, BLOCK_TRAILER_LEN, FOOTER_LEN, FORMAT_VERSION};
use super::hash_index::{HashIndexBuilder, Spot, MAX_BLOCKS, SEARCH_BLOCK};
use super::properties::{Properties, TableMeta};
use crate::storage::disk::{align_up, ALIGN};
use crate::storage::types::{cmp_internal, pack_seq_kind, SeqNo, ValueKind};

/// Padding after a data block to the next page boundary is added only when
/// it is this small: then small-entry blocks each sit in one page (one 4 KiB
/// read per lookup under O_DIRECT) while large-entry tables waste little.
const MAX_ALIGN_PAD: usize = ALIGN / 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    /// Target size of a data block including its 5-byte trailer. Blocks
    /// holding one entry larger than this exceed it.
    pub block_size: usize,
    /// Entries between restart points in data blocks.
    pub restart_interval: usize,
    /// Bloom filter bits per distinct user key (10 gives about 1% FP).
    pub bloom_bits_per_key: u32,
    /// Write a hash index (key → block and restart point, ~11 bytes per
    /// distinct key) for point lookups with fewer cache misses. The Bloom
    /// filter stays: it is 1/8 of the size, so it stays in the CPU's caches
    /// and rules a table out without touching the hash index.
    pub hash_index: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions { block_size: 4096, restart_interval: 4, bloom_bits_per_key: 10, hash_index: true }
    }
}

pub struct TableBuilder {
    opts: TableOptions,
    out: Vec<u8>,
    /// The data block being built, at the end of `out`.
    data: BlockWriter,
    /// One entry per data block, every entry a restart (pure binary search).
    index: BlockBuilder,
    /// Hashes of distinct user keys, for the filter built at the end.
    hashes: Vec<u64>,
    /// Where each of them is, for the hash index (when enabled).
    spots: Vec<Spot>,
    last_key: Vec<u8>,
    last_seq_kind: u64,
    meta: TableMeta,
    data_blocks: u64,
    scratch: Vec<u8>,
    /// The data blocks decoded as they were written, when asked for
    /// ([`TableBuilder::keeping_blocks`]).
    blocks: Option<Vec<Block>>,
    /// The filter and hash index under way, once finishing has begun
    /// ([`TableBuilder::prepare_finish`]).
    finishing: Option<Finishing>,
}

/// The per-key parts of a table's finish, built a few keys at a time.
struct Finishing {
    filter: FilterBuilder,
    hash_index: Option<HashIndexBuilder>,
    /// Keys (of `hashes`, `spots`) in both so far.
    done: usize,
}

impl Finishing {
    /// Take in up to `keys` more of `hashes` (and `spots`); true once all are in.
    fn step(&mut self, hashes: &[u64], spots: &[Spot], keys: usize) -> bool {
        let end = self.done.saturating_add(keys).min(hashes.len());
        let next = hashes.get(self.done..end).unwrap_or_default();
        self.filter.add(next);
        if let Some(h) = &mut self.hash_index {
            h.add(next, spots.get(self.done..end).unwrap_or_default());
        }
        self.done = end;
        end == hashes.len()
    }
}

impl TableBuilder {
    pub fn new(opts: &TableOptions) -> Self {
        Self::with_buffer(opts, Vec::new())
    }

    /// A builder that writes the file image into `buf` (cleared first), so a
    /// caller can hand back the image of the previous table: growing a fresh
    /// 64 MiB Vec costs reallocation copies and a page fault per page.
    pub fn with_buffer(opts: &TableOptions, mut buf: Vec<u8>) -> Self {
        buf.clear();
        TableBuilder {
            opts: opts.clone(),
            out: buf,
            data: BlockWriter::new(opts.restart_interval),
            index: BlockBuilder::new(1),
            hashes: Vec::new(),
            spots: Vec::new(),
            last_key: Vec::new(),
            last_seq_kind: 0,
            meta: TableMeta::default(),
            data_blocks: 0,
            scratch: Vec::new(),
            blocks: None,
            finishing: None,
        }
    }

    /// Also decode each data block as it is written, while its bytes are
    /// still in the CPU's caches, for [`TableBuilder::finish_with_blocks`]
    /// (a flush puts them in the block cache: `Table::cache_blocks`). Read
    /// back from the finished image instead, they cost a second pass over
    /// it, from memory.
    pub fn keeping_blocks(mut self) -> Self {
        self.blocks = Some(Vec::new());
        self
    }

    /// Entries must arrive in internal order (`types::cmp_internal`): key
    /// ascending, seq descending, no duplicate (key, seq).
    pub fn add(&mut self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        debug_assert!(self.finishing.is_none(), "add after prepare_finish");
        let first = self.meta.entries == 0;
        debug_assert!(
            first || cmp_internal(&self.last_key, self.meta_last_seq(), key, seq).is_lt(),
            "entries out of internal order"
        );
        if !self.data.is_empty()
            && self.data.size_after(self.out.len(), key, value) + BLOCK_TRAILER_LEN > self.block_limit()
        {
            self.flush_data_block();
        }
        if first {
            self.meta.smallest = key.to_vec();
            self.meta.min_seq = seq;
        }
        let new_key = first || key != self.last_key.as_slice();
        if new_key {
            self.hashes.push(hash_key(key));
        }
        self.last_seq_kind = pack_seq_kind(seq, kind);
        self.data.add(&mut self.out, key, self.last_seq_kind, value);
        if new_key && self.opts.hash_index {
            let restart = u16::try_from(self.data.last_restart()).ok().filter(|&r| r != SEARCH_BLOCK);
            self.spots.push(Spot { block: self.data_blocks as u32, restart });
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.count(seq, kind);
    }

    fn meta_last_seq(&self) -> SeqNo {
        self.last_seq_kind >> 8
    }

    fn count(&mut self, seq: SeqNo, kind: ValueKind) {
        let m = &mut self.meta;
        m.entries += 1;
        m.tombstones += u64::from(kind == ValueKind::Tombstone);
        m.min_seq = m.min_seq.min(seq);
        m.max_seq = m.max_seq.max(seq);
    }

    /// Write the current data block and index it by its last internal key.
    fn flush_data_block(&mut self) {
        let start = self.data.finish(&mut self.out);
        if let Some(blocks) = &mut self.blocks {
            match Block::decode(self.out.get(start..).unwrap_or_default()) {
                Ok(b) => blocks.push(b),
                // A block we built decodes; if not, keep none rather than
                // number the rest wrongly.
                Err(_) => self.blocks = None,
            }
        }
        let handle = seal_block(&mut self.out, start);
        self.scratch.clear();
        handle.encode_varint(&mut self.scratch);
        self.index.add(&self.last_key, self.last_seq_kind, &self.scratch);
        self.data_blocks += 1;
        self.maybe_align();
    }

    /// Bytes (with trailer) the current data block may take. With a page-
    /// multiple block size the block is made to end on a page boundary
    /// (between 3/4 and 5/4 of `block_size` after its start), so after a
    /// large entry has knocked blocks off alignment the next one realigns.
    fn block_limit(&self) -> usize {
        let bs = self.opts.block_size;
        if bs == 0 || !bs.is_multiple_of(ALIGN) {
            return bs;
        }
        let start = self.data.start(self.out.len());
        align_up(start + bs * 3 / 4 + 1) - start
    }

    /// Pad to the next page boundary if cheap (see [`MAX_ALIGN_PAD`]).
    fn maybe_align(&mut self) {
        let pad = align_up(self.out.len()) - self.out.len();
        if self.opts.block_size.is_multiple_of(ALIGN) && pad <= MAX_ALIGN_PAD {
            self.out.resize(self.out.len() + pad, 0);
        }
    }

    /// Approximate size of the file if finished now.
    pub fn estimated_size(&self) -> usize {
        let filter = self.hashes.len() * self.opts.bloom_bits_per_key as usize / 8;
        let hash_index = self.spots.len() * 11;
        // `out` holds the data block's entries so far.
        self.out.len() + self.data.trailer_size() + self.index.estimated_size() + filter + hash_index + FOOTER_LEN
    }

    pub fn is_empty(&self) -> bool {
        self.meta.entries == 0
    }

    /// The whole file image (length a multiple of `disk::ALIGN`) and its meta.
    /// Layout: data blocks, filter, index, hash index, properties, zero
    /// padding, footer.
    pub fn finish(self) -> (Vec<u8>, TableMeta) {
        let (image, meta, _) = self.finish_with_blocks();
        (image, meta)
    }

    /// Build the Bloom filter and hash index over up to `keys` more keys;
    /// true once they cover every key. Called after the last
    /// [`add`](Self::add), in a loop with other work between, so that
    /// [`finish_with_blocks`](Self::finish_with_blocks) is left only the
    /// copying: built at once, the two held a shard for 6-10 ms per flushed
    /// memtable of 100-byte values and ~2 ms per compaction output
    /// (docs/benchmarks.md, twenty-sixth pass).
    pub fn prepare_finish(&mut self, keys: usize) -> bool {
        let mut f = match self.finishing.take() {
            Some(f) => f,
            None => self.begin_finish(),
        };
        let done = f.step(&self.hashes, &self.spots, keys);
        self.finishing = Some(f);
        done
    }

    /// The last data block written, and the filter and hash index started.
    fn begin_finish(&mut self) -> Finishing {
        if !self.data.is_empty() {
            self.flush_data_block();
        }
        // Spots are recorded per key while blocks are numbered; a table with
        // too many blocks for a spot's 24 bits gets no hash index.
        let with_hash_index = self.opts.hash_index && self.data_blocks <= MAX_BLOCKS;
        Finishing {
            filter: FilterBuilder::new(self.hashes.len(), self.opts.bloom_bits_per_key),
            hash_index: with_hash_index.then(|| HashIndexBuilder::new(self.hashes.len())),
            done: 0,
        }
    }

    /// [`finish`](Self::finish), and the data blocks in order, decoded, if
    /// [`keeping_blocks`](Self::keeping_blocks) (else none).
    pub fn finish_with_blocks(mut self) -> (Vec<u8>, TableMeta, Vec<Block>) {
        let mut f = match self.finishing.take() {
            Some(f) => f,
            None => self.begin_finish(),
        };
        while !f.step(&self.hashes, &self.spots, usize::MAX) {}
        let Finishing { filter, hash_index, .. } = f;
        self.meta.largest = std::mem::take(&mut self.last_key);
        let filter = self.append(|_, out| out.extend_from_slice(&filter.finish()));
        let index = self.append(|b, out| b.index.finish_into(out));
        let hash_index = hash_index.map(|h| self.append(|_, out| h.finish_into(out)));
        let props = Properties { meta: self.meta.clone(), data_blocks: self.data_blocks, hash_index };
        let properties = self.append(|_, out| props.encode(out));
        let footer = Footer { index, filter, properties, version: FORMAT_VERSION };
        let padded = align_up(self.out.len() + FOOTER_LEN) - FOOTER_LEN;
        self.out.resize(padded, 0);
        self.out.extend_from_slice(&footer.encode());
        self.meta.file_size = self.out.len() as u64;
        (self.out, self.meta, self.blocks.unwrap_or_default())
    }

    /// Append one meta block produced by `f` and seal it with a trailer.
    fn append(&mut self, f: impl FnOnce(&mut Self, &mut Vec<u8>)) -> BlockHandle {
        let mut out = std::mem::take(&mut self.out);
        let start = out.len();
        f(self, &mut out);
        let h = seal_block(&mut out, start);
        self.out = out;
        h
    }
}

/// Add the trailer to the block written from `start` and return its handle.
fn seal_block(out: &mut Vec<u8>, start: usize) -> BlockHandle {
    let handle = BlockHandle { offset: start as u64, size: (out.len() - start) as u64 };
    put_block_trailer(out, start);
    handle
}
