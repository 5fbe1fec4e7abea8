//! The memtable: recent writes, sorted in internal order, size-accounted.
//!
//! Single-threaded (one shard owns it). Entries are inserted when their batch
//! is appended to the WAL and become *visible* to readers only once the WAL has
//! them (see `Engine`): every lookup here takes a `visible` sequence bound.
//!
//! Layout: each distinct key has one [`Head`] in the [`Arena`] (its bytes and
//! a pointer to its newest [`Version`]); each version links to the next older
//! one. The point index maps a key's hash to its head, and [`Order`] keeps
//! the keys' heads in key order, one entry per key. Overwriting a key already
//! here costs one hash probe and an arena append or overwrite; a new key adds
//! one push to a vector: nothing on the write path searches an ordered
//! structure. Order is settled in bulk (sorted runs, merged) for the readers
//! that want it: scans and the flush. Versions of a key come out newest
//! first, which is the internal order (key ascending, seq descending).
//!
//! A point read or insert of a key not in the CPU's caches waits on two
//! memory loads one after the other: the index slot, then the key's head (and
//! newest version) it points to. A caller that knows its next keys can start
//! both early: [`Memtable::prefetch_slot`], then a little later
//! [`Memtable::prefetch_entry`].

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::mem::size_of;
use std::ops::Bound;
use std::ptr;
use std::rc::Rc;

use xxhash_rust::xxh3::xxh3_64;

use crate::storage::types::{key_prefix, prefetch, Entry, SeqNo, ValueKind};

/// A distinct key: followed in the arena by its `key_len` bytes.
#[repr(C)]
struct Head {
    /// The newest version (never null once the head is linked in).
    newest: *mut Version,
    /// Its seq, so that the common insert (a newer version) does not read
    /// the old version (a cache miss: a third of the insert's time).
    newest_seq: SeqNo,
    key_len: u32,
}

/// One version of a key: followed in the arena by its `value_len` bytes,
/// then `slack` more that it may grow into (see [`Memtable::insert`]).
#[repr(C)]
struct Version {
    /// The next older version of the same key, or null.
    prev: *mut Version,
    seq: SeqNo,
    value_len: u32,
    /// Room after the value: a newer value of up to `value_len + slack`
    /// bytes may take its place. In the struct's padding.
    slack: u16,
    kind: ValueKind,
}

const _: () = assert!(size_of::<Version>() == 24);

// SAFETY (for the helpers below and every dereference in this file): heads
// and versions are written into arena chunks that live as long as the
// memtable and never move (`Arena`); afterwards only their links (`newest`,
// `newest_seq`, `prev`) change, by `insert`, and a key's newest version may
// be overwritten in place by `insert` (its value, `value_len`, `slack`,
// `seq`, `kind`) while no `Reading` exists. They are only read or written
// through raw pointers derived from the chunk's base pointer. The memtable is
// used by one thread, and no slice into the arena outlives the `&self` borrow
// it was taken under (or, for a `Probe`, the probe).

fn head_key<'a>(h: *const Head) -> &'a [u8] {
    unsafe { std::slice::from_raw_parts(h.cast::<u8>().add(size_of::<Head>()), (*h).key_len as usize) }
}

fn version_value<'a>(v: *const Version) -> &'a [u8] {
    unsafe { std::slice::from_raw_parts(v.cast::<u8>().add(size_of::<Version>()), (*v).value_len as usize) }
}

/// The first version from `v` on (newest first) with seq <= `visible` and,
/// if given, < `before`.
fn visible_from(mut v: *const Version, visible: SeqNo, before: Option<SeqNo>) -> Option<*const Version> {
    let bound = match before {
        Some(0) => return None,
        Some(b) => visible.min(b - 1),
        None => visible,
    };
    while !v.is_null() {
        if unsafe { (*v).seq } <= bound {
            return Some(v);
        }
        v = unsafe { (*v).prev };
    }
    None
}

/// The newest version of the key of `h` visible as `visible_from` says.
fn visible_version(h: *const Head, visible: SeqNo, before: Option<SeqNo>) -> Option<*const Version> {
    visible_from(unsafe { (*h).newest }, visible, before)
}

fn entry_of(h: *const Head, v: *const Version) -> Entry {
    let (seq, kind) = unsafe { ((*v).seq, (*v).kind) };
    Entry { key: head_key(h).to_vec(), seq, kind, value: version_value(v).to_vec() }
}

/// A key's place in [`Order`]: its head, with its first 16 bytes inline as
/// two big-endian numbers (zero padded) so that most comparisons end without
/// following the pointer. Server keys start with an 8-byte ring
/// token; keys of the db_bench kind (16 decimal digits) share their first 8
/// bytes, which is why 16.
#[derive(Clone, Copy)]
struct KeyRef {
    prefix: (u64, u64),
    head: *mut Head,
}

/// The first 16 bytes as two zero-padded big-endian numbers; like
/// `key_prefix`, they order like the keys whenever they differ.
fn prefix16(key: &[u8]) -> (u64, u64) {
    (key_prefix(key), key_prefix(key.get(8..).unwrap_or_default()))
}

impl Ord for KeyRef {
    fn cmp(&self, other: &Self) -> Ordering {
        match self.prefix.cmp(&other.prefix) {
            Ordering::Equal => head_key(self.head).cmp(head_key(other.head)),
            o => o,
        }
    }
}
impl PartialOrd for KeyRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for KeyRef {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for KeyRef {}

/// A search key for `key` in [`Order`]: a head laid out like the arena's, in a
/// heap buffer of its own (u64s, for the head's alignment), so moving the
/// `Probe` does not move what its `KeyRef` points to. The buffer is reused
/// from probe to probe on a thread (scans make one per entry).
struct Probe {
    buf: Vec<u64>,
    prefix: (u64, u64),
}

thread_local! {
    static PROBE_BUF: Cell<Vec<u64>> = const { Cell::new(Vec::new()) };
}

impl Probe {
    fn new(key: &[u8]) -> Probe {
        let len = size_of::<Head>() + key.len();
        let mut buf = PROBE_BUF.with(Cell::take);
        buf.clear();
        buf.resize(len.div_ceil(8), 0);
        let base = buf.as_mut_ptr().cast::<u8>();
        let key_len = u32::try_from(key.len()).expect("keys are bounded far below 4 GiB");
        // SAFETY: `buf` holds `len` bytes, 8-aligned; the head then the key fit.
        unsafe {
            ptr::write(base.cast::<Head>(), Head { newest: ptr::null_mut(), newest_seq: 0, key_len });
            ptr::copy_nonoverlapping(key.as_ptr(), base.add(size_of::<Head>()), key.len());
        }
        Probe { buf, prefix: prefix16(key) }
    }

