//! [`Table`]: an open SSTable (footer, index, filter and properties held in
//! memory; data blocks read on demand through the [`BlockCache`]) and
//! [`TableIter`], which streams a table block by block.
//!
//! Every decode failure becomes `Error::Corruption` naming the file and the
//! offset of the block (or footer) that failed.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::block::{Block, BlockIter, Found};
use super::bloom::{hash_key, Bloom};
use super::cache::BlockCache;
use super::format::{unwrap_block, BlockHandle, Footer, FOOTER_LEN, MAX_BLOCK_LEN};
use super::hash_index::{HashIndex, Spots};
use super::properties::{Properties, TableMeta};
use crate::storage::disk::{DiskFile, ALIGN};
use crate::storage::error::{DecodeError, Error, Result};
use crate::storage::slice::Slice;
use crate::storage::types::{cmp_internal, Entry, SeqNo, ValueKind};

/// Bytes a [`TableIter`] reads at once when streaming data blocks: large
/// sequential reads for compaction instead of one I/O per 4 KiB block.
pub const READAHEAD_BYTES: usize = 256 * 1024;

/// Upper bound on the metadata region (filter + index + properties) read by
/// `open`, so a plausible-looking footer cannot make us allocate unbounded.
const MAX_META_REGION: u64 = 3 * MAX_BLOCK_LEN;

/// What a point lookup in a table finds: the key's newest version there.
pub type Newest = Option<(SeqNo, ValueKind, Vec<u8>)>;

pub struct Table<F: DiskFile> {
    id: u64,
    path: PathBuf,
    file: F,
    cache: Rc<BlockCache>,
    meta: TableMeta,
    index: Rc<Block>,
    index_offset: u64,
    /// None when the filter block is empty: the format allows it (builds
    /// from `3972f1b` to `65922cb` wrote it so beside a hash index).
    bloom: Option<Bloom>,
    /// Every data block's handle, by block number (file order). The cache
    /// knows blocks by number, so a cached block is found without them.
    handles: Vec<BlockHandle>,
    /// With it, point lookups go by it instead of the filter and the index.
    hash_index: Option<HashIndex>,
    /// Data blocks lie in `[0, data_end)`; metadata follows.
    data_end: u64,
    /// The file's bytes as written, while the engine lends them
    /// ([`keep_image`](Self::keep_image)): a data block the cache lacks is
    /// decoded from here instead of read from the disk.
    image: RefCell<Option<Vec<u8>>>,
}

/// The metadata of a table as decoded from its tail.
struct Tail {
    footer: Footer,
    props: Properties,
    index: Block,
    bloom: Option<Bloom>,
    hash_index: Option<HashIndex>,
}

impl<F: DiskFile> Table<F> {
    /// Read and verify footer, index, filter and properties (one read for the
    /// footer, one for the rest). Data blocks are not read.
    pub async fn open(id: u64, path: PathBuf, file: F, cache: Rc<BlockCache>) -> Result<Self> {
        let len = file.len().await.map_err(|e| Error::io(&path, e))?;
        let tail = read_tail(&file, &path, len).await?;
        Self::with_tail(id, path, file, cache, tail, len)
    }

    /// [`open`](Self::open) a table just written from `image`, its whole
    /// file in memory: the footer, filter, index and hash index are decoded
    /// (and checked) from the image instead of read back from the disk,
    /// ~3 MB for a flushed memtable of 100-byte values.
    pub fn open_written(id: u64, path: PathBuf, file: F, cache: Rc<BlockCache>, image: &[u8]) -> Result<Self> {
        let len = image.len() as u64;
        let footer_off = footer_offset(len).map_err(|e| Error::corruption(&path, len, e))?;
        let at = |pos: u64, n: usize| {
            let from = usize::try_from(pos).unwrap_or(usize::MAX);
            image
                .get(from..from.saturating_add(n))
                .ok_or_else(|| Error::corruption(&path, pos, DecodeError::Truncated { needed: n, had: image.len() }))
        };
        let footer = decode_footer(&path, at(footer_off, FOOTER_LEN)?, footer_off)?;
        let region = at(footer.meta_start(), (footer_off - footer.meta_start()) as usize)?;
        let tail = decode_tail(&path, footer, footer_off, region)?;
        Self::with_tail(id, path, file, cache, tail, len)
    }