    /// Valid while `self` is.
    fn key_ref(&mut self) -> KeyRef {
        KeyRef { prefix: self.prefix, head: self.buf.as_mut_ptr().cast::<Head>() }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        PROBE_BUF.with(|b| b.set(std::mem::take(&mut self.buf)));
    }
}

/// New keys sorted into a run at once. With the merges a settle makes (at
/// most `MAX_RUN_KEYS` keys moved), most settles took under 0.3 ms and the
/// worst 0.5-1.2 ms, over 500k new keys (docs/ARCHITECTURE.md).
const RUN_KEYS: usize = if cfg!(test) { 4 } else { 8 << 10 };
/// Runs are not merged beyond this, and a settle moves at most this many
/// keys, so no merge stalls the shard for long; a 64 MiB memtable of small
/// values ends with ~10 runs for a scan to merge.
const MAX_RUN_KEYS: usize = if cfg!(test) { 16 } else { 64 << 10 };

/// The keys in key order, as a few sorted runs and a tail of new keys in
/// arrival order. An insert of a new key is a push; a B-tree insert of a key
/// at a random place cost ~10% of a shard's time under redis-benchmark SETs
/// of new keys (its nodes are not in the CPU's caches). Once `RUN_KEYS` new
/// keys are here, or an ordered read comes, the tail is sorted into a run,
/// and runs of about equal size are merged (a binary counter, up to
/// `MAX_RUN_KEYS`), so there are O(log n) runs below the cap. A walk merges
/// the runs. Every key is in exactly one place.
#[derive(Default)]
struct Order {
    fresh: Vec<KeyRef>,
    /// Sorted, disjoint.
    runs: Vec<Vec<KeyRef>>,
}

impl Order {
    fn push(&mut self, k: KeyRef) {
        self.fresh.push(k);
        if self.fresh.len() >= RUN_KEYS {
            self.settle();
        }
    }

    /// Sort the new keys into a run and merge runs as the policy says.
    fn settle(&mut self) {
        if self.fresh.is_empty() {
            return;
        }
        let mut run = std::mem::take(&mut self.fresh);
        run.sort_unstable();
        self.runs.push(run);
        // Merging moves keys: at most `MAX_RUN_KEYS` of them per settle, so
        // that one settle's stall is bounded (a merge left out is made by a
        // later settle, once the runs after it have grown to its size).
        let mut budget = MAX_RUN_KEYS;
        while let [.., a, b] = &self.runs[..] {
            let moved = a.len() + b.len();
            if a.len() > 2 * b.len() || moved > budget {
                break;
            }
            budget -= moved;
            let b = self.runs.pop().expect("two runs");
            let a = self.runs.pop().expect("two runs");
            self.runs.push(merge(&a, &b));
        }
    }

    fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.runs.is_empty()
    }

    /// The keys from `lower` on, in order. Only after [`Order::settle`]: new
    /// keys not yet in a run are not walked.
    fn walk(&self, lower: Bound<&KeyRef>) -> Walk<'_> {
        debug_assert!(self.fresh.is_empty(), "settle before walking");
        let at = self
            .runs
            .iter()
            .map(|r| match lower {
                Bound::Unbounded => 0,
                Bound::Included(k) => r.partition_point(|x| x < k),
                Bound::Excluded(k) => r.partition_point(|x| x <= k),
            })
            .collect();
        Walk { runs: &self.runs, at }
    }
}

/// Two sorted, disjoint runs as one.
fn merge(a: &[KeyRef], b: &[KeyRef]) -> Vec<KeyRef> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        if x < y {
            out.push(*x);
            i += 1;
        } else {
            out.push(*y);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// A merge of [`Order`]'s runs from a lower bound: each run's next key, and
/// the smallest of them next (the runs are few).
struct Walk<'a> {
    runs: &'a [Vec<KeyRef>],
    at: Vec<usize>,
}

impl<'a> Iterator for Walk<'a> {
    type Item = &'a KeyRef;
    fn next(&mut self) -> Option<&'a KeyRef> {
        let mut best: Option<(usize, &'a KeyRef)> = None;
        for (i, r) in self.runs.iter().enumerate() {
            if let Some(k) = r.get(self.at[i]) {
                if best.is_none_or(|(_, b)| k < b) {
                    best = Some((i, k));
                }
            }
        }
        let (i, k) = best?;
        self.at[i] += 1;
        Some(k)
    }
}

/// Append-only storage in chunks that never move. Records are 8-aligned
/// (chunks are `u64`s). Chunks are only ever accessed through
/// `Vec::as_mut_ptr` (their length stays 0), so pointers handed out stay
/// valid as more records are written.
#[derive(Default)]
struct Arena {
    chunks: Vec<Vec<u64>>,
    /// Bytes used in the last chunk.
    used: usize,
}

const ARENA_CHUNK_BYTES: usize = 1 << 20;
/// Spare chunks kept per thread unless [`reserve_arena`] asked for more:
/// about one 64 MiB memtable's worth.
const DEFAULT_SPARE_CHUNKS: usize = 80;

thread_local! {
    /// Chunks of freed memtables, reused by the next ones on this thread (one
    /// shard per thread). Fresh memory costs a page fault and the kernel
    /// zeroing each page: 11% of the server's samples under SET before this.
    static SPARE_CHUNKS: RefCell<Vec<Vec<u64>>> = const { RefCell::new(Vec::new()) };
    /// How many spare chunks this thread keeps: one memtable's worth, as
    /// [`reserve_arena`] last set it.
    static SPARE_CAP: Cell<usize> = const { Cell::new(DEFAULT_SPARE_CHUNKS) };
    /// The point index of the last freed memtable, emptied, for the next
    /// one: grown from nothing, each memtable's index rehashed itself about
    /// 20 times into fresh pages (4% of the server's samples under SET).
    static SPARE_POINTS: RefCell<Option<PointIndex>> = const { RefCell::new(None) };
}

/// The system's page size (4 KiB on x86-64; 16 or 64 KiB on some arm64 kernels).
fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: sysconf only reads a system constant.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 && (n as usize).is_power_of_two() => n as usize,
        _ => 4096,
    })
}

/// Back `mem` with writable pages now, in one call (`MADV_POPULATE_WRITE`,
/// Linux 5.14; elsewhere a no-op hint), instead of one page fault per page
/// as records are written: on a fresh server those faults were ~7% of
/// the shard's samples under SETs of new keys. A hint only.
fn populate<T>(mem: &mut [T]) {
    if cfg!(miri) {
        return; // Miri runs no system calls; a hint changes no contents.
    }
    let page = page_size();
    let len = std::mem::size_of_val(mem);
    let addr = mem.as_mut_ptr() as usize;
    let start = addr.next_multiple_of(page);
    let end = (addr + len) & !(page - 1);
    if end > start {
        // SAFETY: the range lies within `mem`, which we own; populating
        // changes no contents. Failure (old kernel, no memory) is ignored.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_POPULATE_WRITE) };
    }
}

/// Back this thread's spare arena chunks with memory now, up to `bytes`
/// worth (one memtable), so that the first memtable's writes take no page
/// faults: on a fresh server, populating chunks as the first memtable filled
/// was ~5% of the shard's samples under SETs of 100 bytes, and ~300 ns per
/// SET of 1 KiB once a 256 MiB memtable outgrew the 80 chunks reserved
/// before. The thread keeps that many spare chunks from then on (at least
/// [`DEFAULT_SPARE_CHUNKS`]), so a freed memtable gives its successors a
/// whole memtable's worth back. Spare chunks are kept anyway once a memtable
/// has been freed; this only takes that memory at start instead of under
/// the first writes.
pub fn reserve_arena(bytes: usize) {
    let want = bytes.div_ceil(ARENA_CHUNK_BYTES);
    SPARE_CAP.with(|cap| cap.set(cap.get().max(want)));
    SPARE_CHUNKS.with(|s| {
        let mut spare = s.borrow_mut();
        while spare.len() < want {
            spare.push(populated_chunk(ARENA_CHUNK_BYTES));
        }
    });
}

/// A fresh arena chunk of at least `bytes`, backed with memory at once.
fn populated_chunk(bytes: usize) -> Vec<u64> {
    let mut c: Vec<u64> = Vec::with_capacity(bytes.div_ceil(8));
    populate(c.spare_capacity_mut());
    c
}

impl Arena {
    fn new_chunk(need: usize) -> Vec<u64> {
        if need <= ARENA_CHUNK_BYTES {
            if let Some(c) = SPARE_CHUNKS.with(|s| s.borrow_mut().pop()) {
                return c;
            }
        }
        populated_chunk(need.max(ARENA_CHUNK_BYTES))
    }

    /// Room for `n` bytes at an 8-aligned address.
    fn alloc(&mut self, n: usize) -> *mut u8 {
        let start = self.used.next_multiple_of(8);
        let fits = self.chunks.last().is_some_and(|c| c.capacity() * 8 >= start + n);
        let start = if fits {
            start
        } else {
            self.chunks.push(Self::new_chunk(n));
            0
        };
        self.used = start + n;
        let c = self.chunks.last_mut().expect("a chunk was just ensured");
        // SAFETY: `start + n` is within the chunk's capacity.
        unsafe { c.as_mut_ptr().cast::<u8>().add(start) }
    }

    fn head(&mut self, key: &[u8]) -> *mut Head {
        let key_len = u32::try_from(key.len()).expect("keys are bounded far below 4 GiB");
        let p = self.alloc(size_of::<Head>() + key.len());
        // SAFETY: `p` has room for the head and the key (`alloc`).
        unsafe {
            ptr::write(p.cast::<Head>(), Head { newest: ptr::null_mut(), newest_seq: 0, key_len });
            ptr::copy_nonoverlapping(key.as_ptr(), p.add(size_of::<Head>()), key.len());
        }
        p.cast()
    }

    fn version(&mut self, seq: SeqNo, kind: ValueKind, value: &[u8]) -> *mut Version {
        let value_len = u32::try_from(value.len()).expect("values are bounded far below 4 GiB");
        let p = self.alloc(size_of::<Version>() + value.len());
        // SAFETY: `p` has room for the version and the value (`alloc`).
        unsafe {
            ptr::write(p.cast::<Version>(), Version { prev: ptr::null_mut(), seq, value_len, slack: 0, kind });
            ptr::copy_nonoverlapping(value.as_ptr(), p.add(size_of::<Version>()), value.len());
        }
        p.cast()
    }

    /// Give every chunk back to the spare list (or to the allocator).
    fn release(&mut self) {
        let cap = SPARE_CAP.with(Cell::get);
        SPARE_CHUNKS.with(|s| {
            let mut spare = s.borrow_mut();
            for c in self.chunks.drain(..) {
                if c.capacity() * 8 == ARENA_CHUNK_BYTES && spare.len() < cap {
                    spare.push(c);
                }
            }
        });
        self.used = 0;
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        self.release();
    }
}

/// Bytes charged per version on top of its value (header, alignment).
const VERSION_OVERHEAD_BYTES: usize = size_of::<Version>() + 4;
/// Bytes charged per distinct key on top of its bytes: head and alignment,
/// its place in a run of [`Order`] (and a share of a merge's copy), its
/// point index slot and tag (at the index's fullest, 3/4).
const KEY_OVERHEAD_BYTES: usize = size_of::<Head>() + 4 + size_of::<KeyRef>() + 8 + (size_of::<Point>() + 1) * 4 / 3;

/// A slot of the point index: a key's hash, its head and, as the head has
/// it, its newest version (so a read loads head and version at once instead
/// of one after the other), with that version's room for a value. Meaningful
/// only where its tag is set ([`PointIndex`]).
#[derive(Clone, Copy, bytemuck::Zeroable)]
struct Point {
    hash: u64,
    head: *mut Head,
    newest: *mut Version,
    /// The newest version's `value_len + slack`, which an overwrite in place
    /// keeps: how much of it [`Memtable::prefetch_entry`] loads.
    room: u32,
}

/// The point index: each distinct key's [`Point`] by the key's 64-bit hash,
/// open addressing with linear probing, at most 3/4 full. Keys are never
/// removed (a memtable only grows), so there are no tombstones. Its own table
/// rather than a `HashMap` so that a slot's address follows from the hash
/// alone, which is what lets a caller prefetch it.
///
/// Beside the slots, one tag byte per slot (0: empty, else 0x80 | the hash's
/// top 7 bits), dense enough to stay in the CPU's caches: a probe for an
/// absent key (every memtable a read passes on its way to the tables) reads
/// tags only, and a slot only on a tag match. Without them each such probe
/// was a cache miss on a slot: the engine's readmissing took twice as long.
struct PointIndex {
    /// A power of two long (or empty), as `slots`.
    tags: ZeroedSlice<u8>,
    /// Meaningful only where the tag is not 0.
    slots: ZeroedSlice<Point>,
    len: usize,
    /// Tags from here on may still be set: a freed index is emptied in slices
    /// (`clear_some`) before the next memtable reuses it.
    dirty_from: usize,
}

const MIN_POINT_SLOTS: usize = 16;

/// How much of a value [`Memtable::prefetch_entry`] loads ahead: a longer one
/// is read or written in order, which the hardware's own prefetcher follows.
const PREFETCH_VALUE_MAX: usize = 2048;

/// Zeroed slices this large or larger are mapped from the kernel.
const MAP_MIN_BYTES: usize = 1 << 20;