    fn with_tail(id: u64, path: PathBuf, file: F, cache: Rc<BlockCache>, tail: Tail, len: u64) -> Result<Self> {
        let mut meta = tail.props.meta;
        meta.file_size = len;
        let mut table = Table {
            id,
            path,
            file,
            cache,
            meta,
            index: Rc::new(tail.index),
            index_offset: tail.footer.index.offset,
            bloom: tail.bloom,
            handles: Vec::new(),
            hash_index: tail.hash_index,
            data_end: tail.footer.meta_start(),
            image: RefCell::new(None),
        };
        table.handles = table.block_handles(tail.props.data_blocks)?;
        Ok(table)
    }

    /// Every data block's handle, in file order; as many as the properties
    /// say (`data_blocks`).
    fn block_handles(&self, data_blocks: u64) -> Result<Vec<BlockHandle>> {
        let mut it = BlockIter::new(self.index.clone());
        let mut handles = Vec::new();
        it.seek_to_first().map_err(|e| self.corrupt(self.index_offset, e))?;
        while it.valid() {
            handles.push(self.data_handle(it.value())?);
            it.advance().map_err(|e| self.corrupt(self.index_offset, e))?;
        }
        if handles.len() as u64 != data_blocks {
            let e = DecodeError::Invalid("index block disagrees with the block count");
            return Err(self.corrupt(self.index_offset, e));
        }
        Ok(handles)
    }

    pub fn id(&self) -> u64 {
        self.id
    }
    pub fn meta(&self) -> &TableMeta {
        &self.meta
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn data_blocks(&self) -> u64 {
        self.handles.len() as u64
    }

    /// Bloom filter only: false means the key is certainly absent.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.bloom.as_ref().is_none_or(|b| b.may_contain(key))
    }