/// A slice of zeroed memory. A large one is an anonymous mapping of its own:
/// the kernel backs its pages as they are first touched, and nothing clears
/// them first. From the allocator, a large zeroed allocation that reuses
/// freed memory is cleared with memset, and faulted in, at once: making a
/// new memtable's point index (~12.5 MiB by default) so took 5 ms, holding
/// the shard in the write that sealed the memtable before it
/// (docs/benchmarks.md, twenty-fourth pass).
struct ZeroedSlice<T: bytemuck::Zeroable + Copy> {
    ptr: ptr::NonNull<T>,
    len: usize,
    mapped: bool,
}

impl<T: bytemuck::Zeroable + Copy> ZeroedSlice<T> {
    fn new(len: usize) -> Self {
        let layout = std::alloc::Layout::array::<T>(len).expect("a point index fits in memory");
        if layout.size() == 0 {
            return ZeroedSlice { ptr: ptr::NonNull::dangling(), len, mapped: false };
        }
        // Miri runs no system calls.
        let mapped = layout.size() >= MAP_MIN_BYTES && !cfg!(miri);
        let p = if mapped {
            // SAFETY: a fresh private anonymous mapping; no address asked for.
            let p = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    layout.size(),
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                std::alloc::handle_alloc_error(layout);
            }
            p.cast::<T>()
        } else {
            // SAFETY: the layout's size is not zero.
            unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>()
        };
        let ptr = ptr::NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        ZeroedSlice { ptr, len, mapped }
    }
}

impl<T: bytemuck::Zeroable + Copy> std::ops::Deref for ZeroedSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` zeroed (so valid: `Zeroable`) or since written `T`s,
        // owned by this slice, aligned (page-aligned or from the allocator).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: bytemuck::Zeroable + Copy> std::ops::DerefMut for ZeroedSlice<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for `deref`, and `&mut self` makes it the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: bytemuck::Zeroable + Copy> Drop for ZeroedSlice<T> {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::array::<T>(self.len).expect("made with this layout");
        if layout.size() == 0 {
            return;
        }
        // SAFETY: made by `new` with this layout, this way; `T: Copy` needs
        // no drop.
        unsafe {
            if self.mapped {
                libc::munmap(self.ptr.as_ptr().cast(), layout.size());
            } else {
                std::alloc::dealloc(self.ptr.as_ptr().cast(), layout);
            }
        }
    }
}

fn tag(hash: u64) -> u8 {
    0x80 | (hash >> 57) as u8
}

impl PointIndex {
    /// Room for `keys` keys before growing.
    fn with_capacity(keys: usize) -> Self {
        let n = (keys.saturating_mul(4) / 3 + 1).next_power_of_two().max(MIN_POINT_SLOTS);
        // All tags empty. The slots are written before they are read.
        PointIndex { tags: ZeroedSlice::new(n), slots: ZeroedSlice::new(n), len: 0, dirty_from: 0 }
    }

    /// Back its tags and slots with memory now (see [`populate`]).
    fn populate(&mut self) {
        populate(&mut self.tags);
        populate(&mut self.slots);
    }

    /// Keys it holds before it must grow.
    fn capacity(&self) -> usize {
        self.slots.len() / 4 * 3
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & (self.slots.len() - 1)
    }

    /// The slot of `key` (Ok), or the empty slot where it would go (Err).
    /// The table is never full, so the probe ends.
    fn find(&self, hash: u64, key: &[u8]) -> Result<usize, usize> {
        let (mask, t) = (self.slots.len() - 1, tag(hash));
        let mut i = self.home(hash);
        loop {
            match self.tags[i] {
                0 => return Err(i),
                x if x == t && self.slots[i].hash == hash && head_key(self.slots[i].head) == key => return Ok(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Fill slot `i` (an empty one `find` gave, or the key's own).
    fn set(&mut self, i: usize, p: Point) {
        self.tags[i] = tag(p.hash);
        self.slots[i] = p;
    }

    /// Make room for one more key (so a slot found before an insert stays
    /// valid through it).
    fn reserve_one(&mut self) {
        if self.len < self.capacity() {
            return;
        }
        let old = std::mem::replace(self, PointIndex::with_capacity(self.capacity() * 2));
        let mask = self.slots.len() - 1;
        for (p, _) in old.slots.iter().zip(old.tags.iter()).filter(|(_, &t)| t != 0) {
            let mut i = self.home(p.hash);
            while self.tags[i] != 0 {
                i = (i + 1) & mask;
            }
            self.set(i, *p);
        }
        self.len = old.len;
    }

    /// Empty up to `n` more slots of a freed index; true once all are empty.
    fn clear_some(&mut self, n: usize) -> bool {
        let end = self.dirty_from.saturating_add(n).min(self.tags.len());
        self.tags[self.dirty_from..end].fill(0);
        self.dirty_from = end;
        if end == self.tags.len() {
            self.len = 0;
        }
        self.len == 0
    }
}

#[derive(Default)]
pub struct Memtable {
    // Declared before `arena`: both point into it.
    order: RefCell<Order>,
    /// Each key's head by its hash ([`key_hash`]), so that point reads and
    /// overwrites need no ordered search.
    points: RefCell<PointIndex>,
    arena: RefCell<Arena>,
    bytes: Cell<usize>,
    /// What the inserts would have taken with no overwrite in place.
    logged: Cell<usize>,
    /// Live [`Reading`]s: while there is one, no version is overwritten.
    readers: Cell<usize>,
    versions: Cell<usize>,
    max_seq: Cell<SeqNo>,
    min_seq: Cell<SeqNo>,
}

/// A reader's hold on a memtable, for reads of versions older than a key's
/// newest (a scan at its barrier): while one exists, [`Memtable::insert`]
/// keeps every version.
pub struct Reading(Rc<Memtable>);

impl Reading {
    pub fn new(mem: Rc<Memtable>) -> Self {
        mem.readers.set(mem.readers.get() + 1);
        Reading(mem)
    }
}

impl std::ops::Deref for Reading {
    type Target = Memtable;
    fn deref(&self) -> &Memtable {
        &self.0
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.0.readers.set(self.0.readers.get() - 1);
    }
}

/// How long a value may take the place of `v`'s: `value_len + slack`.
///
/// # Safety
/// `v` is a version record in a live arena.
unsafe fn version_room(v: *const Version) -> u32 {
    (*v).value_len.saturating_add(u32::from((*v).slack))
}

/// Overwrite `head`'s newest version with a newer one, in place, if it is
/// older than `seq` and the value fits in its room. False: nothing changed.
///
/// # Safety
/// `head` is a linked-in head of this memtable's arena, and no one may read
/// the version it overwrites (no `Reading`: every other read is of the newest).
unsafe fn overwrite_in_place(head: *mut Head, seq: SeqNo, kind: ValueKind, value: &[u8]) -> bool {
    let v = (*head).newest;
    if v.is_null() || (*head).newest_seq >= seq {
        return false;
    }
    let room = version_room(v) as usize;
    let Some(slack) = room.checked_sub(value.len()).and_then(|s| u16::try_from(s).ok()) else { return false };
    ptr::copy_nonoverlapping(value.as_ptr(), v.cast::<u8>().add(size_of::<Version>()), value.len());
    (*v).value_len = value.len() as u32;
    (*v).slack = slack;
    (*v).seq = seq;
    (*v).kind = kind;
    (*head).newest_seq = seq;
    true
}

impl Default for PointIndex {
    fn default() -> Self {
        PointIndex::with_capacity(0)
    }
}

/// The hash the memtable indexes `key` by, for [`Memtable::prefetch_slot`]
/// and [`Memtable::prefetch_entry`]. Unit tests fold it into 64 values, so
/// that different keys share a hash often and the key comparison is tested.
pub fn key_hash(key: &[u8]) -> u64 {
    index_hash(xxh3_64(key))
}

/// [`key_hash`] of a key whose `xxh3_64` is `h`: the same value, but for
/// the unit tests' fold (tables index keys by the unfolded hash).
pub fn index_hash(h: u64) -> u64 {
    if cfg!(test) {
        h % 64
    } else {
        h
    }
}

impl Memtable {
    pub fn new() -> Self {
        Self::with_expected_keys(0)
    }

    /// A memtable whose point index has room for `keys` keys from the start
    /// (or, if larger, the index a freed memtable left): growing it from
    /// nothing rehashes it about 20 times. Room not filled is address space
    /// the kernel never backs.
    pub fn with_expected_keys(keys: usize) -> Self {
        let points = match SPARE_POINTS.with(|s| s.borrow_mut().take()) {
            Some(p) if p.capacity() >= keys => p,
            _ => PointIndex::with_capacity(keys),
        };
        Memtable { points: RefCell::new(points), ..Self::default() }
    }

    /// Back its point index with memory now, rather than a page fault at a
    /// time as keys land at random places in it.
    pub fn populate_index(&self) {
        self.points.borrow_mut().populate();
    }

    /// Add a version of `key`. A newer version of a key already here takes
    /// the place of the newest one, if it fits and no [`Reading`] exists:
    /// every other read wants only the newest, so an overwrite-heavy load
    /// neither grows the memtable nor fills it towards a flush (the WAL
    /// still grows: see [`Memtable::logged_bytes`]).
    pub fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        self.insert_hashed(key, key_hash(key), seq, kind, value);
    }

    /// [`insert`](Self::insert) of a key whose [`key_hash`] the caller has.
    pub fn insert_hashed(&self, key: &[u8], hash: u64, seq: SeqNo, kind: ValueKind, value: &[u8]) {
        debug_assert_eq!(hash, key_hash(key));
        self.max_seq.set(self.max_seq.get().max(seq));
        if self.min_seq.get() == 0 || seq < self.min_seq.get() {
            self.min_seq.set(seq);
        }
        let mut bytes = value.len() + VERSION_OVERHEAD_BYTES;
        self.logged.set(self.logged.get() + key.len() + bytes);
        let mut points = self.points.borrow_mut();
        points.reserve_one();
        let found = points.find(hash, key);
        if let Ok(i) = found {
            // SAFETY: a linked-in head; with no reader, no one reads past the newest.
            if self.readers.get() == 0 && unsafe { overwrite_in_place(points.slots[i].head, seq, kind, value) } {
                return;
            }
        }
        let mut arena = self.arena.borrow_mut();
        let v = arena.version(seq, kind, value);
        let (slot, head) = match found {
            Ok(i) => (i, points.slots[i].head),
            Err(i) => {
                let h = arena.head(key);
                self.order.borrow_mut().push(KeyRef { prefix: prefix16(key), head: h });
                points.len += 1;
                bytes += key.len() + KEY_OVERHEAD_BYTES;
                (i, h)
            }
        };
        // SAFETY: `head` and `v` are arena records (see the note on `head_key`).
        unsafe {
            if (*head).newest.is_null() || (*head).newest_seq < seq {
                // The usual case: versions arrive in sequence order.
                (*v).prev = (*head).newest;
                (*head).newest = v;
                (*head).newest_seq = seq;
                self.versions.set(self.versions.get() + 1);
            } else {
                // An older version (or the same one again): walk to its place.
                let mut at: *mut *mut Version = &raw mut (*head).newest;
                while !(*at).is_null() && (**at).seq > seq {
                    at = &raw mut (**at).prev;
                }
                if !(*at).is_null() && (**at).seq == seq {
                    // As a map insert of the same entry would: the later write wins.
                    (*v).prev = (**at).prev;
                    bytes = 0;
                } else {
                    (*v).prev = *at;
                    self.versions.set(self.versions.get() + 1);
                }
                *at = v;
            }
            let newest = (*head).newest;
            points.set(slot, Point { hash, head, newest, room: version_room(newest) });
        }
        self.bytes.set(self.bytes.get() + bytes);
    }

    /// Newest version of `key` with seq <= `visible`.
    pub fn get(&self, key: &[u8], visible: SeqNo) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
        self.get_hashed(key, key_hash(key), visible)
    }

    /// [`get`](Self::get) of a key whose [`key_hash`] is `hash`, for a caller
    /// that looks in several memtables and hashes once.
    pub fn get_hashed(&self, key: &[u8], hash: u64, visible: SeqNo) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
        self.get_hashed_with(key, hash, visible, |seq, kind, value| (seq, kind, value.to_vec()))
    }

    /// [`get_hashed`](Self::get_hashed), giving `f` the version's value in
    /// place instead of a copy.
    pub fn get_hashed_with<T>(
        &self,
        key: &[u8],
        hash: u64,
        visible: SeqNo,
        f: impl FnOnce(SeqNo, ValueKind, &[u8]) -> T,
    ) -> Option<T> {
        let newest = {
            let points = self.points.borrow();
            points.slots[points.find(hash, key).ok()?].newest
        };
        let v = visible_from(newest, visible, None)?;
        // SAFETY: an arena record (see the note on `head_key`).
        let (seq, kind) = unsafe { ((*v).seq, (*v).kind) };
        Some(f(seq, kind, version_value(v)))
    }

    /// Start loading the index slot of the key with this [`key_hash`]: the
    /// first of the two loads a read or insert of it waits on. A hint only.
    pub fn prefetch_slot(&self, hash: u64) {
        let points = self.points.borrow();
        let i = points.home(hash);
        prefetch(&points.tags[i]);
        let p = &points.slots[i];
        prefetch(p);
        // A slot may straddle two cache lines.
        prefetch((p as *const Point).cast::<u8>().wrapping_add(size_of::<Point>() - 1));
    }

    /// Start loading the head and newest version of the key with this
    /// [`key_hash`], if the index has it: the second load. Reads the slot, so
    /// it is best some time after [`Memtable::prefetch_slot`]. A hint only.
    pub fn prefetch_entry(&self, hash: u64) {
        let points = self.points.borrow();
        let mask = points.slots.len() - 1;
        let (mut i, t) = (points.home(hash), tag(hash));
        // A few slots at most: a longer probe is rare.
        for _ in 0..4 {
            match points.tags[i] {
                0 => return,
                x if x == t && points.slots[i].hash == hash => {
                    let p = &points.slots[i];
                    prefetch(p.head);
                    // The version's header, then its value (up to
                    // `PREFETCH_VALUE_MAX`). Loading only the first two lines
                    // left RESP GETs of 1 KiB 14% slower and SETs 4%
                    // (docs/benchmarks.md, thirty-first pass).
                    let at = p.newest as usize;
                    let end = at + size_of::<Version>() + (p.room as usize).min(PREFETCH_VALUE_MAX);
                    for line in (at & !63..end).step_by(64) {
                        prefetch(line as *const u8);
                    }
                }
                _ => {}
            }
            i = (i + 1) & mask;
        }
    }

    /// The first entry after `after` (exclusive) or at/after `seek` (inclusive),
    /// skipping versions newer than `visible`.
    pub fn next_entry(&self, pos: &Cursor, visible: SeqNo) -> Option<Entry> {
        self.next_entries(pos, visible, 1).pop()
    }

    /// Up to `max` entries from `pos` on, in internal order, skipping versions
    /// newer than `visible`: fewer only at the end. One search per call, so
    /// a scan takes its entries in runs instead of searching for each; no
    /// borrow outlives the call (a scan awaits between runs).
    pub fn next_entries(&self, pos: &Cursor, visible: SeqNo, max: usize) -> Vec<Entry> {
        let (from, older_than) = match pos {
            Cursor::Start => (None, None),
            Cursor::AtOrAfter(key) => (Some(key.as_slice()), None),
            // Older versions of the same key come first, then the next keys.
            Cursor::After(key, seq) => (Some(key.as_slice()), Some(*seq)),
        };
        let mut order = self.order.borrow_mut();
        order.settle();
        let mut probe = from.map(Probe::new);
        let lower = probe.as_mut().map(|p| p.key_ref());
        let mut out = Vec::with_capacity(max);
        for (i, k) in order.walk(lower.as_ref().map_or(Bound::Unbounded, Bound::Included)).enumerate() {
            // The visible versions of `k`, newest first; of the cursor's own
            // key, only those older than where it stopped.
            let mut before = if i == 0 && from == Some(head_key(k.head)) { older_than } else { None };
            while out.len() < max {
                let Some(v) = visible_version(k.head, visible, before) else { break };
                out.push(entry_of(k.head, v));
                // SAFETY: an arena record (see the note on `head_key`).
                before = Some(unsafe { (*v).seq });
            }
            if out.len() == max {
                break;
            }
        }
        out
    }

    /// What the inserts so far would have taken without overwrites in
    /// place: about what they added to the WAL since this memtable started
    /// (or since [`relogged`](Self::relogged)).
    pub fn logged_bytes(&self) -> usize {
        self.logged.get()
    }

    /// The engine wrote this memtable's newest versions to the WAL again,
    /// numbered up to `through`, and released the WAL before them: it now
    /// stands for `dropped` fewer logged bytes, and its flush must cover
    /// those numbers too.
    pub fn relogged(&self, through: SeqNo, dropped: usize) {
        self.logged.set(self.logged.get().saturating_sub(dropped));
        self.max_seq.set(self.max_seq.get().max(through));
    }

    /// Approximate memory used, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes.get()
    }
    /// Versions held.
    pub fn len(&self) -> usize {
        self.versions.get()
    }
    pub fn is_empty(&self) -> bool {
        self.order.borrow().is_empty()
    }
    pub fn max_seq(&self) -> SeqNo {
        self.max_seq.get()
    }

    /// The newest version of up to `max` keys after `after` (exclusive; None:
    /// from the start), in key order, for flushing a sealed memtable (or
    /// re-logging the active one) in slices so the shard can yield between
    /// them: no snapshots exist, so a table needs no older versions, and the
    /// walk does not touch them. `f` returning false ends the slice after
    /// that key. Returns where to go on from (None: done).
    pub fn for_each_newest_after(
        &self,
        after: Option<Vec<u8>>,
        max: usize,
        mut f: impl FnMut(&[u8], SeqNo, ValueKind, &[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let mut order = self.order.borrow_mut();
        order.settle();
        let mut probe = after.as_deref().map(Probe::new);
        let lower = probe.as_mut().map(|p| p.key_ref());
        // The slice's keys, merged from the runs once: the prefetches below
        // look ahead in it.
        let walk = order.walk(lower.as_ref().map_or(Bound::Unbounded, Bound::Excluded));
        let keys: Vec<*mut Head> = walk.take(max.saturating_add(1)).map(|k| k.head).collect();
        let more = keys.len() > max;
        let keys = &keys[..keys.len().min(max)];
        // Each key costs two dependent cache misses, its head then its newest
        // version: start them ahead, heads `2 * AHEAD` keys ahead, versions
        // (from heads that have arrived by then) `AHEAD` keys ahead.
        const AHEAD: usize = 4;
        for &h in keys.iter().take(2 * AHEAD) {
            prefetch(h);
        }
        for (n, &h) in keys.iter().enumerate() {
            if let Some(&next) = keys.get(n + 2 * AHEAD) {
                prefetch(next);
            }
            if let Some(&next) = keys.get(n + AHEAD) {
                // SAFETY: an arena record (see the note on `head_key`).
                prefetch(unsafe { (*next).newest });
            }
            // SAFETY: arena records (see the note on `head_key`).
            let v: *const Version = unsafe { (*h).newest };
            let (seq, kind) = unsafe { ((*v).seq, (*v).kind) };
            if !f(head_key(h), seq, kind, version_value(v)) && n + 1 < keys.len() {
                return Some(head_key(h).to_vec());
            }
        }
        more.then(|| keys.last().map(|&h| head_key(h).to_vec())).flatten()
    }

    /// Release about `n` keys' worth; true once empty. For releasing a
    /// flushed memtable in slices: its point index is emptied a slice at a
    /// time (the order's runs are a few large vectors, freed at once). Only
    /// for a memtable no reader can see any more.
    pub fn release_some(&self, n: usize) -> bool {
        *self.order.borrow_mut() = Order::default();
        // No reader can see this memtable any more: its point index, emptied
        // in slices, goes to the next memtable (the larger one, if one is
        // spare already).
        if !self.points.borrow_mut().clear_some(n.saturating_mul(8)) {
            return false;
        }
        let points = std::mem::replace(&mut *self.points.borrow_mut(), PointIndex::with_capacity(0));
        if points.slots.len() > MIN_POINT_SLOTS {
            SPARE_POINTS.with(|s| {
                let mut spare = s.borrow_mut();
                if spare.as_ref().is_none_or(|p| p.capacity() < points.capacity()) {
                    *spare = Some(PointIndex { dirty_from: 0, ..points });
                }
            });
        }
        self.arena.borrow_mut().release();
        true
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
    fn zeroed_slices_start_zero_large_ones_mapped() {
        for (len, mapped) in [(0, false), (16, false), (MAP_MIN_BYTES / 24 + 1, true)] {
            let mut z = ZeroedSlice::<Point>::new(len);
            assert_eq!((z.len(), z.mapped), (len, mapped && !cfg!(miri)));
            assert!(z.iter().all(|p| p.hash == 0 && p.head.is_null() && p.newest.is_null()));
            if let Some(last) = z.last_mut() {
                last.hash = 7;
            }
            assert_eq!(z.iter().map(|p| p.hash).sum::<u64>(), if len > 0 { 7 } else { 0 });
        }
        let mut tags = ZeroedSlice::<u8>::new(MAP_MIN_BYTES);
        populate(&mut tags);
        assert!(tags.iter().all(|&t| t == 0));
    }

    #[test]
    fn newest_visible_version_wins() {
        let m = Rc::new(Memtable::new());
        let _reading = Reading::new(m.clone()); // keep the older versions
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
        let m = Rc::new(Memtable::new());
        let _reading = Reading::new(m.clone()); // keep the older versions
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
mod populate_tests {
    use super::*;

    /// Resident pages of `len` bytes at page-aligned `addr`.
    fn resident(addr: *mut libc::c_void, len: usize) -> usize {
        let mut vec = vec![0u8; len.div_ceil(page_size())];
        // SAFETY: `vec` has one byte per page of the range.
        assert_eq!(unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) }, 0);
        vec.iter().filter(|&&b| b & 1 == 1).count()
    }

    /// Fresh pages of our own (an allocator may hand out touched ones): a
    /// mapping, page-aligned.
    fn fresh(len: usize) -> ZeroedSlice<u8> {
        let z = ZeroedSlice::<u8>::new(len.max(MAP_MIN_BYTES));
        assert!(z.mapped);
        z
    }

    /// Does this kernel populate (Linux 5.14)? Else `populate` is a no-op.
    fn populates() -> bool {
        if cfg!(miri) {
            return false; // `populate` is a no-op there
        }
        let mut probe = fresh(page_size());
        // SAFETY: our own mapping, at least a page long.
        unsafe { libc::madvise(probe.as_mut_ptr().cast(), page_size(), libc::MADV_POPULATE_WRITE) == 0 }
    }

    #[test]
    #[cfg_attr(miri, ignore = "mmap, madvise and mincore are system calls")]
    fn a_populated_chunk_is_backed_before_it_is_written() {
        if !populates() {
            eprintln!("MADV_POPULATE_WRITE unsupported here: nothing to check");
            return;
        }
        let len = 1 << 20;
        let mut chunk = fresh(len);
        let p = chunk.as_mut_ptr().cast::<libc::c_void>();
        assert_eq!(resident(p, len), 0);
        populate(&mut chunk);
        assert_eq!(resident(p, len), len / page_size());
    }

    fn spare_chunks() -> usize {
        SPARE_CHUNKS.with(|s| s.borrow().len())
    }

    #[test]
    fn a_reserved_arena_is_what_the_first_memtable_writes_into() {
        // Each test runs on a thread of its own: no spare chunks yet.
        assert_eq!(spare_chunks(), 0);
        reserve_arena(3 * ARENA_CHUNK_BYTES - 1);
        assert_eq!(spare_chunks(), 3);
        reserve_arena(ARENA_CHUNK_BYTES);
        assert_eq!(spare_chunks(), 3, "a reserve tops the spares up, never beyond what it asks");
        if populates() {
            let page = page_size();
            SPARE_CHUNKS.with(|s| {
                for c in s.borrow_mut().iter_mut() {
                    let start = (c.as_mut_ptr() as usize).next_multiple_of(page);
                    let end = (c.as_mut_ptr() as usize + ARENA_CHUNK_BYTES) & !(page - 1);
                    let len = end - start;
                    assert_eq!(resident(start as *mut libc::c_void, len), len / page, "reserved chunks are backed");
                }
            });
        }
        let m = Memtable::new();
        let value = vec![7u8; 64 << 10];
        for i in 0..24u32 {
            m.insert(&i.to_be_bytes(), u64::from(i) + 1, ValueKind::Value, &value);
        }
        assert_eq!(spare_chunks(), 1, "1.5 MiB of values took two reserved chunks, no fresh ones");
        assert_eq!(m.get(&5u32.to_be_bytes(), SeqNo::MAX).map(|(seq, _, v)| (seq, v.len())), Some((6, 64 << 10)));
        while !m.release_some(1 << 20) {}
        assert_eq!(spare_chunks(), 3);
        // A reserve past the default cap: the thread keeps that many from
        // then on, and no more.
        let many = DEFAULT_SPARE_CHUNKS + 2;
        reserve_arena(many * ARENA_CHUNK_BYTES);
        assert_eq!(spare_chunks(), many);
        let m = Memtable::new();
        let value = vec![7u8; ARENA_CHUNK_BYTES / 2];
        for i in 0..many as u32 + 8 {
            m.insert(&i.to_be_bytes(), u64::from(i) + 1, ValueKind::Value, &value);
        }
        assert_eq!(spare_chunks(), 0, "one value per chunk: every spare taken, then fresh ones");
        while !m.release_some(1 << 20) {}
        assert_eq!(spare_chunks(), many);
        SPARE_CHUNKS.with(|s| s.borrow_mut().clear());
    }
}

#[cfg(test)]
mod slice_tests {
    use super::*;

    #[test]
    fn newest_walk_goes_in_slices_and_release_empties() {
        let m = Memtable::new();
        for i in 0..10u32 {
            m.insert(format!("k{i}").as_bytes(), u64::from(i) + 1, ValueKind::Value, b"v");
        }
        let mut seen = Vec::new();
        let mut pos = None;
        loop {
            pos = m.for_each_newest_after(pos, 3, |k, _, _, _| {
                seen.push(k.to_vec());
                true
            });
            if pos.is_none() {
                break;
            }
        }
        assert_eq!(seen.len(), 10);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert!(!m.release_some(1), "one slice empties 8 of the index's 16 slots");
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
        /// Against a B-tree of (key, seq descending) -> value. With `shuffled`,
        /// sequence numbers come in any order and repeat (a repeat of a key's
        /// version replaces it), which the engine never does but the memtable
        /// allows.
        #[test]
        fn matches_a_sorted_oracle(
            keys in prop::collection::vec(key(), 1..200),
            probes in prop::collection::vec(key(), 0..20),
            visible in 0u64..250,
            shuffled in any::<bool>(),
            seqs in prop::collection::vec(1u64..60, 200),
            value_lens in prop::collection::vec(0usize..12, 200),
            held in any::<bool>(),
        ) {
            let m = Rc::new(Memtable::new());
            // Held: every version stays. Not: a newer version may take the
            // newest one's place, and only reads of the newest are defined.
            let reading = held.then(|| Reading::new(m.clone()));
            let visible = if held { visible } else { SeqNo::MAX };
            let mut oracle = std::collections::BTreeMap::new();
            for (i, k) in keys.iter().enumerate() {
                let seq = if shuffled { seqs[i] } else { i as u64 + 1 };
                let value = (i as u64).to_le_bytes().repeat(2)[..value_lens[i]].to_vec();
                m.insert(k, seq, ValueKind::Value, &value);
                oracle.insert((k.clone(), std::cmp::Reverse(seq)), value);
            }
            let mut oracle: Vec<(Vec<u8>, u64, Vec<u8>)> =
                oracle.into_iter().map(|((k, s), v)| (k, s.0, v)).collect();
            if held {
                prop_assert_eq!(m.len(), oracle.len());
            } else {
                prop_assert!(m.len() <= oracle.len());
                oracle.dedup_by(|b, a| a.0 == b.0);
            }
            // The flush walk: the newest version of each key, in key order.
            let mut walked = Vec::new();
            let mut pos = None;
            loop {
                pos = m.for_each_newest_after(pos, 7, |k, seq, _, v| {
                    walked.push((k.to_vec(), seq, v.to_vec()));
                    true
                });
                if pos.is_none() { break; }
            }
            let mut newest = oracle.clone();
            newest.dedup_by(|b, a| a.0 == b.0);
            prop_assert_eq!(&walked, &newest);
            // A cursor walk at `visible` sees the versions at or below it.
            let mut seen = Vec::new();
            let mut cur = Cursor::Start;
            while let Some(e) = m.next_entry(&cur, visible) {
                seen.push((e.key.clone(), e.seq, e.value));
                cur = Cursor::After(e.key, e.seq);
            }
            if !held {
                // Versions a longer value could not replace stay behind the newest.
                seen.dedup_by(|b, a| a.0 == b.0);
            }
            let want: Vec<_> = oracle.iter().filter(|e| e.1 <= visible).cloned().collect();
            prop_assert_eq!(&seen, &want);
            // Runs of any length, resumed after their last entry, walk the same.
            for run in [1, 2, 3, 5, 64] {
                let mut ran = Vec::new();
                let mut cur = Cursor::Start;
                loop {
                    let got = m.next_entries(&cur, visible, run);
                    prop_assert!(got.len() <= run);
                    let Some(last) = got.last() else { break };
                    cur = Cursor::After(last.key.clone(), last.seq);
                    let short = got.len() < run;
                    ran.extend(got.into_iter().map(|e| (e.key, e.seq, e.value)));
                    if short { break; }
                }
                if !held {
                    ran.dedup_by(|b, a| a.0 == b.0);
                }
                prop_assert_eq!(&ran, &want);
            }
            // Point reads and seeks, of present keys and of probes that may be
            // absent (test builds fold the point index into 64 slots: many collide).
            for k in keys.iter().chain(&probes) {
                let want = oracle.iter().find(|(ok, s, _)| ok == k && *s <= visible).map(|e| (e.1, e.2.clone()));
                prop_assert_eq!(m.get(k, visible).map(|e| (e.0, e.2)), want);
                let want = oracle.iter().find(|(ok, s, _)| ok >= k && *s <= visible).map(|e| (e.0.clone(), e.1));
                let got = m.next_entry(&Cursor::AtOrAfter(k.clone()), visible).map(|e| (e.key, e.seq));
                prop_assert_eq!(got, want);
            }
            drop(reading);
            prop_assert!(m.release_some(usize::MAX) && m.is_empty());
        }
    }

    proptest! {
        /// Ordered walks between inserts: each one settles the new keys into
        /// runs (test builds sort every 4 new keys and merge up to 16), and
        /// inserts after it go on from there.
        #[test]
        fn walks_between_inserts_see_every_key_in_order(
            ops in prop::collection::vec((key(), any::<bool>()), 1..300),
            slice in 1usize..9,
        ) {
            let m = Memtable::new();
            let mut oracle = std::collections::BTreeMap::new();
            for (i, (k, walk)) in ops.iter().enumerate() {
                let seq = i as u64 + 1;
                m.insert(k, seq, ValueKind::Value, b"v");
                oracle.insert(k.clone(), seq);
                if *walk {
                    let mut walked = Vec::new();
                    let mut pos = None;
                    loop {
                        pos = m.for_each_newest_after(pos, slice, |k, seq, _, _| {
                            walked.push((k.to_vec(), seq));
                            true
                        });
                        prop_assert!(walked.len() <= oracle.len(), "a walk that does not end");
                        if pos.is_none() { break; }
                    }
                    let want: Vec<_> = oracle.iter().map(|(k, s)| (k.clone(), *s)).collect();
                    prop_assert_eq!(walked, want);
                    let order = m.order.borrow();
                    prop_assert!(order.runs.iter().all(|r| r.len() <= MAX_RUN_KEYS.max(RUN_KEYS)));
                }
            }
        }
    }

    #[test]
    fn a_reading_keeps_the_versions_it_may_see() {
        let m = Rc::new(Memtable::new());
        m.insert(b"k", 1, ValueKind::Value, b"one");
        let before = m.bytes();
        m.insert(b"k", 2, ValueKind::Value, b"two");
        assert_eq!(m.bytes(), before, "overwritten in place");
        assert_eq!((m.len(), m.get(b"k", 1)), (1, None));
        let r = Reading::new(m.clone());
        m.insert(b"k", 3, ValueKind::Value, b"six");
        assert_eq!(m.get(b"k", 2).map(|e| e.2), Some(b"two".to_vec()), "kept for the reader");
        drop(r);
        // A shorter value takes the place; a longer one than the room does not.
        m.insert(b"k", 4, ValueKind::Tombstone, b"");
        m.insert(b"k", 5, ValueKind::Value, b"ten");
        assert_eq!((m.len(), m.get(b"k", SeqNo::MAX)), (2, Some((5, ValueKind::Value, b"ten".to_vec()))));
        m.insert(b"k", 6, ValueKind::Value, b"seven");
        assert_eq!((m.len(), m.get(b"k", SeqNo::MAX)), (3, Some((6, ValueKind::Value, b"seven".to_vec()))));
        // An older version than the newest never takes its place.
        m.insert(b"k", 5, ValueKind::Value, b"x");
        assert_eq!(m.get(b"k", SeqNo::MAX).map(|e| e.0), Some(6));
        assert!(m.logged_bytes() > m.bytes());
    }
}