    /// Newest version of `key` in this table: the Bloom filter, then the hash
    /// index, or without one the key range and index block; then one data
    /// block (rarely more) via the cache. `hash` is the key's [`hash_key`].
    pub async fn get(&self, key: &[u8], hash: u64) -> Result<Newest> {
        for look in self.lookup(key, hash) {
            let look = look?;
            let block = self.cached_block(look.block).await?;
            if let Some(found) = self.get_in(&block, look, key)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// [`get`](Self::get) if it needs no disk read (the blocks are cached, or
    /// no block can hold the key); None if it does.
    pub fn get_now(&self, key: &[u8], hash: u64) -> Option<Result<Newest>> {
        self.get_now_with(key, hash, &mut Some(|seq, kind, value: &[u8]| (seq, kind, value.to_vec())))
    }

    /// [`get_now`](Self::get_now), giving `f` the newest version's value in
    /// place (in the cached block) instead of a copy. `f` is taken only if
    /// the table has the key: a caller can go on to the next table with it.
    pub fn get_now_with<T, G: FnOnce(SeqNo, ValueKind, &[u8]) -> T>(
        &self,
        key: &[u8],
        hash: u64,
        f: &mut Option<G>,
    ) -> Option<Result<Option<T>>> {
        // The key's entry, if `found` is it; `f` takes the first such.
        let mut take = |found: std::result::Result<Option<Found<'_>>, DecodeError>| {
            found.map(|e| e.filter(|e| e.key_eq).and_then(|e| f.take().map(|f| f(e.seq, e.kind, e.value))))
        };
        for look in self.lookup(key, hash) {
            let look = match look {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            let cached = match look.restart {
                Some(r) => self.cache.with_entries(self.id, look.block, |e| take(e.find_from(usize::from(r), key))),
                None => self.cache.get_cached(self.id, look.block).map(|b| take(b.find_first_ge(key))),
            };
            let found = match cached {
                Some(found) => found,
                // Not cached: from the kept image if there is one, else the
                // caller reads the disk (`get`).
                None => {
                    let block = match self.image_block(look.block)? {
                        Ok(b) => b,
                        Err(e) => return Some(Err(e)),
                    };
                    self.cache.count_miss();
                    take(look.find_in(&block, key))
                }
            };
            match found {
                Ok(None) => {}
                found => return Some(found.map_err(|e| self.corrupt(self.handle(look.block).offset, e))),
            }
        }
        Some(Ok(None))
    }

    /// The blocks a point read of `key` looks in, in order.
    fn lookup(&self, key: &[u8], hash: u64) -> Lookup<'_> {
        // The filter first: 1/8 of the hash index's size, it is the likelier
        // of the two to be in the CPU's caches.
        if self.bloom.as_ref().is_some_and(|b| !b.may_contain_hash(hash)) {
            return Lookup::Done;
        }
        if let Some(index) = &self.hash_index {
            return Lookup::Spots(index.spots(hash));
        }
        if self.meta.entries == 0 || key < self.meta.smallest.as_slice() || key > self.meta.largest.as_slice() {
            return Lookup::Done;
        }
        match self.first_block_ge(key) {
            Ok(block) if block < self.handles.len() => Lookup::Block(Look { block: block as u64, restart: None }),
            Ok(_) => Lookup::Done,
            Err(e) => Lookup::Failed(e),
        }
    }

    fn get_in(&self, block: &Block, look: Look, key: &[u8]) -> Result<Newest> {
        newest(look.find_in(block, key)).map_err(|e| self.corrupt(self.handle(look.block).offset, e))
    }

    /// The number of the first data block whose last key is >= `key` (the
    /// index block has a restart at every entry, one per data block); the
    /// number of blocks if there is none.
    fn first_block_ge(&self, key: &[u8]) -> Result<usize> {
        self.index.first_restart_ge(key).map_err(|e| self.corrupt(self.index_offset, e))
    }

    /// The handle of data block `block`; numbers come from the hash index
    /// (checked against the block count when decoded) or the index block.
    fn handle(&self, block: u64) -> BlockHandle {
        usize::try_from(block).ok().and_then(|b| self.handles.get(b)).copied().unwrap_or_default()
    }

    /// Decode an index entry's value and check it points into the data region.
    fn data_handle(&self, value: &[u8]) -> Result<BlockHandle> {
        let h = BlockHandle::decode_varint(value).map_err(|e| self.corrupt(self.index_offset, e))?;
        h.check_within(0, self.data_end).map_err(|e| self.corrupt(self.index_offset, e))?;
        Ok(h)
    }

    fn corrupt(&self, offset: u64, e: DecodeError) -> Error {
        Error::corruption(&self.path, offset, e)
    }

    async fn cached_block(&self, n: u64) -> Result<Rc<Block>> {
        if let Some(b) = self.cache.get(self.id, n) {
            return Ok(b);
        }
        if let Some(b) = self.image_block(n) {
            return b;
        }
        let block = Rc::new(self.read_block(self.handle(n)).await?);
        self.cache.insert(self.id, n, block.clone());
        Ok(block)
    }

    /// Put every data block of this table into the block cache from `image`,
    /// the file's bytes as just written (a compaction does this when its
    /// output fits the cache: with O_DIRECT there is no page cache, and a
    /// fresh table would otherwise start cold). The image is our own memory,
    /// so the checksums that guard against the disk are not computed again.
    /// Runs in time slices: decoding a 64 MiB table's blocks at once would
    /// hold the shard for tens of milliseconds.
    pub async fn prepopulate(&self, image: &[u8]) -> Result<()> {
        let mut slice = Slice::default();
        for (n, &h) in self.handles.iter().enumerate() {
            slice.tick().await;
            let block = self.block_in(image, h)?;
            self.cache.insert(self.id, n as u64, Rc::new(block));
        }
        Ok(())
    }

    /// Put `blocks`, this table's data blocks as its builder decoded them
    /// (`TableBuilder::keeping_blocks`), into the block cache, as
    /// [`prepopulate`](Self::prepopulate) does from the image. Blocks that do
    /// not match this table's count are left out.
    pub async fn cache_blocks(&self, blocks: Vec<Block>) {
        if blocks.len() != self.handles.len() {
            return;
        }
        let mut slice = Slice::default();
        for (n, block) in blocks.into_iter().enumerate() {
            slice.tick().await;
            self.cache.insert(self.id, n as u64, Rc::new(block));
        }
    }

    /// Keep `image`, this file's bytes as just written, to read data blocks
    /// from: a block the cache lacks is decoded from it (and cached, as a
    /// block read from the disk is) until [`take_image`](Self::take_image).
    /// A flush lends its table the image this way instead of decoding every
    /// block into the cache (`flush_fills_block_cache` off; docs/ARCHITECTURE.md). An image
    /// of another length is not kept.
    pub fn keep_image(&self, image: Vec<u8>) {
        if image.len() as u64 == self.meta.file_size {
            *self.image.borrow_mut() = Some(image);
        }
    }

    /// The image [`keep_image`](Self::keep_image) lent, if any; reads go to
    /// the disk again.
    pub fn take_image(&self) -> Option<Vec<u8>> {
        self.image.borrow_mut().take()
    }

    /// The block at `h` decoded from `image`, this file's bytes as written:
    /// our own memory, so no checksum is computed.
    fn block_in(&self, image: &[u8], h: BlockHandle) -> Result<Block> {
        let end = h.offset as usize + h.size as usize;
        let contents = image
            .get(h.offset as usize..end)
            .ok_or_else(|| self.corrupt(h.offset, DecodeError::Truncated { needed: end, had: image.len() }))?;
        Block::decode(contents).map_err(|e| self.corrupt(h.offset, e))
    }

    /// The block at `h` decoded from the kept image, if there is one.
    fn decode_from_image(&self, h: BlockHandle) -> Option<Result<Block>> {
        self.image.borrow().as_deref().map(|image| self.block_in(image, h))
    }

    /// Data block `n` from the kept image, if there is one, put in the
    /// cache as a block read from the disk is.
    fn image_block(&self, n: u64) -> Option<Result<Rc<Block>>> {
        let block = match self.decode_from_image(self.handle(n))? {
            Ok(b) => Rc::new(b),
            Err(e) => return Some(Err(e)),
        };
        self.cache.insert(self.id, n, block.clone());
        Some(Ok(block))
    }

    /// Read one block from disk (no cache) and check its checksum.
    async fn read_block(&self, h: BlockHandle) -> Result<Block> {
        let raw = self.file.read_at(h.offset, h.disk_len()).await.map_err(|e| Error::io(&self.path, e))?;
        self.decode_block(&raw, h)
    }

    /// How much a [`TableIter`] reads at once from block `h` on.
    fn readahead_len(&self, h: &BlockHandle) -> usize {
        // data_handle checked h ends within data_end, so this cannot underflow.
        (h.disk_len() as u64).max(READAHEAD_BYTES as u64).min(self.data_end - h.offset) as usize
    }

    fn decode_block(&self, raw: &[u8], h: BlockHandle) -> Result<Block> {
        unwrap_block(raw, &h).and_then(Block::decode).map_err(|e| self.corrupt(h.offset, e))
    }

    /// Re-read footer, metadata and every data block from disk (bypassing the
    /// cache) and check every checksum, every entry and the key order.
    pub async fn verify(&self) -> Result<()> {
        let len = self.file.len().await.map_err(|e| Error::io(&self.path, e))?;
        read_tail(&self.file, &self.path, len).await?;
        let mut index = BlockIter::new(self.index.clone());
        index.seek_to_first().map_err(|e| self.corrupt(self.index_offset, e))?;
        let mut check = OrderCheck { hash_index: self.hash_index.as_ref(), ..Default::default() };
        while index.valid() {
            let h = self.data_handle(index.value())?;
            if h.offset < check.next_offset {
                return Err(self.corrupt(self.index_offset, DecodeError::Invalid("overlapping data blocks")));
            }
            let block = Rc::new(self.read_block(h).await?);
            check.block(block, index.key(), h).map_err(|e| self.corrupt(h.offset, e))?;
            index.advance().map_err(|e| self.corrupt(self.index_offset, e))?;
        }
        check.finish(&self.meta, self.data_blocks()).map_err(|e| self.corrupt(self.index_offset, e))
    }

    /// Close the file and drop this table's blocks from the cache. Dropping a
    /// `Table` instead is fine too (the file is closed on drop, and cached
    /// blocks age out), but `close` reports I/O errors and frees cache space
    /// at once. With outstanding iterators (`Rc` clones), use
    /// `Rc::try_unwrap` first, or just drop.
    pub async fn close(self) -> Result<()> {
        self.cache.remove_table(self.id);
        self.file.close().await.map_err(|e| Error::io(&self.path, e))
    }

    /// A streaming iterator over the whole table, positioned before the
    /// first entry (call `seek`/`seek_to_first`, or just `next`).
    pub fn iter(self: &Rc<Self>) -> TableIter<F> {
        TableIter {
            table: self.clone(),
            block: 0,
            data: None,
            positioned: false,
            readahead: ReadAhead::default(),
            next_read: None,
        }
    }
}

/// What a block search found, as [`Table::get`] answers it.
fn newest(found: std::result::Result<Option<Found<'_>>, DecodeError>) -> std::result::Result<Newest, DecodeError> {
    found.map(|f| f.filter(|f| f.key_eq).map(|f| (f.seq, f.kind, f.value.to_vec())))
}

/// A data block to look in, and where in it.
#[derive(Clone, Copy)]
struct Look {
    /// Data block number.
    block: u64,
    /// The restart entry to scan from; None: search the block.
    restart: Option<u16>,
}

impl Look {
    /// The entry for `key` in `block`, the block this look names.
    fn find_in<'b>(&self, block: &'b Block, key: &[u8]) -> Result<Option<Found<'b>>, DecodeError> {
        match self.restart {
            Some(r) => block.find_from(usize::from(r), key),
            None => block.find_first_ge(key),
        }
    }
}

/// Iterator of [`Table::lookup`].
enum Lookup<'a> {
    Done,
    Failed(Error),
    Block(Look),
    Spots(Spots<'a>),
}

impl Iterator for Lookup<'_> {
    type Item = Result<Look>;

    fn next(&mut self) -> Option<Result<Look>> {
        match self {
            Lookup::Spots(spots) => spots.next().map(|s| Ok(Look { block: u64::from(s.block), restart: s.restart })),
            _ => match std::mem::replace(self, Lookup::Done) {
                Lookup::Failed(e) => Some(Err(e)),
                Lookup::Block(look) => Some(Ok(look)),
                _ => None,
            },
        }
    }
}

/// Read exactly `len` bytes at `pos`; a short read means the file is truncated.
async fn read_exact<F: DiskFile>(file: &F, path: &Path, pos: u64, len: usize) -> Result<Vec<u8>> {
    let buf = file.read_at(pos, len).await.map_err(|e| Error::io(path, e))?;
    if buf.len() != len {
        return Err(Error::corruption(path, pos, DecodeError::Truncated { needed: len, had: buf.len() }));
    }
    Ok(buf)
}

/// Read and decode everything after the data blocks: footer first, then the
/// filter/index/properties region in one read.
async fn read_tail<F: DiskFile>(file: &F, path: &Path, len: u64) -> Result<Tail> {
    let footer_off = footer_offset(len).map_err(|e| Error::corruption(path, len, e))?;
    let raw = read_exact(file, path, footer_off, FOOTER_LEN).await?;
    let footer = decode_footer(path, &raw, footer_off)?;
    let region = read_exact(file, path, footer.meta_start(), (footer_off - footer.meta_start()) as usize).await?;
    decode_tail(path, footer, footer_off, &region)
}

/// The footer at `footer_off`, its meta region checked to fit
/// [`MAX_META_REGION`] before anything that large is read.
fn decode_footer(path: &Path, raw: &[u8], footer_off: u64) -> Result<Footer> {
    let footer = Footer::decode(raw, footer_off).map_err(|e| Error::corruption(path, footer_off, e))?;
    let region_len = footer_off - footer.meta_start(); // handles were checked to end before the footer
    if region_len > MAX_META_REGION {
        let e = DecodeError::TooLarge { len: region_len, limit: MAX_META_REGION };
        return Err(Error::corruption(path, footer_off, e));
    }
    Ok(footer)
}

/// Decode the filter/index/properties `region` (the bytes from the footer's
/// meta start to the footer).
fn decode_tail(path: &Path, footer: Footer, footer_off: u64, region: &[u8]) -> Result<Tail> {
    let start = footer.meta_start();
    let block = |h: &BlockHandle| {
        let from = (h.offset - start) as usize;
        let raw = region.get(from..from + h.disk_len()).unwrap_or_default();
        unwrap_block(raw, h).map_err(|e| Error::corruption(path, h.offset, e))
    };
    let at = |h: &BlockHandle| {
        let off = h.offset;
        move |e| Error::corruption(path, off, e)
    };
    let props = Properties::decode(block(&footer.properties)?, footer.version).map_err(at(&footer.properties))?;
    let hash_index = match props.hash_index {
        Some(h) => {
            h.check_within(start, footer_off).map_err(at(&h))?;
            Some(HashIndex::decode(block(&h)?, props.data_blocks).map_err(at(&h))?)
        }
        None => None,
    };
    Ok(Tail {
        bloom: match block(&footer.filter)? {
            [] => None,
            filter => Some(Bloom::decode(filter.to_vec()).map_err(at(&footer.filter))?),
        },
        index: Block::decode(block(&footer.index)?).map_err(at(&footer.index))?,
        props,
        hash_index,
        footer,
    })
}

fn footer_offset(len: u64) -> Result<u64, DecodeError> {
    if !len.is_multiple_of(ALIGN as u64) {
        return Err(DecodeError::Invalid("file length not a multiple of 4096 (truncated?)"));
    }
    len.checked_sub(FOOTER_LEN as u64).ok_or(DecodeError::Truncated { needed: FOOTER_LEN, had: len as usize })
}

/// State of `verify`'s walk: entries must be in strict internal order, each
/// index key must equal its block's last key, and totals must match the
/// properties.
#[derive(Default)]
struct OrderCheck<'a> {
    /// If the table has one, the newest version of each key must be where
    /// it says (in the block being read).
    hash_index: Option<&'a HashIndex>,
    prev: Option<(Vec<u8>, SeqNo)>,
    first: Option<Vec<u8>>,
    entries: u64,
    blocks: u64,
    next_offset: u64,
}

impl OrderCheck<'_> {
    fn block(&mut self, block: Rc<Block>, index_key: &[u8], h: BlockHandle) -> Result<(), DecodeError> {
        let mut it = BlockIter::new(block);
        it.seek_to_first()?;
        if !it.valid() {
            return Err(DecodeError::Invalid("empty data block"));
        }
        while it.valid() {
            self.entry(it.key(), it.seq())?;
            it.advance()?;
        }
        if self.prev.as_ref().map(|p| p.0.as_slice()) != Some(index_key) {
            return Err(DecodeError::Invalid("index key is not the block's last key"));
        }
        self.blocks += 1;
        self.next_offset = h.end().unwrap_or(u64::MAX);
        Ok(())
    }

    fn entry(&mut self, key: &[u8], seq: SeqNo) -> Result<(), DecodeError> {
        if let Some((pk, ps)) = &self.prev {
            if !cmp_internal(pk, *ps, key, seq).is_lt() {
                return Err(DecodeError::Invalid("entries out of order"));
            }
        }
        if self.first.is_none() {
            self.first = Some(key.to_vec());
        }
        let newest = self.prev.as_ref().is_none_or(|p| p.0 != key);
        if let Some(index) = self.hash_index.filter(|_| newest) {
            if !index.spots(hash_key(key)).any(|s| u64::from(s.block) == self.blocks) {
                return Err(DecodeError::Invalid("hash index does not lead to a key"));
            }
        }
        self.prev = Some((key.to_vec(), seq));
        self.entries += 1;
        Ok(())
    }

    fn finish(self, meta: &TableMeta, data_blocks: u64) -> Result<(), DecodeError> {
        let last = self.prev.map(|p| p.0).unwrap_or_default();
        let ok = self.entries == meta.entries
            && self.blocks == data_blocks
            && self.first.unwrap_or_default() == meta.smallest
            && last == meta.largest;
        if ok {
            Ok(())
        } else {
            Err(DecodeError::Invalid("data blocks disagree with table properties"))
        }
    }
}

/// The last large read of data blocks, kept so the following blocks are
/// sliced out of memory.
#[derive(Default)]
struct ReadAhead {
    offset: u64,
    buf: Vec<u8>,
}

/// A read of the chunk after the [`ReadAhead`] one, already submitted.
struct NextRead {
    offset: u64,
    read: std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<u8>>>>>,
}

impl ReadAhead {
    /// Where the buffer's bytes end in the file.
    fn end(&self) -> u64 {
        self.offset + self.buf.len() as u64
    }

    fn slice(&self, h: &BlockHandle) -> Option<&[u8]> {
        let from = usize::try_from(h.offset.checked_sub(self.offset)?).ok()?;
        self.buf.get(from..from.checked_add(h.disk_len())?)
    }
}

/// Streams a table in internal order, one block at a time.
///
/// Cache policy: a block already in the cache is used (via `peek`, which
/// neither promotes it nor counts a hit); a block not in the cache is read
/// through a [`READAHEAD_BYTES`] buffer and *not* inserted, so a compaction
/// scanning tens of MiB does not evict the point-read working set.
pub struct TableIter<F: DiskFile> {
    table: Rc<Table<F>>,
    /// Number of the data block `data` is in.
    block: usize,
    /// Positioned at the entry `next` returns; None when exhausted.
    data: Option<BlockIter>,
    positioned: bool,
    readahead: ReadAhead,
    /// Once a scan has moved past one read-ahead chunk into the next, each
    /// chunk's read is submitted while the one before is consumed, so a
    /// compaction does not wait on the disk between chunks.
    next_read: Option<NextRead>,
}

impl<F: DiskFile> TableIter<F> {
    /// Position at the first entry with key >= `key` (all versions of it,
    /// newest first).
    pub async fn seek(&mut self, key: &[u8]) -> Result<()> {
        self.positioned = true;
        self.block = self.table.first_block_ge(key)?;
        self.enter_block(Some(key)).await
    }

    pub async fn seek_to_first(&mut self) -> Result<()> {
        self.positioned = true;
        self.block = 0;
        self.enter_block(None).await
    }

    /// The next entry in internal order, None at the end.
    pub async fn next(&mut self) -> Result<Option<Entry>> {
        if !self.positioned {
            self.seek_to_first().await?;
        }
        let Some(d) = self.data.as_mut() else {
            return Ok(None);
        };
        let entry = Entry { key: d.key().to_vec(), seq: d.seq(), kind: d.kind(), value: d.value().to_vec() };
        let advanced = d.advance();
        let at_end = !d.valid();
        if let Err(e) = advanced {
            let off = self.table.handle(self.block as u64).offset;
            return Err(self.table.corrupt(off, e));
        }
        if at_end {
            self.block += 1;
            self.enter_block(None).await?;
        }
        Ok(Some(entry))
    }

    /// Load block `self.block` and position in it (at `target` or its start),
    /// moving on to later blocks while a block yields nothing.
    async fn enter_block(&mut self, mut target: Option<&[u8]>) -> Result<()> {
        self.data = None;
        while let Some(&h) = self.table.handles.get(self.block) {
            let mut it = BlockIter::new(self.scan_block(h).await?);
            let r = match target {
                Some(k) => it.seek(k),
                None => it.seek_to_first(),
            };
            r.map_err(|e| self.table.corrupt(h.offset, e))?;
            if it.valid() {
                self.data = Some(it);
                return Ok(());
            }
            self.block += 1;
            target = None;
        }
        Ok(())
    }

    /// A block for scanning: from the cache if present, else via read-ahead.
    async fn scan_block(&mut self, h: BlockHandle) -> Result<Rc<Block>> {
        let t = self.table.clone();
        if let Some(b) = t.cache.peek(t.id, self.block as u64) {
            return Ok(b);
        }
        if let Some(b) = t.decode_from_image(h) {
            return Ok(Rc::new(b?));
        }
        if self.readahead.slice(&h).is_none() {
            // Does the scan go on from the last chunk (h begins in it, or right after)?
            let sequential =
                !self.readahead.buf.is_empty() && (self.readahead.offset..=self.readahead.end()).contains(&h.offset);
            let buf = match self.next_read.take() {
                Some(next) if next.offset == h.offset => next.read.await,
                _ => t.file.read_at(h.offset, t.readahead_len(&h)).await,
            };
            self.readahead = ReadAhead { offset: h.offset, buf: buf.map_err(|e| Error::io(&t.path, e))? };
            if sequential {
                self.next_read = self.start_next_read();
            }
        }
        let raw = self.readahead.slice(&h).unwrap_or_default();
        Ok(Rc::new(t.decode_block(raw, h)?))
    }

    /// Submit the read of the chunk that starts at the first block past the
    /// read-ahead buffer (None at the table's last block).
    fn start_next_read(&self) -> Option<NextRead> {
        let t = &self.table;
        let end = self.readahead.end();
        let h = *t.handles.get(self.block..)?.iter().find(|h| h.offset + h.disk_len() as u64 > end)?;
        let (table, len) = (t.clone(), t.readahead_len(&h));
        let mut read: std::pin::Pin<Box<dyn std::future::Future<Output = _>>> =
            Box::pin(async move { table.file.read_at(h.offset, len).await });
        // One poll submits the read; the scan awaits it when it gets there.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match read.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(r) => Some(NextRead { offset: h.offset, read: Box::pin(std::future::ready(r)) }),
            std::task::Poll::Pending => Some(NextRead { offset: h.offset, read }),
        }
    }
}
