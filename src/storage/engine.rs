//! `Engine<D>`: one shard's LSM tree over a [`Disk`].
//!
//! Write path: validate, pace (compaction debt), assign sequence numbers,
//! append to the WAL's pending group and insert into the memtable, then (in
//! `always` mode) wait for the group commit that covers the write. Readers see
//! every write started before them, but return only once what they read is
//! durable (in `always` mode: synced), so no reader ever sees a write that a
//! crash could take back after it was read.
//!
//! Read path: active memtable, immutable memtables newest first, then the
//! tables the Version names for the key (L0 newest first, then one per level).
//! A point read also searches the memtable flushed last, before the tables
//! (`Inner::flushed`).
//!
//! Background work (flush, compaction, periodic WAL sync) runs in tasks on a
//! low-shares glommio task queue; with `Options::background == false` nothing
//! runs by itself and tests drive `flush()` / `compact_once()` explicitly.
//!
//! Ownership: single-threaded (one shard); `Rc`/`RefCell` inside; no borrow is
//! held across an `.await`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ops::{Bound, ControlFlow};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use rustc_hash::FxHashMap as HashMap;

use crate::storage::batch::{self, encode_header, encode_op, WriteBatch};
use crate::storage::compaction::{CompactionChoice, CompactionStrategy};
use crate::storage::disk::{Disk, DiskFile};
use crate::storage::error::{Error, Result};
use crate::storage::iter::{MergeIter, NewestOnly, Source};
use crate::storage::manifest::ManifestState;
use crate::storage::manifest_file::ManifestFile;
use crate::storage::memtable::{self, Memtable};
use crate::storage::notify::Notify;
use crate::storage::slice::{Slice, SLICE};
use crate::storage::sstable::{hash_key, BlockCache, Table, TableBuilder, TableMeta, TableOptions};
use crate::storage::types::{Entry, SeqNo, ValueKind};
use crate::storage::version::{TableInfo, Version, VersionEdit};
use crate::storage::wal::{SyncMode, Wal, WalOptions};

/// What [`Engine::get_latest`] finds: the newest version's seq and value
/// (None for a deletion), or None if the key was never written.
pub type Latest = Option<(SeqNo, Option<Vec<u8>>)>;

/// What a coming operation on a key reads in the memtables, for
/// [`Engine::prefetch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    /// A point read, or a write that reads the key first: every memtable a
    /// read searches.
    Read,
    /// A blind overwrite: only the active memtable, where it may overwrite
    /// the key's newest version in place. Loading the others' slots too cost
    /// plain SETs 4-8% (docs/benchmarks.md, twenty-second pass).
    BlindWrite,
}

/// The two stages of [`Engine::prefetch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefetch {
    /// The key's index slots.
    Slot,
    /// The key's entries the slots point to.
    Entry,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    pub sync: SyncMode,
    /// Seal the memtable and flush it once it holds this much.
    pub memtable_bytes_max: usize,
    /// Writes wait while this many sealed memtables are waiting for flush.
    pub max_immutable_memtables: usize,
    pub wal_segment_bytes: u64,
    /// Keep WAL segments zero-filled this far past the end of the log, from a
    /// background task (see `wal.rs`); 0: preallocate them instead. Off by
    /// default here (tests open many engines); the server turns it on.
    pub wal_zero_ahead_bytes: u64,
    /// Keep up to this many released WAL segments to write again instead of
    /// fresh files (see `wal.rs`): each costs a segment's disk space.
    pub wal_recycle_segments: usize,
    pub block_cache_bytes: usize,
    pub table: TableOptions,
    pub compaction: CompactionStrategy,
    /// Run flush and compaction in background tasks (needs a glommio executor).
    pub background: bool,
    /// Delay per write at full compaction pressure, just below the stop point.
    pub write_delay_max: Duration,
    /// At open, back one memtable's arena and the first point index with
    /// memory, so that the first writes take no page faults (see
    /// `memtable::reserve_arena`). Off by default here (tests open many
    /// engines); the server turns it on.
    pub prefault_memory: bool,
    /// A flush decodes every block of its table into the block cache, so
    /// that reads of what it wrote start warm. Off: it lends the table its
    /// image instead ([`Engine::lend_image`]), and a block takes cache
    /// space once read: sustained writes run faster, reads of tables older
    /// than the newest two start cold (docs/benchmarks.md, twenty-seventh pass).
    pub flush_fills_block_cache: bool,
    /// In `always` mode, how long a group commit may wait for its group to
    /// stop growing (`WalOptions::group_grow`). Zero by default here; the
    /// server sets it.
    pub wal_group_grow: Duration,
}

impl Options {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Options {
            dir: dir.into(),
            sync: SyncMode::Always,
            memtable_bytes_max: 64 << 20,
            max_immutable_memtables: 4,
            wal_segment_bytes: 64 << 20,
            wal_zero_ahead_bytes: 0,
            wal_recycle_segments: wal_segments_at_bound(64 << 20, 64 << 20),
            block_cache_bytes: 256 << 20,
            table: TableOptions::default(),
            compaction: CompactionStrategy::default(),
            background: true,
            write_delay_max: Duration::from_millis(2),
            prefault_memory: false,
            flush_fills_block_cache: true,
            wal_group_grow: Duration::ZERO,
        }
    }
}

/// Counters for amplification and health. Bytes are what reached the disk.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub user_bytes_written: u64,
    pub wal_bytes_written: u64,
    /// WAL group commits since open (each one write, and in `always` mode one sync).
    pub wal_commits: u64,
    pub flush_bytes_written: u64,
    pub compaction_bytes_read: u64,
    pub compaction_bytes_written: u64,
    pub flushes: u64,
    /// WAL checkpoints: the active memtable written to the WAL again, and
    /// the WAL before it released, instead of a flush ([`Engine::checkpoint_wal`]).
    pub wal_checkpoints: u64,
    pub compactions: u64,
    /// Tables that compactions moved down a level as they were, unwritten.
    pub table_moves: u64,
    pub live_table_bytes: u64,
    pub tables_per_level: Vec<usize>,
    pub memtable_bytes: usize,
    /// Every memtable held: the active one, the sealed ones, the one flushed last.
    pub all_memtable_bytes: usize,
    pub immutable_memtables: usize,
    pub last_seq: SeqNo,
    pub write_delay_micros: u64,
    pub write_stall_micros: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// What the block cache holds, as it charges it (blocks plus overhead).
    pub cache_bytes: usize,
}

impl Stats {
    /// Add another shard's counters to these (`last_seq`: the larger).
    pub fn add(&mut self, o: &Stats) {
        self.user_bytes_written += o.user_bytes_written;
        self.wal_bytes_written += o.wal_bytes_written;
        self.wal_commits += o.wal_commits;
        self.flush_bytes_written += o.flush_bytes_written;
        self.compaction_bytes_read += o.compaction_bytes_read;
        self.compaction_bytes_written += o.compaction_bytes_written;
        self.flushes += o.flushes;
        self.wal_checkpoints += o.wal_checkpoints;
        self.compactions += o.compactions;
        self.table_moves += o.table_moves;
        self.live_table_bytes += o.live_table_bytes;
        self.tables_per_level.resize(self.tables_per_level.len().max(o.tables_per_level.len()), 0);
        for (sum, n) in self.tables_per_level.iter_mut().zip(&o.tables_per_level) {
            *sum += n;
        }
        self.memtable_bytes += o.memtable_bytes;
        self.all_memtable_bytes += o.all_memtable_bytes;
        self.immutable_memtables += o.immutable_memtables;
        self.last_seq = self.last_seq.max(o.last_seq);
        self.write_delay_micros += o.write_delay_micros;
        self.write_stall_micros += o.write_stall_micros;
        self.cache_hits += o.cache_hits;
        self.cache_misses += o.cache_misses;
        self.cache_bytes += o.cache_bytes;
    }

    /// Bytes written to disk (WAL + flush + compaction) per user byte.
    pub fn write_amplification(&self) -> f64 {
        let disk = self.wal_bytes_written + self.flush_bytes_written + self.compaction_bytes_written;
        disk as f64 / self.user_bytes_written.max(1) as f64
    }
}

struct Inner<F: DiskFile> {
    mem: Rc<Memtable>,
    /// Sealed memtables waiting for flush, newest first.
    imm: VecDeque<Rc<Memtable>>,
    /// The memtable flushed last, kept for point reads until the next flush
    /// replaces it. Its keys' versions are in the newest L0 table, and every
    /// newer version is in `mem` or `imm` (memtables flush oldest first), so
    /// what it holds of a key is the newest version outside them. Right after
    /// a seal the new memtable holds few keys; a GET of any other key then
    /// costs a probe here instead of a table read (docs/benchmarks.md,
    /// eighth pass). Scans read the table instead, and prefetches skip it
    /// (loading its index for every request cost writes more than it saved).
    /// Costs one more memtable of memory.
    flushed: Option<Rc<Memtable>>,
    version: Version,
    /// `CompactionStrategy::write_pressure` of `version`, kept with it: every
    /// write asks for it (`Engine::pace_now`), and summing the levels each
    /// time was 1% of the server's CPU under SET.
    write_pressure: f64,
    tables: HashMap<u64, Rc<Table<F>>>,
    manifest_state: ManifestState,
    /// Last sequence number assigned.
    last_seq: SeqNo,
    /// Set when a background job failed: writes are refused from then on.
    bg_error: Option<String>,
    stats: Stats,
}

pub struct Engine<D: Disk> {
    disk: D,
    opts: Options,
    wal: Wal<D>,
    cache: Rc<BlockCache>,
    inner: RefCell<Inner<D::File>>,
    /// Taken out while an edit is being written; edits are serialised by `edits`.
    manifest: RefCell<Option<ManifestFile<D>>>,
    edits: Gate,
    /// One flush at a time, and one compaction at a time. A flush does not
    /// wait for a compaction: a compaction can take seconds, and writers
    /// stall once sealed memtables pile up behind it.
    flushing: Gate,
    compacting: Gate,
    /// Reads (point reads, from the memtables or past them, and scans):
    /// with `last_seq`, how the compaction loop tells that the engine is idle.
    reads: Cell<u64>,
    /// Wakes background tasks (new sealed memtable, new tables, closing).
    work: Notify,
    /// Wakes writers waiting for flush/compaction progress.
    progress: Notify,
    closing: Cell<bool>,
    /// The active memtable stands for too much WAL for its size: the flush
    /// task should checkpoint the WAL ([`Engine::checkpoint_wal`]).
    checkpoint_wanted: Cell<bool>,
    /// The active memtable's size when its WAL passed half the bound (None:
    /// not yet): how much it grew over the second half says whether its keys
    /// are settled ([`Engine::maybe_seal`]).
    half_bound_bytes: Cell<Option<usize>>,
    tasks: RefCell<Vec<glommio::Task<()>>>,
    /// Buffers of table images already written, reused for the next tables
    /// (at most 2: a compaction fills the next while it writes the last one),
    /// sparing a 64 MiB Vec its growth copies and page faults each time.
    spare_images: RefCell<Vec<Vec<u8>>>,
    /// Tables lending the block cache their image (`Table::keep_image`),
    /// oldest first, with its length: at most [`LENT_IMAGES`].
    lent_images: RefCell<VecDeque<(u64, usize)>>,
    /// Tables a compaction replaced that a reader still held: their files
    /// are closed and removed once nothing else does ([`Engine::remove_retired`]).
    retired: RefCell<Vec<Rc<Table<D::File>>>>,
}

fn table_name(id: u64) -> String {
    format!("{id:06}.sst")
}

fn parse_table_name(name: &str) -> Option<u64> {
    name.strip_suffix(".sst")?.parse().ok()
}

/// A table a flush or compaction wrote: its id, the table opened, its meta.
type BuiltTable<F> = (u64, Rc<Table<F>>, TableMeta);

impl<D: Disk> Engine<D> {
    /// Open (or create) the engine in `opts.dir`: load the manifest, open its
    /// tables, remove files no version names, replay the WAL.
    pub async fn open(disk: D, mut opts: Options) -> Result<Rc<Self>> {
        opts.wal_zero_ahead_bytes = wal_zero_ahead_bytes(&opts);
        let dir = opts.dir.clone();
        disk.create_dir_all(&dir).await.map_err(|e| Error::io(&dir, e))?;
        let (manifest, state) = ManifestFile::open(disk.clone(), &dir, opts.compaction.num_levels()).await?;
        let cache = Rc::new(BlockCache::new(opts.block_cache_bytes));
        let tables = open_tables(&disk, &dir, &state.version, &cache).await?;
        remove_orphans(&disk, &dir, &tables).await?;

        let mem = new_memtable(&opts);
        if opts.prefault_memory {
            memtable::reserve_arena(opts.memtable_bytes_max);
            mem.populate_index();
        }
        let wal_opts = WalOptions {
            dir: dir.clone(),
            sync: opts.sync,
            segment_bytes: opts.wal_segment_bytes,
            // Under memory-speed SETs of 1 KiB the background write falls
            // behind the writers, and the pending buffers grew to 9 MiB
            // (fresh pages, copies out of cache). 1 MiB: 3-7% more of those
            // SETs (2-3% sustained) than 4 MiB, 100 B unchanged; 16 MiB
            // measured the same as 4 (docs/benchmarks.md, twenty-third and
            // twenty-fourth passes). `none` may lose this much more in a crash.
            max_pending_bytes: 1 << 20,
            zero_ahead_bytes: opts.wal_zero_ahead_bytes,
            recycle_segments: opts.wal_recycle_segments,
            group_grow: opts.wal_group_grow,
        };
        let (wal, rec) = Wal::open(disk.clone(), wal_opts, state.flushed_seq, |op| {
            mem.insert(op.key, op.seq, op.kind, op.value);
        })
        .await?;
        if rec.ops > 0 || rec.truncated_tail.is_some() {
            tracing::info!(records = rec.records, ops = rec.ops, torn_tail = ?rec.truncated_tail, "WAL replayed");
        }
        let last_seq = rec.last_seq.max(state.flushed_seq).max(state.last_seq);
        let inner = Inner {
            mem: Rc::new(mem),
            imm: VecDeque::new(),
            flushed: None,
            write_pressure: opts.compaction.write_pressure(&state.version),
            version: state.version.clone(),
            tables,
            manifest_state: state,
            last_seq,
            bg_error: None,
            stats: Stats::default(),
        };
        let engine = Rc::new(Engine {
            disk,
            opts,
            wal,
            cache,
            inner: RefCell::new(inner),
            manifest: RefCell::new(Some(manifest)),
            edits: Gate::default(),
            flushing: Gate::default(),
            compacting: Gate::default(),
            reads: Cell::new(0),
            work: Notify::default(),
            progress: Notify::default(),
            closing: Cell::new(false),
            checkpoint_wanted: Cell::new(false),
            half_bound_bytes: Cell::new(None),
            tasks: RefCell::new(Vec::new()),
            spare_images: RefCell::new(Vec::new()),
            lent_images: RefCell::new(VecDeque::new()),
            retired: RefCell::new(Vec::new()),
        });
        engine.maybe_seal();
        if engine.opts.background {
            Self::spawn_background(&engine)?;
        }
        Ok(engine)
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    // ------------------------------------------------------------------ writes

    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<SeqNo> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(&b).await
    }

    pub async fn delete(&self, key: &[u8]) -> Result<SeqNo> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(&b).await
    }

    /// Apply a batch atomically; returns the sequence number of its last op.
    /// Completes once the write is as durable as the sync mode promises.
    pub async fn write(&self, batch: &WriteBatch) -> Result<SeqNo> {
        self.pace().await?;
        let last = self.write_start(batch)?;
        self.wait_durable(last).await?;
        Ok(last)
    }

    /// First half of a write: validate, assign sequence numbers, hand the
    /// batch to the WAL and the memtable. Synchronous, so writes started in
    /// some order are applied in that order, and a later `get_latest` sees
    /// them. Not yet durable: follow with [`Engine::wait_durable`] before
    /// acknowledging (and with [`Engine::pace`] before, to respect compaction debt).
    pub fn write_start(&self, batch: &WriteBatch) -> Result<SeqNo> {
        batch.validate().map_err(Error::InvalidArgument)?;
        self.check_writable()?;
        self.apply_to_memtable(
            batch.len(),
            |first, out| batch.encode(first, out),
            |mem, first| {
                let mut user_bytes = 0;
                for (i, (kind, k, v)) in batch.ops().enumerate() {
                    mem.insert(k, first + i as u64, kind, v);
                    user_bytes += (k.len() + v.len()) as u64;
                }
                user_bytes
            },
        )
    }

    /// [`Engine::write_start`] of a batch of one put of `value` to `key`,
    /// which it copies where they go (WAL, memtable) and need not own: a
    /// SET's hot path builds no batch and allocates nothing for it.
    /// `key_hash`: [`crate::storage::memtable::key_hash`] of `key`, which the
    /// caller has (from its prefetch hint).
    pub fn write_start_put(&self, key: &[u8], key_hash: u64, value: &[u8]) -> Result<SeqNo> {
        batch::validate_op(key, value).map_err(Error::InvalidArgument)?;
        self.check_writable()?;
        let op = (ValueKind::Value, key, value);
        self.apply_to_memtable(
            1,
            |first, out| batch::encode_ops(first, 1, [op], out),
            |mem, first| {
                mem.insert_hashed(key, key_hash, first, ValueKind::Value, value);
                (key.len() + value.len()) as u64
            },
        )
    }

    /// A hint that a point read or write of the key with this hash
    /// ([`crate::storage::memtable::key_hash`]) is coming: start loading what
    /// it will touch in the memtables. Call with [`Prefetch::Slot`] first and,
    /// some work later (the slot must have arrived to be read),
    /// [`Prefetch::Entry`]. The tables' hash index lines are not asked for:
    /// that gained nothing for GETs over 1M keys, and cost memtable GETs 4%
    /// (docs/benchmarks.md, eighteenth pass).
    pub fn prefetch(&self, hash: u64, stage: Prefetch, touch: Touch) {
        // The active memtable comes first.
        let searched = if touch == Touch::BlindWrite { 1 } else { usize::MAX };
        for m in self.inner.borrow().point_memtables().take(searched) {
            match stage {
                Prefetch::Slot => m.prefetch_slot(hash),
                Prefetch::Entry => m.prefetch_entry(hash),
            }
        }
    }

    /// Second half of a write: wait until `seq` is as durable as the sync mode
    /// promises (`always`: fdatasync'd, sharing the sync with every write
    /// pending at the time; otherwise at once, unless too much is pending).
    pub async fn wait_durable(&self, seq: SeqNo) -> Result<()> {
        if !self.durable_now(seq) {
            self.wal.wait_written(seq, !matches!(self.opts.sync, SyncMode::None)).await?;
        }
        Ok(())
    }

    /// Whether [`Engine::wait_durable`] of `seq` would complete at once.
    pub fn durable_now(&self, seq: SeqNo) -> bool {
        match self.opts.sync {
            SyncMode::Always => self.wal.written_seq() >= seq,
            SyncMode::Interval(_) | SyncMode::None => self.wal.pending_within_bound(),
        }
    }

    /// The WAL group a write made now goes in (`Wal::group`): writes of one
    /// group become durable together, or fail together.
    pub fn wal_group(&self) -> u64 {
        self.wal.group()
    }

    /// Last sequence number assigned (durable or not).
    pub fn last_seq(&self) -> SeqNo {
        self.inner.borrow().last_seq
    }

    fn check_writable(&self) -> Result<()> {
        if self.closing.get() {
            return Err(Error::Closed);
        }
        if let Some(why) = self.wal.failure().or_else(|| self.inner.borrow().bg_error.clone()) {
            return Err(Error::ReadOnly(why));
        }
        Ok(())
    }

    /// Assign sequence numbers, hand the batch to the WAL and the memtable.
    /// Synchronous, so WAL order equals sequence order.
    /// `count` ops, which `encode` writes as one WAL batch given its first
    /// sequence number and `insert` inserts into the memtable from it,
    /// returning their keys' and values' bytes.
    fn apply_to_memtable(
        &self,
        count: usize,
        encode: impl FnOnce(SeqNo, &mut Vec<u8>),
        insert: impl FnOnce(&Memtable, SeqNo) -> u64,
    ) -> Result<SeqNo> {
        let last = self.append_to_wal(count, encode)?;
        let mut inner = self.inner.borrow_mut();
        let mem = inner.mem.clone();
        inner.stats.user_bytes_written += insert(&mem, last + 1 - count as u64);
        drop(inner);
        self.maybe_seal();
        Ok(last)
    }

    /// Assign `count` sequence numbers to a batch that `encode` writes to
    /// the WAL given the first of them. Alone (not from
    /// [`apply_to_memtable`](Self::apply_to_memtable)), it puts nothing in
    /// the memtable: a checkpoint's copy of versions the memtable holds.
    fn append_to_wal(&self, count: usize, encode: impl FnOnce(SeqNo, &mut Vec<u8>)) -> Result<SeqNo> {
        let mut inner = self.inner.borrow_mut();
        let first = inner.last_seq + 1;
        let last = inner.last_seq + count as u64;
        self.wal.append_with(last, |pending| encode(first, pending))?;
        inner.last_seq = last;
        Ok(last)
    }

    /// Seal the active memtable if it is full, or if what it took in (with
    /// overwrites in place, it may hold much less) grew the WAL by
    /// [`WAL_PER_MEMTABLE`] times its size. A memtable whose keys have
    /// settled is not sealed for its WAL: at most [`CHECKPOINT_FULL_PCT`]%
    /// full, and grown by at most 1/[`SETTLED_GROWTH`] of its size while
    /// the second half of that WAL came in. The flush task checkpoints the
    /// WAL instead ([`Engine::checkpoint_wal`]), unless the WAL has grown
    /// to twice its bound all the same. A memtable still taking new keys is
    /// sealed as ever: kept, it would only fill up and be flushed later,
    /// larger, after a checkpoint for nothing.
    fn maybe_seal(&self) {
        let mut inner = self.inner.borrow_mut();
        let max = self.opts.memtable_bytes_max;
        let (bytes, logged) = (inner.mem.bytes(), inner.mem.logged_bytes());
        let bound = max.saturating_mul(WAL_PER_MEMTABLE);
        if bytes < max && logged < bound {
            if logged >= bound / 2 && self.half_bound_bytes.get().is_none() {
                self.half_bound_bytes.set(Some(bytes));
            }
            return;
        }
        let settled =
            self.half_bound_bytes.get().is_some_and(|half| bytes <= half.saturating_add(max / SETTLED_GROWTH));
        if bytes <= max / 100 * CHECKPOINT_FULL_PCT
            && settled
            && logged < bound.saturating_mul(2)
            && self.opts.background
        {
            if inner.imm.is_empty() && !self.checkpoint_wanted.replace(true) {
                self.work.notify_all();
            }
            return;
        }
        self.seal(&mut inner);
        drop(inner);
        self.work.notify_all();
    }

    /// Seal the active memtable: it waits for its flush, and a new one
    /// takes the writes (the WAL moves to a new segment at its next commit).
    fn seal(&self, inner: &mut Inner<D::File>) {
        let full = std::mem::replace(&mut inner.mem, Rc::new(new_memtable(&self.opts)));
        inner.imm.push_front(full);
        self.half_bound_bytes.set(None);
        self.wal.request_rotation();
    }

    /// Smooth write pacing: wait while too many memtables are sealed or
    /// compaction debt is at the stop point; sleep a little, growing with the
    /// debt, between the slowdown and stop points.
    pub async fn pace(&self) -> Result<()> {
        if self.pace_now() {
            return Ok(());
        }
        let mut stalled_since = None;
        loop {
            let (imm, pressure) = {
                let inner = self.inner.borrow();
                (inner.imm.len(), inner.write_pressure)
            };
            if imm >= self.opts.max_immutable_memtables || pressure >= 1.0 {
                stalled_since.get_or_insert_with(std::time::Instant::now);
                self.check_writable()?;
                let wait = self.progress.wait();
                self.work.notify_all();
                wait.await;
                continue;
            }
            if let Some(t) = stalled_since {
                self.inner.borrow_mut().stats.write_stall_micros += t.elapsed().as_micros() as u64;
            }
            if pressure > 0.0 {
                let d = self.opts.write_delay_max.mul_f64(pressure);
                self.inner.borrow_mut().stats.write_delay_micros += d.as_micros() as u64;
                glommio::timer::sleep(d).await;
            }
            return Ok(());
        }
    }

    /// Whether [`Engine::pace`] lets a write through at once.
    pub fn pace_now(&self) -> bool {
        if !self.opts.background {
            return true;
        }
        let inner = self.inner.borrow();
        inner.imm.len() < self.opts.max_immutable_memtables && inner.write_pressure <= 0.0
    }

    // ------------------------------------------------------------------ reads

    /// The value of `key`. Sees every write started before the call, and
    /// returns only once what it read is durable: no reader ever sees a write
    /// that a crash could take back.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.get_latest(key).await? {
            Some((seq, v)) => {
                self.wait_durable(seq).await?;
                Ok(v)
            }
            None => Ok(None),
        }
    }

    /// The newest version of `key`, durable or not: `(seq, Some(value))`, or
    /// `(seq, None)` for a deletion, or `None` if the key was never written.
    /// For read-modify-write on the owning shard, whose own write will be
    /// acknowledged only after everything before it is durable.
    pub async fn get_latest(&self, key: &[u8]) -> Result<Latest> {
        self.note_read();
        // The memtables are searched in place (no allocation on this, the
        // common path); the tables to search are taken under the same borrow.
        let hash = hash_key(key);
        let tables: Vec<_> = {
            let inner = self.inner.borrow();
            let mut copy = Some(|seq, kind, value: &[u8]| latest((seq, kind, value.to_vec())));
            if let Some(found) = inner.in_memtables(key, hash, &mut copy) {
                return Ok(Some(found));
            }
            inner.version.tables_for_key(key).filter_map(|t| inner.tables.get(&t.id).cloned()).collect()
        };
        for t in &tables {
            if let Some(found) = t.get(key, hash).await? {
                return Ok(Some(latest(found)));
            }
        }
        Ok(None)
    }

    /// [`get_latest`](Self::get_latest) if it needs no disk read (found in a
    /// memtable or a cached block, or ruled out without reading); None if it
    /// does. For serving reads without a task.
    pub fn get_latest_now(&self, key: &[u8]) -> Option<Result<Latest>> {
        self.get_latest_now_with(key, |seq, kind, value| latest((seq, kind, value.to_vec())))
    }

    /// [`get_latest_now`](Self::get_latest_now), giving `f` the newest
    /// version (its value in place, empty for a deletion) instead of a copy:
    /// `Ok(None)` if the key was never written. `f` runs while the engine
    /// and the block cache are borrowed: it must not call back into them.
    pub fn get_latest_now_with<T>(
        &self,
        key: &[u8],
        f: impl FnOnce(SeqNo, ValueKind, &[u8]) -> T,
    ) -> Option<Result<Option<T>>> {
        self.note_read();
        let hash = hash_key(key);
        let inner = self.inner.borrow();
        let mut f = Some(f);
        if let Some(found) = inner.in_memtables(key, hash, &mut f) {
            return Some(Ok(Some(found)));
        }
        for t in inner.version.tables_for_key(key) {
            let Some(t) = inner.tables.get(&t.id) else { continue };
            match t.get_now_with(key, hash, &mut f)? {
                Ok(None) => {}
                found => return Some(found),
            }
        }
        Some(Ok(None))
    }

    fn note_read(&self) {
        self.reads.set(self.reads.get() + 1);
    }

    /// Up to `limit` live (key, value) pairs with keys in the range, in key order.
    pub async fn scan(&self, start: Bound<&[u8]>, end: Bound<&[u8]>, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.walk_live(start, end, |e| {
            out.push((e.key, e.value));
            if out.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .await?;
        Ok(out)
    }

    /// How many live keys in the range `keep(key, value)` accepts: one pass
    /// over the range that keeps nothing.
    pub async fn count(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        mut keep: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<u64> {
        let mut n = 0u64;
        self.walk_live(start, end, |e| {
            n += u64::from(keep(&e.key, &e.value));
            ControlFlow::Continue(())
        })
        .await?;
        Ok(n)
    }

    /// Gives `each` the newest version of every live key in the range, in key
    /// order, until it breaks. A long walk steps aside for requests every
    /// [`Slice`]; the sources it merges stay as they were when it began.
    async fn walk_live(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        mut each: impl FnMut(Entry) -> ControlFlow<()>,
    ) -> Result<()> {
        let from = match start {
            Bound::Included(k) | Bound::Excluded(k) => Some(k),
            Bound::Unbounded => None,
        };
        // See every write started before the scan, once it is durable.
        let barrier = self.last_seq();
        self.wait_durable(barrier).await?;
        self.note_read();
        let mut it = MergeIter::new(self.read_sources(barrier), from).await?;
        let mut newest = NewestOnly::default();
        let mut slice = Slice::default();
        let mut seen = 0u32;
        while let Some(e) = it.next().await? {
            if let Bound::Excluded(k) = start {
                if e.key.as_slice() == k {
                    continue;
                }
            }
            let past_end = match end {
                Bound::Included(k) => e.key.as_slice() > k,
                Bound::Excluded(k) => e.key.as_slice() >= k,
                Bound::Unbounded => false,
            };
            if past_end {
                break;
            }
            if newest.admit(&e.key) && e.kind == ValueKind::Value && each(e).is_break() {
                break;
            }
            seen = seen.wrapping_add(1);
            if seen.is_multiple_of(64) {
                slice.tick().await;
            }
        }
        Ok(())
    }

    /// Every source a read must merge, captured at one instant.
    fn read_sources(&self, visible: SeqNo) -> Vec<Source<D::File>> {
        let inner = self.inner.borrow();
        let mut sources: Vec<_> = inner.memtables().map(|m| Source::mem(m.clone(), visible)).collect();
        for (level, tables) in inner.version.levels().iter().enumerate() {
            let open: Vec<_> = tables.iter().filter_map(|t| inner.tables.get(&t.id).cloned()).collect();
            if level == 0 {
                sources.extend(open.iter().map(Source::table));
            } else if !open.is_empty() {
                sources.push(Source::level(open));
            }
        }
        sources
    }

    // ------------------------------------------------------------------ flush

    /// Seal the active memtable (if not empty) and flush every sealed one.
    pub async fn flush(&self) -> Result<()> {
        if self.closing.get() {
            return Err(Error::Closed);
        }
        {
            let mut inner = self.inner.borrow_mut();
            if !inner.mem.is_empty() {
                self.seal(&mut inner);
            }
        }
        while self.flush_oldest().await? {}
        Ok(())
    }

    /// How long the flush runs between letting requests in: short while few
    /// memtables wait for it, so that reads arriving meanwhile are slowed
    /// little; the full slice once one more sealed memtable would stop the
    /// writers (`pace`). With a fixed 500 µs slice, redis-benchmark P16 GETs
    /// right after a burst of SETs of 1 KiB ran at about half speed while the
    /// flush went on; a fixed 100 µs slice slowed sustained SETs by 6%.
    fn flush_slice(&self) -> Duration {
        flush_slice(self.inner.borrow().imm.len(), self.opts.max_immutable_memtables)
    }

    /// Flush the oldest sealed memtable into an L0 table. False if none.
    async fn flush_oldest(&self) -> Result<bool> {
        let _flushing = self.flushing.enter().await;
        // A flush that waited for `close` (which holds the gate) must not
        // write after it.
        if self.closing.get() {
            return Err(Error::Closed);
        }
        let Some(mem) = self.inner.borrow().imm.back().cloned() else { return Ok(false) };
        // The table must never hold writes the log has not got: a reader could
        // otherwise see a write that a crash takes back.
        let sync = !matches!(self.opts.sync, SyncMode::None);
        self.wal.wait_written(mem.max_seq(), sync).await?;
        // No snapshots exist, so only the newest version of each key is kept.
        // Built in slices with yields: a 64 MiB memtable takes ~100 ms to encode.
        // Its blocks go to the block cache, decoded as they are built; or
        // with `flush_fills_block_cache` off, the table is lent its image.
        let fill = self.opts.flush_fills_block_cache;
        let mut b =
            if fill { self.table_builder(mem.bytes()).keeping_blocks() } else { self.table_builder(mem.bytes()) };
        let mut pos = None;
        let mut slice = Slice::default();
        loop {
            pos = mem.for_each_newest_after(pos, 256, |k, seq, kind, v| {
                b.add(k, seq, kind, v);
                true
            });
            if pos.is_none() {
                break;
            }
            slice.set_len(self.flush_slice());
            slice.tick().await;
        }
        let id = self.alloc_file_id();
        let use_ = if fill { ImageUse::WarmCache } else { ImageUse::Lend };
        let (table, meta) = self.write_table(id, b, use_, &mut slice).await?;
        let edit = VersionEdit {
            added: vec![(0, table_info(id, &meta))],
            flushed_seq: Some(mem.max_seq()),
            last_seq: Some(self.inner.borrow().last_seq),
            ..Default::default()
        };
        self.install(edit).await?;
        let flushed_seq = mem.max_seq();
        let replaced = {
            let mut inner = self.inner.borrow_mut();
            inner.tables.insert(id, table);
            inner.imm.pop_back();
            inner.stats.flushes += 1;
            inner.stats.flush_bytes_written += meta.file_size;
            inner.flushed.replace(mem)
        };
        self.wal.release(flushed_seq).await?;
        self.progress.notify_all();
        self.work.notify_all();
        // Free the memtable flushed before in slices, unless a reader still holds it.
        if let Some(old) = replaced.filter(|m| Rc::strong_count(m) == 1) {
            while !old.release_some(4096) {
                slice.tick().await;
            }
        }
        Ok(true)
    }

    /// Checkpoint the WAL: write the active memtable's newest versions to
    /// the WAL again, under new sequence numbers, then release every segment
    /// before them. An overwrite-heavy load whose keys fit in a small part of
    /// the memtable otherwise seals it on WAL volume alone
    /// ([`WAL_PER_MEMTABLE`]): a flush, an L0 table, and in time a compaction
    /// rewriting the same keys, for a memtable that could have stayed. A
    /// checkpoint costs one sequential write of what the memtable holds.
    ///
    /// Writes go on meanwhile, each logged as ever; a key written after its
    /// copy was logged is logged after it, so replay, in sequence order, ends
    /// on its newest version. The copies are synced before the segments
    /// before them are released (in every sync mode: those segments held
    /// these versions). Only with no sealed memtable waiting (their versions
    /// are in those segments too); one sealed meanwhile stops it, and its
    /// flush releases the WAL instead. False if nothing was done.
    pub async fn checkpoint_wal(&self) -> Result<bool> {
        let _flushing = self.flushing.enter().await;
        self.checkpoint_wanted.set(false);
        if self.closing.get() {
            return Err(Error::Closed);
        }
        let Some(mut c) = self.checkpoint_start(CHECKPOINT_STEP_BYTES) else { return Ok(false) };
        let mut slice = Slice::default();
        while self.checkpoint_step(&mut c)? {
            // At the disk's pace: what is pending stays about one step.
            self.wal.wait_written(c.last, false).await?;
            slice.tick().await;
            if self.closing.get() {
                return Err(Error::Closed);
            }
            if !self.is_active(&c.mem) {
                return Ok(false);
            }
        }
        self.checkpoint_finish(c).await
    }

    /// A checkpoint of the active memtable, if none is sealed and it holds
    /// anything; `step_bytes` logged per step.
    fn checkpoint_start(&self, step_bytes: usize) -> Option<Checkpoint> {
        let inner = self.inner.borrow();
        if !inner.imm.is_empty() || inner.mem.is_empty() {
            return None;
        }
        Some(Checkpoint {
            mem: inner.mem.clone(),
            covered: inner.last_seq,
            logged: inner.mem.logged_bytes(),
            pos: None,
            last: inner.last_seq,
            copied: 0,
            ops: Vec::new(),
            step_bytes,
        })
    }

    /// Log the next keys' newest versions (about `step_bytes`) as one batch.
    /// True while keys are left.
    fn checkpoint_step(&self, c: &mut Checkpoint) -> Result<bool> {
        c.ops.clear();
        let mut count = 0;
        let ops = &mut c.ops;
        let limit = c.step_bytes;
        c.pos = c.mem.for_each_newest_after(c.pos.take(), 256, |k, _, kind, v| {
            encode_op(kind, k, v, ops);
            count += 1;
            ops.len() < limit
        });
        if count > 0 {
            c.last = self.append_to_wal(count, |first, pending| {
                encode_header(first, count, pending);
                pending.extend_from_slice(&c.ops);
            })?;
            c.copied += c.ops.len();
        }
        Ok(c.pos.is_some())
    }

    /// Sync the copies, then release the WAL before them, if the memtable is
    /// still the active one. True if released.
    async fn checkpoint_finish(&self, c: Checkpoint) -> Result<bool> {
        self.wal.sync_through(c.last).await?;
        if !self.is_active(&c.mem) {
            return Ok(false);
        }
        c.mem.relogged(c.last, c.logged.saturating_sub(c.copied));
        // Writes meanwhile found the WAL still over its bound: not any more.
        self.checkpoint_wanted.set(false);
        self.half_bound_bytes.set(None);
        self.inner.borrow_mut().stats.wal_checkpoints += 1;
        self.wal.release(c.covered).await?;
        Ok(true)
    }

    fn is_active(&self, mem: &Rc<Memtable>) -> bool {
        Rc::ptr_eq(&self.inner.borrow().mem, mem)
    }

    // ------------------------------------------------------------------ compaction

    /// Run one compaction if the strategy picks one. False if there was none.
    pub async fn compact_once(&self) -> Result<bool> {
        self.compact_picked(|v| self.opts.compaction.pick(v)).await
    }

    /// Run the compaction the strategy picks for an idle engine, if any.
    async fn compact_idle(&self) -> Result<bool> {
        self.compact_picked(|v| self.opts.compaction.pick_idle(v)).await
    }

    async fn compact_picked(&self, pick: impl Fn(&Version) -> Option<CompactionChoice>) -> Result<bool> {
        let _compacting = self.compacting.enter().await;
        if self.closing.get() {
            return Err(Error::Closed);
        }
        let (choice, job) = {
            let inner = self.inner.borrow();
            let Some(choice) = pick(&inner.version) else { return Ok(false) };
            let job = match choice.as_move(&inner.version) {
                Some(edit) => Err(edit),
                None => Ok(choice
                    .inputs
                    .iter()
                    .map(|(level, ids)| (*level, ids.iter().filter_map(|id| inner.tables.get(id).cloned()).collect()))
                    .collect::<Vec<LevelTables<D::File>>>()),
            };
            (choice, job)
        };
        match job {
            Ok(inputs) => self.run_compaction(&choice, inputs).await?,
            Err(edit) => {
                // The same files, a level down: their Tables and cached blocks stay.
                let moved = edit.added.len() as u64;
                self.install(edit).await?;
                self.inner.borrow_mut().stats.table_moves += moved;
                tracing::debug!(reason = choice.reason, tables = moved, "compaction moved tables down");
            }
        }
        self.progress.notify_all();
        Ok(true)
    }

    /// Compact until the strategy has nothing more to do.
    pub async fn compact_until_idle(&self) -> Result<()> {
        while self.compact_once().await? {}
        Ok(())
    }

    /// `inputs`: each input level's tables, in the order the choice lists
    /// them (below L0: by key).
    async fn run_compaction(&self, choice: &CompactionChoice, inputs: Vec<LevelTables<D::File>>) -> Result<()> {
        let bytes_read: u64 = inputs.iter().flat_map(|(_, ts)| ts).map(|t| t.meta().file_size).sum();
        // L0's tables overlap: one source each. A deeper level's are one
        // sorted run, read one table after another: fewer sources for the
        // merge to order, and one table's read-ahead buffers at a time.
        let mut sources = Vec::new();
        for (level, tables) in inputs {
            if level == 0 {
                sources.extend(tables.iter().map(Source::table));
            } else {
                sources.push(Source::level(tables));
            }
        }
        let mut it = MergeIter::new(sources, None).await?;
        let mut newest = NewestOnly::default();
        let mut outputs: Vec<BuiltTable<D::File>> = Vec::new();
        // An output ends once past the target (tiered: unbounded) and is at
        // most the inputs' size; allow for the last entry and the meta blocks.
        let bound = choice.target_file_bytes.min(bytes_read);
        let expected = bound.saturating_add(bound / 8) as usize;
        // Each output goes into the block cache, as a flush's table does, if
        // it fits beside what the cache holds of other tables than the inputs
        // (the outputs before it included). A data set the cache holds then
        // stays there through its compactions: else each rewritten table
        // starts cold, and its first reads go to the disk. A larger data set
        // is left to the reads to bring in.
        let input_ids: Vec<u64> = choice.input_ids().collect();
        let inputs_go_first = Cell::new(false);
        let warm = |b: &TableBuilder| {
            let size = b.estimated_size() as u64;
            let bytes = size.saturating_add(size / 16); // each block's overhead, and more
            let fits = self.cache.has_room(bytes, &input_ids);
            if fits && !self.cache.has_room(bytes, &[]) && !inputs_go_first.replace(true) {
                // It fits only once the inputs are gone: while both are
                // cached, make room from the inputs' blocks, not others'.
                self.cache.evict_first(&input_ids);
            }
            fits
        };
        let mut b = self.table_builder(expected);
        let mut n = 0u64;
        let mut slice = Slice::default();
        while let Some(e) = it.next().await? {
            n += 1;
            if n.is_multiple_of(64) {
                slice.tick().await;
            }
            if !newest.admit(&e.key) || (choice.drop_tombstones && e.kind == ValueKind::Tombstone) {
                continue;
            }
            b.add(&e.key, e.seq, e.kind, &e.value);
            if b.estimated_size() as u64 >= choice.target_file_bytes {
                let full = std::mem::replace(&mut b, self.table_builder(expected));
                let id = self.alloc_file_id();
                let warm = warm(&full);
                let (t, meta) = self.write_table(id, full, ImageUse::warm_if(warm), &mut slice).await?;
                outputs.push((id, t, meta));
            }
        }
        if !b.is_empty() {
            let id = self.alloc_file_id();
            let warm = warm(&b);
            let (t, meta) = self.write_table(id, b, ImageUse::warm_if(warm), &mut slice).await?;
            outputs.push((id, t, meta));
        }
        let edit = VersionEdit {
            added: outputs.iter().map(|(id, _, m)| (choice.output_level, table_info(*id, m))).collect(),
            deleted: choice.deletions(),
            ..Default::default()
        };
        // The merge holds every input table: let go of them first.
        drop(it);
        self.install(edit.clone()).await?;
        let written: u64 = outputs.iter().map(|(_, _, m)| m.file_size).sum();
        {
            let mut inner = self.inner.borrow_mut();
            for (id, t, _) in outputs {
                inner.tables.insert(id, t);
            }
            for (_, id) in &edit.deleted {
                if let Some(t) = inner.tables.remove(id) {
                    self.cache.remove_table(*id);
                    if let Some(image) = self.take_back_image(&t) {
                        keep_spare_image(&mut self.spare_images.borrow_mut(), image);
                    }
                    self.retired.borrow_mut().push(t);
                }
            }
            inner.stats.compactions += 1;
            inner.stats.compaction_bytes_read += bytes_read;
            inner.stats.compaction_bytes_written += written;
        }
        self.remove_retired().await?;
        tracing::debug!(
            reason = choice.reason,
            inputs = edit.deleted.len(),
            outputs = edit.added.len(),
            "compaction done"
        );
        Ok(())
    }

    /// Close and remove the files of retired tables that no reader holds
    /// any more; the others wait for a later call.
    ///
    /// Closed first, then removed: the file system frees a file's blocks
    /// when its last name and its last descriptor are gone, in the thread
    /// that lets go of the last one. glommio removes names on a helper
    /// thread, but closes descriptors through the shard's ring, whose
    /// final release runs on the shard thread when `io_uring_enter`
    /// returns. A file closed after its name was removed so had its blocks
    /// freed on the shard: ext4 took 35-50 ms for a 64 MiB table, with
    /// every request of the shard waiting (docs/benchmarks.md,
    /// twenty-fifth pass).
    async fn remove_retired(&self) -> Result<()> {
        let unheld: Vec<_> = {
            let mut retired = self.retired.borrow_mut();
            let (unheld, held) = std::mem::take(&mut *retired).into_iter().partition(|t| Rc::strong_count(t) == 1);
            *retired = held;
            unheld
        };
        if unheld.is_empty() {
            return Ok(());
        }
        for t in unheld {
            let path = t.path().to_path_buf();
            // Only `retired` held it, so nothing can have taken it since.
            // A failed close of a file only read loses nothing: note it.
            if let Ok(t) = Rc::try_unwrap(t) {
                if let Err(e) = t.close().await {
                    tracing::warn!(file = %path.display(), error = %e, "closing a replaced table failed");
                }
            }
            self.disk.remove_closed(&path).await.map_err(|e| Error::io(&path, e))?;
        }
        self.disk.sync_dir(&self.opts.dir).await.map_err(|e| Error::io(&self.opts.dir, e))
    }

    // ------------------------------------------------------------------ shared machinery

    fn alloc_file_id(&self) -> u64 {
        let mut inner = self.inner.borrow_mut();
        let id = inner.manifest_state.next_file_id;
        inner.manifest_state.next_file_id += 1;
        id
    }

    /// Write a table file durably (data, then directory entry) and open it,
    /// then do with its image as `use_` says (there is no page cache under
    /// O_DIRECT: otherwise a fresh table starts cold). Warming the cache
    /// takes the blocks the builder kept (`TableBuilder::keeping_blocks`),
    /// else decodes them from the image. Its filter and hash index are built
    /// in the caller's `slice`.
    async fn write_table(
        &self,
        id: u64,
        mut b: TableBuilder,
        use_: ImageUse,
        slice: &mut Slice,
    ) -> Result<(Rc<Table<D::File>>, TableMeta)> {
        while !b.prepare_finish(FINISH_STEP_KEYS) {
            slice.tick().await;
        }
        let (image, meta, blocks) = b.finish_with_blocks();
        let path = self.opts.dir.join(table_name(id));
        let f = self.disk.create(&path).await.map_err(|e| Error::io(&path, e))?;
        const CHUNK: usize = 1 << 20;
        for (i, chunk) in image.chunks(CHUNK).enumerate() {
            f.write_at((i * CHUNK) as u64, chunk).await.map_err(|e| Error::io(&path, e))?;
        }
        f.sync_data().await.map_err(|e| Error::io(&path, e))?;
        self.disk.sync_dir(&self.opts.dir).await.map_err(|e| Error::io(&self.opts.dir, e))?;
        let t = Table::open_written(id, path, f, self.cache.clone(), &image)?;
        match use_ {
            ImageUse::Lend => self.lend_image(&t, image),
            ImageUse::WarmCache => {
                if blocks.is_empty() {
                    t.prepopulate(&image).await?;
                } else {
                    t.cache_blocks(blocks).await;
                }
                keep_spare_image(&mut self.spare_images.borrow_mut(), image);
            }
            ImageUse::Recycle => keep_spare_image(&mut self.spare_images.borrow_mut(), image),
        }
        Ok((Rc::new(t), meta))
    }

    /// Lend a flushed table its image (`flush_fills_block_cache` off): its
    /// blocks' first reads decode them from it instead of the disk, and a
    /// block takes cache space once read. The image is charged to the block
    /// cache, and the oldest of [`LENT_IMAGES`] goes back to the spares
    /// first. Where the cache cannot take the charge (more than half of it
    /// lent), the image goes back at once and the table starts cold.
    fn lend_image(&self, t: &Table<D::File>, image: Vec<u8>) {
        while self.lent_images.borrow().len() >= LENT_IMAGES {
            let Some((id, len)) = self.lent_images.borrow_mut().pop_front() else { break };
            self.cache.release_image(len);
            let table = self.inner.borrow().tables.get(&id).cloned();
            if let Some(old) = table.and_then(|t| t.take_image()) {
                keep_spare_image(&mut self.spare_images.borrow_mut(), old);
            }
        }
        if self.cache.charge_image(image.len()) {
            self.lent_images.borrow_mut().push_back((t.id(), image.len()));
            t.keep_image(image);
        } else {
            keep_spare_image(&mut self.spare_images.borrow_mut(), image);
        }
    }

    /// Take back the image `t` was lent, if any (uncharged from the cache).
    fn take_back_image(&self, t: &Table<D::File>) -> Option<Vec<u8>> {
        let mut lent = self.lent_images.borrow_mut();
        let at = lent.iter().position(|&(id, _)| id == t.id())?;
        if let Some((_, len)) = lent.remove(at) {
            self.cache.release_image(len);
        }
        drop(lent);
        t.take_image()
    }

    /// A table builder writing into a spare image buffer of at least
    /// `expected` bytes: a growing image would be copied by each realloc
    /// (tens of milliseconds at 64 MiB, holding the shard).
    fn table_builder(&self, expected: usize) -> TableBuilder {
        let buf = take_spare_image(&mut self.spare_images.borrow_mut(), expected);
        TableBuilder::with_buffer(&self.opts.table, buf)
    }

    /// Make `edit` durable in the manifest, then switch to the new Version.
    /// Edits are applied one at a time, each to the version the last left. A
    /// flush and a compaction may run side by side because their edits
    /// commute: a flush adds an L0 table newer than every other table, and a
    /// compaction replaces tables older than it.
    async fn install(&self, mut edit: VersionEdit) -> Result<()> {
        let _edit = self.edits.enter().await;
        let mut manifest = self.manifest.borrow_mut().take().ok_or(Error::Closed)?;
        let mut state = self.inner.borrow().manifest_state.clone();
        edit.next_file_id = Some(state.next_file_id);
        let res = manifest.append(&edit, &mut state).await;
        *self.manifest.borrow_mut() = Some(manifest);
        res?;
        let mut inner = self.inner.borrow_mut();
        // Keep the file-id counter that may have advanced meanwhile.
        state.next_file_id = state.next_file_id.max(inner.manifest_state.next_file_id);
        inner.version = state.version.clone();
        inner.write_pressure = self.opts.compaction.write_pressure(&inner.version);
        inner.manifest_state = state;
        Ok(())
    }

    fn fail_background(&self, e: &Error) {
        tracing::error!(error = %e, "background job failed; engine refuses writes");
        self.inner.borrow_mut().bg_error.get_or_insert_with(|| e.to_string());
        self.progress.notify_all();
    }

    // ------------------------------------------------------------------ background

    fn spawn_background(engine: &Rc<Self>) -> Result<()> {
        // The shares say compaction matters a tenth as much as the flush
        // (writers stall when flush falls behind). But both step aside by
        // sleeping (`Slice`), and glommio starts a woken queue level with the
        // runnable ones, so what each gets of the core is set by its time
        // slice (`flush_slice`), not by these numbers (ARCHITECTURE.md).
        let ex = glommio::executor();
        let compaction_tq =
            ex.create_task_queue(glommio::Shares::Static(100), glommio::Latency::NotImportant, "ringkv-compaction");
        let flush_tq =
            ex.create_task_queue(glommio::Shares::Static(1000), glommio::Latency::NotImportant, "ringkv-flush");
        let spawn = |fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>, tq| {
            glommio::spawn_local_into(fut, tq).map_err(|e| Error::InvalidArgument(format!("spawn: {e}")))
        };
        let mut tasks = engine.tasks.borrow_mut();
        let e = engine.clone();
        tasks.push(spawn(Box::pin(async move { e.flush_loop().await }), flush_tq)?);
        let e = engine.clone();
        tasks.push(spawn(Box::pin(async move { e.compaction_loop().await }), compaction_tq)?);
        let sync_every = match engine.opts.sync {
            SyncMode::Always => None,
            SyncMode::Interval(period) => Some((period, true)),
            SyncMode::None => Some((Duration::from_millis(50), false)),
        };
        if let Some((period, sync)) = sync_every {
            let e = engine.clone();
            tasks.push(spawn(Box::pin(async move { e.sync_loop(period, sync).await }), flush_tq)?);
        }
        if engine.opts.wal_zero_ahead_bytes > 0 {
            let e = engine.clone();
            tasks.push(spawn(Box::pin(async move { e.wal_fill_loop().await }), flush_tq)?);
        }
        Ok(())
    }

    /// Keep the WAL's current segment zero-filled ahead of the log.
    async fn wal_fill_loop(self: Rc<Self>) {
        loop {
            let (changed, work) = (self.wal.fill_changed(), self.work.wait());
            if self.closing.get() {
                return;
            }
            if !self.wal.zero_ahead().await {
                futures_lite::future::or(changed, work).await;
            }
        }
    }

    async fn flush_loop(self: Rc<Self>) {
        while !self.closing.get() {
            let wait = self.work.wait();
            let flushed = match self.flush_oldest().await {
                Ok(false) if self.checkpoint_wanted.get() => self.checkpoint_wal().await,
                r => r,
            };
            match flushed {
                Ok(true) => continue,
                Ok(false) => wait.await,
                Err(Error::Closed) => return,
                Err(e) => {
                    self.fail_background(&e);
                    return;
                }
            }
        }
    }

    async fn compaction_loop(self: Rc<Self>) {
        while !self.closing.get() {
            let wait = self.work.wait();
            let res = match self.compact_once().await {
                Ok(true) => continue,
                Ok(false) => {
                    // Nothing is due. Once neither a write nor a read has
                    // come for a while, merge what L0 holds (leveled), so the
                    // reads after the pause ask fewer tables. Not while reads
                    // go on, even those the memtables answer: the compaction
                    // would slow them down for seconds (its CPU, and the
                    // caches it sweeps) to save each a Bloom filter probe or
                    // two. Counting only reads past the memtables, it started
                    // one second into a run of GETs of 1 KiB from memory, which
                    // fell from ~650k to ~450k/s (docs/benchmarks.md,
                    // thirty-third pass).
                    let activity = || (self.inner.borrow().last_seq, self.reads.get());
                    let before = activity();
                    let idle = async {
                        glommio::timer::sleep(IDLE_COMPACTION_AFTER).await;
                        true
                    };
                    let idled = futures_lite::future::or(
                        async {
                            wait.await;
                            false
                        },
                        idle,
                    )
                    .await;
                    if !idled || self.closing.get() || activity() != before {
                        continue;
                    }
                    self.compact_idle().await
                }
                Err(e) => Err(e),
            };
            match res {
                Err(Error::Closed) => return,
                Err(e) => {
                    self.fail_background(&e);
                    return;
                }
                Ok(_) => {}
            }
        }
    }

    async fn sync_loop(self: Rc<Self>, period: Duration, sync: bool) {
        while !self.closing.get() {
            // `none` mode also writes as soon as enough is pending.
            futures_lite::future::or(glommio::timer::sleep(period), self.wal.write_behind()).await;
            if let Err(e) = self.wal.commit(sync).await {
                self.fail_background(&e);
                return;
            }
        }
    }

    /// Stop background work and make every acknowledged write durable.
    pub async fn close(&self) -> Result<()> {
        self.closing.set(true);
        self.work.notify_all();
        self.progress.notify_all();
        let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
        for t in tasks {
            t.await;
        }
        // A flush or compaction a caller runs (`flush`, `compact_until_idle`)
        // finishes first; one that starts later fails with `Closed`.
        let _flushing = self.flushing.enter().await;
        let _compacting = self.compacting.enter().await;
        let _edit = self.edits.enter().await;
        // A table a reader still holds stays, and is removed at the next open.
        let removed = self.remove_retired().await;
        self.wal.close().await?;
        removed
    }

    // ------------------------------------------------------------------ introspection

    pub fn stats(&self) -> Stats {
        let inner = self.inner.borrow();
        let mut s = inner.stats.clone();
        s.wal_bytes_written = self.wal.bytes_written();
        s.wal_commits = self.wal.commits();
        s.live_table_bytes = inner.version.total_bytes();
        s.tables_per_level = inner.version.levels().iter().map(Vec::len).collect();
        s.memtable_bytes = inner.mem.bytes();
        s.all_memtable_bytes = inner.point_memtables().map(|m| m.bytes()).sum();
        s.immutable_memtables = inner.imm.len();
        s.last_seq = inner.last_seq;
        (s.cache_hits, s.cache_misses, s.cache_bytes) = self.cache.stats();
        s
    }

    /// Check every block checksum of every live table.
    pub async fn verify(&self) -> Result<()> {
        let tables: Vec<_> = self.inner.borrow().tables.values().cloned().collect();
        for t in tables {
            t.verify().await?;
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.opts.dir
    }

    /// WAL segment ids currently kept (for tests).
    pub fn wal_segments(&self) -> Vec<u64> {
        self.wal.segment_ids()
    }
}

/// A compaction's input tables from one level.
type LevelTables<F> = (u32, Vec<Rc<Table<F>>>);

/// Lets one holder in at a time; the others wait their turn.
#[derive(Default)]
struct Gate {
    busy: Cell<bool>,
    done: Notify,
}

impl Gate {
    async fn enter(&self) -> GateGuard<'_> {
        while self.busy.get() {
            self.done.wait().await;
        }
        self.busy.set(true);
        GateGuard(self)
    }
}

struct GateGuard<'a>(&'a Gate);

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        self.0.busy.set(false);
        self.0.done.notify_all();
    }
}

fn table_info(id: u64, m: &TableMeta) -> TableInfo {
    TableInfo {
        id,
        file_size: m.file_size,
        smallest: m.smallest.clone(),
        largest: m.largest.clone(),
        entries: m.entries,
        tombstones: m.tombstones,
        min_seq: m.min_seq,
        max_seq: m.max_seq,
    }
}

async fn open_tables<D: Disk>(
    disk: &D,
    dir: &Path,
    version: &Version,
    cache: &Rc<BlockCache>,
) -> Result<HashMap<u64, Rc<Table<D::File>>>> {
    let mut tables = HashMap::default();
    for level in version.levels() {
        for info in level {
            let path = dir.join(table_name(info.id));
            let f = disk.open(&path).await.map_err(|e| Error::io(&path, e))?;
            let t = Table::open(info.id, path, f, cache.clone()).await?;
            tables.insert(info.id, Rc::new(t));
        }
    }
    Ok(tables)
}

/// Tables no version names are leftovers of a flush or compaction that
/// crashed before its manifest edit: remove them.
async fn remove_orphans<F: DiskFile, D: Disk>(disk: &D, dir: &Path, live: &HashMap<u64, Rc<Table<F>>>) -> Result<()> {
    let names = disk.list_dir(dir).await.map_err(|e| Error::io(dir, e))?;
    for n in names {
        let orphan = parse_table_name(&n).is_some_and(|id| !live.contains_key(&id)) || n == "CURRENT.tmp";
        if orphan {
            let p = dir.join(&n);
            tracing::info!(file = %p.display(), "removing file no version names");
            disk.remove(&p).await.map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

impl<F: DiskFile> Inner<F> {
    /// The active memtable, then the sealed ones newest first: the order
    /// reads search them in.
    fn memtables(&self) -> impl Iterator<Item = &Rc<Memtable>> {
        std::iter::once(&self.mem).chain(&self.imm)
    }

    /// [`memtables`](Self::memtables), then the one flushed last: what a
    /// point read searches before the tables (see `Inner::flushed`).
    fn point_memtables(&self) -> impl Iterator<Item = &Rc<Memtable>> {
        self.memtables().chain(&self.flushed)
    }

    /// The newest version of `key` the memtables hold, if any, given to `f`
    /// in place (taken only then, so a caller can go on to the tables with
    /// it). The key is hashed once (`hash`: `sstable::hash_key`) for all of them.
    fn in_memtables<T, G: FnOnce(SeqNo, ValueKind, &[u8]) -> T>(
        &self,
        key: &[u8],
        hash: u64,
        f: &mut Option<G>,
    ) -> Option<T> {
        let hash = memtable::index_hash(hash);
        self.point_memtables()
            .find_map(|m| {
                m.get_hashed_with(key, hash, SeqNo::MAX, |seq, kind, value| f.take().map(|f| f(seq, kind, value)))
            })
            .flatten()
    }
}

/// A version as [`Latest`] reports it: no value for a deletion.
fn latest((seq, kind, value): (SeqNo, ValueKind, Vec<u8>)) -> (SeqNo, Option<Vec<u8>>) {
    (seq, (kind == ValueKind::Value).then_some(value))
}

/// How many released WAL segments to keep for reuse (`wal_recycle_segments`)
/// so that a log at its bound ([`WAL_PER_MEMTABLE`] memtables of
/// `memtable_bytes`) is, once it has cycled, written into recycled segments
/// alone. A fresh segment costs more: it is preallocated (each write then
/// converts extents, from a kernel worker) or zero-filled first, and the one
/// it replaces is removed. On a volume mounted `discard`, removing a flush's
/// worth of segments (768 MiB with 256 MiB memtables, 4 recycled) stalled
/// the WAL's writes ~250 ms under 1 KiB SETs (docs/benchmarks.md,
/// thirty-first pass). The segments take that much disk for good.
pub fn wal_segments_at_bound(memtable_bytes: usize, segment_bytes: u64) -> usize {
    let bound = (memtable_bytes as u64).saturating_mul(WAL_PER_MEMTABLE as u64);
    usize::try_from(bound.div_ceil(segment_bytes.max(1))).unwrap_or(usize::MAX)
}

/// How much WAL an active memtable may stand for, in memtable sizes, before
/// it is sealed and flushed even if not full (overwrites in place keep it
/// small): bounds the log kept, and replayed at recovery, to about this many
/// times `memtable_bytes_max` per shard.
const WAL_PER_MEMTABLE: usize = 4;

/// A memtable at most this full (percent) when its WAL reaches the bound,
/// and settled, is kept and the WAL checkpointed ([`Engine::checkpoint_wal`]):
/// the checkpoint writes at most about 3/16 of what it releases (a flush would
/// write as much as a table, and compactions after). At half, 100k keys of
/// 1 KiB (137 MB as stored, in 256 MiB memtables) were flushed, not kept.
const CHECKPOINT_FULL_PCT: usize = 75;

/// A memtable that grew by at most 1/n of its size while the second half
/// of its WAL's bound came in has settled: a checkpoint may keep it.
const SETTLED_GROWTH: usize = 16;

/// What a checkpoint logs per batch (about; a batch ends after the key that
/// passes it, so a value up to its limit still fits one).
const CHECKPOINT_STEP_BYTES: usize = 256 << 10;

/// How long the engine goes without a write or a read (`Engine::reads`)
/// before it compacts what the strategy's idle pick names
/// (`CompactionStrategy::pick_idle`).
const IDLE_COMPACTION_AFTER: Duration = Duration::from_secs(1);

/// [`Engine::flush_slice`] with `sealed` memtables waiting for flush, of
/// at most `max`.
fn flush_slice(sealed: usize, max: usize) -> Duration {
    let sealed = sealed.max(1); // the one being flushed
    if sealed + 1 >= max {
        SLICE
    } else {
        SLICE.mul_f64(sealed as f64 / max as f64)
    }
}

/// Keys a table's filter and hash index take in per step between slices
/// (`TableBuilder::prepare_finish`): ~100 µs.
const FINISH_STEP_KEYS: usize = 4096;

/// Table image buffers kept for reuse ([`Engine::spare_images`]).
const SPARE_IMAGES: usize = 2;

/// Flushed tables that keep their image for their blocks' first reads
/// ([`Engine::lend_image`]): the newest, whose keys point reads still find
/// in the memtable flushed last, and the one before it, the newest they
/// look in.
const LENT_IMAGES: usize = 2;

/// A WAL checkpoint under way ([`Engine::checkpoint_wal`]).
struct Checkpoint {
    /// The memtable copied: the active one when it started.
    mem: Rc<Memtable>,
    /// Every write up to here is in a table or in `mem`: the WAL that holds
    /// nothing later is released at the end.
    covered: SeqNo,
    /// `mem`'s logged bytes when it started.
    logged: usize,
    /// The last key copied (None: none yet).
    pos: Option<Vec<u8>>,
    /// The sequence number of the last copy logged.
    last: SeqNo,
    /// Bytes of copies logged.
    copied: usize,
    /// One step's ops, encoded.
    ops: Vec<u8>,
    step_bytes: usize,
}

/// What [`Engine::write_table`] does with a table's image once written.
enum ImageUse {
    /// Lend it to the table ([`Engine::lend_image`]): a flush with
    /// `flush_fills_block_cache` off.
    Lend,
    /// Put every block in the block cache: a flush by default, and a
    /// compaction whose output fits the cache.
    WarmCache,
    /// Back to the spares at once.
    Recycle,
}

impl ImageUse {
    fn warm_if(warm: bool) -> Self {
        if warm {
            ImageUse::WarmCache
        } else {
            ImageUse::Recycle
        }
    }
}

/// A buffer for a table image of about `expected` bytes: the smallest spare
/// that holds it, else a fresh one, sized up to whole MiB so that the next
/// table of about this size fits it again. The smallest, so that a
/// compaction's 16 MiB output leaves a flush's 64 MiB buffer to the next
/// flush. Before, the last spare was taken whatever its size and dropped if
/// a few bytes short (flushes of 1 KiB values ask within a few hundred
/// bytes of 64 MiB each time): each such flush filled a fresh 64 MiB with a
/// page fault per 4 KiB.
fn take_spare_image(spares: &mut Vec<Vec<u8>>, expected: usize) -> Vec<u8> {
    let fits = spares.iter().enumerate().filter(|(_, b)| b.capacity() >= expected).min_by_key(|(_, b)| b.capacity());
    match fits.map(|(i, _)| i) {
        Some(i) => spares.swap_remove(i),
        None => Vec::with_capacity(expected.next_multiple_of(1 << 20)),
    }
}

/// Keep `image` for reuse, and of the spares the largest `SPARE_IMAGES`.
fn keep_spare_image(spares: &mut Vec<Vec<u8>>, image: Vec<u8>) {
    spares.push(image);
    if spares.len() > SPARE_IMAGES {
        let smallest = spares.iter().enumerate().min_by_key(|(_, b)| b.capacity()).map(|(i, _)| i);
        if let Some(i) = smallest {
            spares.swap_remove(i);
        }
    }
}

/// How far the WAL is kept zero-filled ahead of the log. The fill (a
/// background task, so none without one) lets a synced write overwrite
/// written blocks instead of converting unwritten ones, which the sync would
/// have to make durable too. Under `SyncMode::None` no write waits for a
/// sync, so the fill only doubles what the log writes: segments are
/// preallocated instead. Fresh servers took 1 KiB SETs at memory speed
/// ~33% faster (~0.7 µs less CPU each; docs/benchmarks.md, twenty-eighth
/// pass).
fn wal_zero_ahead_bytes(opts: &Options) -> u64 {
    match opts.sync {
        SyncMode::None => 0,
        _ if !opts.background => 0,
        _ => opts.wal_zero_ahead_bytes,
    }
}

/// A memtable sized for what `opts` lets one hold: keys of about 256 bytes
/// with their value and overhead fill `memtable_bytes_max`.
fn new_memtable(opts: &Options) -> Memtable {
    Memtable::with_expected_keys(opts.memtable_bytes_max / 256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::compaction::leveled::LeveledOptions;
    use crate::storage::disk::SimDisk;

    /// `opts` with leveled compaction set as `l` says.
    fn leveled(l: LeveledOptions) -> Options {
        Options { compaction: CompactionStrategy::Leveled(l), ..opts() }
    }

    fn opts() -> Options {
        let mut o = Options::new("/db");
        o.background = false;
        o
    }

    #[test]
    fn the_flush_slice_grows_with_the_backlog_to_the_full_slice_before_writers_stop() {
        let us = |sealed, max| flush_slice(sealed, max).as_micros();
        // Four may wait (the default): a quarter of the slice per sealed memtable,
        // the full slice from three on (a fourth stops the writers).
        assert_eq!([0, 1, 2, 3, 4, 9].map(|n| us(n, 4)), [125, 125, 250, 500, 500, 500]);
        assert_eq!([1, 2, 3, 4, 5].map(|n| us(n, 5)), [100, 200, 300, 500, 500]);
        // One or two may wait: never less than the full slice.
        assert_eq!([0, 1, 2].map(|n| us(n, 1)), [500; 3]);
        assert_eq!([0, 1, 2].map(|n| us(n, 2)), [500; 3]);
    }

    #[test]
    fn recycled_segments_cover_the_wal_at_its_bound() {
        assert_eq!(wal_segments_at_bound(256 << 20, 64 << 20), 16);
        assert_eq!(wal_segments_at_bound(64 << 20, 64 << 20), Options::new("x").wal_recycle_segments);
        assert_eq!(wal_segments_at_bound((64 << 20) + 1, 64 << 20), 5, "a part segment counts whole");
    }

    #[test]
    fn the_wal_is_zero_filled_ahead_only_for_synced_writes_with_a_background() {
        let with = |sync, background| {
            wal_zero_ahead_bytes(&Options { sync, background, wal_zero_ahead_bytes: 4 << 20, ..opts() })
        };
        assert_eq!(with(SyncMode::Always, true), 4 << 20);
        assert_eq!(with(SyncMode::Interval(Duration::from_millis(5)), true), 4 << 20);
        assert_eq!(with(SyncMode::None, true), 0);
        assert_eq!(with(SyncMode::Always, false), 0);
    }

    #[test]
    fn spare_images_are_reused_by_size_and_the_largest_kept() {
        let caps = |s: &Vec<Vec<u8>>| s.iter().map(Vec::capacity).collect::<Vec<_>>();
        const MIB: usize = 1 << 20;
        let mut spares = Vec::new();
        // A fresh buffer is sized up to whole MiB: the next flush, a few
        // bytes larger, still fits it.
        let flush = take_spare_image(&mut spares, 64 * MIB + 500);
        assert_eq!(flush.capacity(), 65 * MIB);
        keep_spare_image(&mut spares, flush);
        let again = take_spare_image(&mut spares, 64 * MIB + 900);
        assert_eq!((again.capacity(), spares.len()), (65 * MIB, 0), "reused");
        keep_spare_image(&mut spares, again);
        // A compaction output takes the smallest that fits, not the flush's.
        keep_spare_image(&mut spares, Vec::with_capacity(18 * MIB));
        let output = take_spare_image(&mut spares, 17 * MIB);
        assert_eq!((output.capacity(), caps(&spares)), (18 * MIB, vec![65 * MIB]));
        // Too small for what is asked: kept, and a fresh one made.
        keep_spare_image(&mut spares, output);
        let big = take_spare_image(&mut spares, 80 * MIB);
        assert_eq!(big.capacity(), 80 * MIB);
        assert_eq!(spares.len(), 2, "neither spare was dropped");
        // At most two are kept: the largest.
        keep_spare_image(&mut spares, big);
        let mut kept = caps(&spares);
        kept.sort_unstable();
        assert_eq!(kept, [65 * MIB, 80 * MIB]);
    }

    #[test]
    fn the_two_newest_flushed_tables_lend_their_images_until_compacted() {
        crate::rt::block_on(async {
            let o = Options { flush_fills_block_cache: false, ..opts() };
            let e = Engine::open(SimDisk::new(), o).await.unwrap();
            let mut ids = Vec::new();
            for round in 0..4u8 {
                for k in 0..50u8 {
                    e.put(&[b'k', k], &[round; 100]).await.unwrap();
                }
                e.flush().await.unwrap();
                ids.push(*e.inner.borrow().tables.keys().max().unwrap());
            }
            let lent: Vec<u64> = e.lent_images.borrow().iter().map(|&(id, _)| id).collect();
            assert_eq!(lent, ids[2..], "the newest two, oldest first");
            let sizes: u64 = ids[2..].iter().map(|id| e.inner.borrow().tables[id].meta().file_size).sum();
            assert_eq!(e.cache.lent_bytes() as u64, sizes, "charged to the block cache");
            // The older tables gave theirs back: reads of them go to the disk.
            for id in &ids[..2] {
                assert!(e.inner.borrow().tables[id].take_image().is_none());
            }
            for k in 0..50u8 {
                assert_eq!(e.get(&[b'k', k]).await.unwrap(), Some(vec![3; 100]));
            }
            // A compaction that replaces them takes their images back.
            e.compact_until_idle().await.unwrap();
            assert!(e.lent_images.borrow().is_empty());
            assert_eq!(e.cache.lent_bytes(), 0);
            assert!(e.spare_images.borrow().len() <= SPARE_IMAGES);
            for k in 0..50u8 {
                assert_eq!(e.get(&[b'k', k]).await.unwrap(), Some(vec![3; 100]));
            }
            // By default a flush fills the cache and lends nothing.
            let e = Engine::open(SimDisk::new(), opts()).await.unwrap();
            e.put(b"k", b"v").await.unwrap();
            e.flush().await.unwrap();
            assert!(e.lent_images.borrow().is_empty());
            assert!(e.cache.stats().2 > 0);
        });
    }

    #[test]
    fn write_pressure_follows_every_new_version() {
        crate::rt::block_on(async {
            let o = leveled(LeveledOptions {
                l0_trigger_files: 2,
                l0_slowdown_files: 2,
                l0_stop_files: 4,
                ..Default::default()
            });
            let e = Engine::open(SimDisk::new(), o).await.unwrap();
            let pressure = || e.inner.borrow().write_pressure;
            let mut seen = Vec::new();
            for k in [b"a", b"b", b"c"] {
                e.put(k, b"v").await.unwrap();
                e.flush().await.unwrap();
                seen.push(pressure());
            }
            // L0 tables: 1, 2, 3 between slowdown (2) and stop (4).
            assert_eq!(seen, [0.0, 0.0, 0.5]);
            e.compact_until_idle().await.unwrap();
            assert_eq!(e.stats().tables_per_level[0], 0);
            assert_eq!(pressure(), 0.0);
        });
    }

    #[test]
    fn a_table_that_overlaps_nothing_below_moves_down_unrewritten() {
        crate::rt::block_on(async {
            let disk = SimDisk::new();
            // Every level past its target at once, so each table goes down as
            // far as it can.
            let o = leveled(LeveledOptions {
                l0_trigger_files: 1,
                base_level_bytes: 1,
                num_levels: 4,
                ..Default::default()
            });
            let ids = |e: &Engine<SimDisk>| -> Vec<Vec<u64>> {
                e.inner.borrow().version.levels().iter().map(|l| l.iter().map(|t| t.id).collect()).collect()
            };
            let e = Engine::open(disk.clone(), o.clone()).await.unwrap();
            e.put(b"a", b"1").await.unwrap();
            e.flush().await.unwrap();
            let a = ids(&e)[0][0];
            e.compact_until_idle().await.unwrap();
            // L0 -> L1 -> L2 -> L3, the same file all the way.
            assert_eq!(ids(&e), [vec![], vec![], vec![], vec![a]]);
            assert_eq!((e.stats().table_moves, e.stats().compactions), (3, 0));
            e.put(b"b", b"2").await.unwrap();
            e.flush().await.unwrap();
            let b = ids(&e)[0][0];
            e.compact_until_idle().await.unwrap();
            assert_eq!(ids(&e), [vec![], vec![], vec![], vec![a, b]]);
            assert_eq!((e.stats().table_moves, e.stats().compactions), (6, 0));
            // A table over a key below it is merged with what it overlaps.
            e.put(b"a", b"3").await.unwrap();
            e.flush().await.unwrap();
            e.compact_until_idle().await.unwrap();
            let levels = ids(&e);
            assert_eq!((levels[3].len(), levels[3].contains(&a), levels[3].contains(&b)), (2, false, true));
            assert_eq!((e.stats().table_moves, e.stats().compactions), (8, 1));
            // A tombstone is not moved into the last level: the rewrite drops it.
            e.delete(b"b").await.unwrap();
            e.flush().await.unwrap();
            e.compact_until_idle().await.unwrap();
            let last = e.inner.borrow().version.level(3).to_vec();
            assert_eq!(last.len(), 1);
            assert_eq!((last[0].tombstones, last[0].entries), (0, 1));
            assert_eq!(e.get(b"a").await.unwrap().as_deref(), Some(&b"3"[..]));
            assert_eq!(e.get(b"b").await.unwrap(), None);
            // The moves are in the manifest.
            let before = ids(&e);
            e.close().await.unwrap();
            let e = Engine::open(disk, o).await.unwrap();
            assert_eq!(ids(&e), before);
            assert_eq!(e.get(b"a").await.unwrap().as_deref(), Some(&b"3"[..]));
            assert_eq!(e.get(b"b").await.unwrap(), None);
        });
    }

    #[test]
    fn an_idle_engine_merges_l0_below_its_trigger() {
        crate::rt::block_on(async {
            let mut o = opts();
            o.background = true;
            let e = Engine::open(SimDisk::new(), o).await.unwrap();
            let key = |i: u32| format!("k{i:03}").into_bytes();
            // Two tables over the same range: merged, not moved.
            for round in 0..2 {
                for i in (0..200).filter(|i| i % 2 == round) {
                    e.put(&key(i), &[1; 100]).await.unwrap();
                }
                e.flush().await.unwrap();
            }
            assert_eq!(e.stats().tables_per_level[..2], [2, 0], "two L0 tables, below the trigger of 4");
            // Reads keep the engine busy, whether they reach the tables (round
            // 0's keys are only in a table) or not (the memtable flushed last
            // holds round 1's).
            let table_reads = || {
                let s = e.stats();
                s.cache_hits + s.cache_misses
            };
            for (i, reaches_tables) in [(42, true), (43, false)] {
                let before = table_reads();
                for _ in 0..(IDLE_COMPACTION_AFTER * 3).as_millis() / 100 {
                    assert_eq!(e.get(&key(i)).await.unwrap().as_deref(), Some(&[1u8; 100][..]));
                    glommio::timer::sleep(Duration::from_millis(100)).await;
                }
                assert_eq!(table_reads() > before, reaches_tables, "key {i}");
                assert_eq!(e.stats().tables_per_level[..2], [2, 0], "no idle compaction while reads of key {i} go on");
            }
            glommio::timer::sleep(IDLE_COMPACTION_AFTER * 3).await;
            assert_eq!(e.stats().tables_per_level[..2], [0, 1], "merged into L1 once nothing came");
            assert_eq!(e.get(&key(42)).await.unwrap().as_deref(), Some(&[1u8; 100][..]));
        });
    }

    #[test]
    fn a_compaction_closes_each_input_before_removing_it_and_waits_for_readers() {
        crate::rt::block_on(async {
            let disk = SimDisk::new();
            let o = leveled(LeveledOptions { l0_trigger_files: 2, ..Default::default() });
            let e = Engine::open(disk.clone(), o).await.unwrap();
            let round = |r: u8| {
                let e = e.clone();
                async move {
                    for i in 0..200u32 {
                        e.put(&i.to_be_bytes(), &[r; 100]).await.unwrap();
                    }
                    e.flush().await.unwrap();
                }
            };
            let tables = || e.inner.borrow().tables.keys().copied().collect::<std::collections::BTreeSet<_>>();
            let on_disk = |id| disk.file_len(&Path::new("/db").join(table_name(id))).is_some();
            round(1).await;
            round(2).await;
            let inputs = tables();
            assert_eq!(inputs.len(), 2);
            e.compact_until_idle().await.unwrap();
            assert!(inputs.iter().all(|&id| !on_disk(id)), "inputs removed");
            assert_eq!(disk.removed_while_open(), 0, "every input was closed before its name went");

            // A reader holding a table when it is compacted away: the file
            // stays until the reader lets go, and goes at the next chance.
            round(3).await;
            round(4).await;
            let held_id = *tables().difference(&inputs).next().unwrap();
            let held = e.inner.borrow().tables[&held_id].clone();
            e.compact_until_idle().await.unwrap();
            assert!(!tables().contains(&held_id) && on_disk(held_id), "replaced, but its file kept");
            assert_eq!(e.get(&7u32.to_be_bytes()).await.unwrap().as_deref(), Some(&[4u8; 100][..]));
            drop(held);
            e.close().await.unwrap();
            assert!(!on_disk(held_id), "removed once let go");
            assert_eq!(disk.removed_while_open(), 0);
        });
    }

    #[test]
    fn compaction_outputs_are_cached_when_they_fit() {
        // Big enough for everything; too small for one block.
        for (cache_bytes, warmed) in [(8 << 20, true), (4 << 10, false)] {
            crate::rt::block_on(async move {
                let mut o = leveled(LeveledOptions { l0_trigger_files: 2, ..Default::default() });
                o.block_cache_bytes = cache_bytes;
                let e = Engine::open(SimDisk::new(), o).await.unwrap();
                let key = |round: u8, i: u32| format!("k{round}-{i:03}").into_bytes();
                for round in 0..2u8 {
                    for i in 0..300 {
                        e.put(&key(round, i), &[round; 100]).await.unwrap();
                    }
                    e.flush().await.unwrap();
                }
                e.compact_until_idle().await.unwrap();
                assert_eq!(e.stats().tables_per_level[0], 0, "compacted");
                // Round 0's keys are only in the compaction's outputs (the
                // memtable flushed last holds round 1's).
                let disk_reads = e.stats().cache_misses;
                for i in 0..300 {
                    assert_eq!(e.get(&key(0, i)).await.unwrap().as_deref(), Some(&[0u8; 100][..]));
                }
                let read_now = e.stats().cache_misses - disk_reads;
                if warmed {
                    assert_eq!(read_now, 0, "every block was cached by the compaction");
                } else {
                    assert!(read_now > 0, "a cache too small is not filled");
                }
            });
        }
    }

    #[test]
    fn a_compaction_output_smaller_than_its_inputs_is_cached_if_it_fits() {
        // Three overwrites of the same keys: the inputs would not fit the
        // cache, the one output (the newest versions) does.
        crate::rt::block_on(async {
            let mut o = leveled(LeveledOptions { l0_trigger_files: 4, ..Default::default() });
            o.block_cache_bytes = 96 << 10;
            let e = Engine::open(SimDisk::new(), o).await.unwrap();
            let key = |i: u32| format!("k{i:03}").into_bytes();
            for round in 0..3u8 {
                for i in 0..300 {
                    e.put(&key(i), &[round; 100]).await.unwrap();
                }
                e.flush().await.unwrap();
            }
            // A last flush of other keys, so that the memtable flushed last
            // does not answer for the ones read below.
            e.put(b"z", b"1").await.unwrap();
            e.flush().await.unwrap();
            let inputs = e.stats().live_table_bytes;
            assert!(inputs > 96 << 10, "the inputs alone overflow the cache: {inputs}");
            e.compact_until_idle().await.unwrap();
            assert_eq!(e.stats().tables_per_level[0], 0, "compacted");
            let disk_reads = e.stats().cache_misses;
            for i in 0..300 {
                assert_eq!(e.get(&key(i)).await.unwrap().as_deref(), Some(&[2u8; 100][..]));
            }
            assert_eq!(e.stats().cache_misses, disk_reads, "the output was cached");
        });
    }

    #[test]
    fn reads_never_return_writes_that_are_not_durable() {
        crate::rt::block_on(async {
            let disk = SimDisk::new();
            let e = Engine::open(disk.clone(), opts()).await.unwrap();
            e.put(b"k", b"old").await.unwrap();
            let mut b = WriteBatch::new();
            b.put(b"k", b"new");
            e.write_start(&b).unwrap();
            // The newest version is visible to read-modify-write...
            assert_eq!(e.get_latest(b"k").await.unwrap().unwrap().1.as_deref(), Some(&b"new"[..]));
            // ...but a reader must wait for it to be durable, and here it never can be.
            disk.fail_syncs(true);
            assert!(e.get(b"k").await.is_err());
        });
    }

    #[test]
    fn failed_sync_makes_the_engine_read_only_but_readable() {
        crate::rt::block_on(async {
            let disk = SimDisk::new();
            let e = Engine::open(disk.clone(), opts()).await.unwrap();
            e.put(b"a", b"1").await.unwrap();
            disk.fail_syncs(true);
            assert!(matches!(e.put(b"b", b"2").await, Err(Error::Io { .. })));
            disk.fail_syncs(false);
            // No retry-and-pretend: the engine stays read-only.
            assert!(matches!(e.put(b"c", b"3").await, Err(Error::ReadOnly(_))));
            assert_eq!(e.get(b"a").await.unwrap().as_deref(), Some(&b"1"[..]));
            // After a restart, the synced write is there and the failed one is not.
            drop(e);
            disk.crash();
            let e = Engine::open(disk.clone(), opts()).await.unwrap();
            assert_eq!(e.get(b"a").await.unwrap().as_deref(), Some(&b"1"[..]));
            assert_eq!(e.get(b"b").await.unwrap(), None);
            e.put(b"d", b"4").await.unwrap();
        });
    }

    #[test]
    fn full_disk_is_an_error_not_a_panic() {
        crate::rt::block_on(async {
            let disk = SimDisk::new();
            let e = Engine::open(disk.clone(), opts()).await.unwrap();
            e.put(b"a", b"1").await.unwrap();
            disk.fill_after_writes(Some(0));
            assert!(e.put(b"b", b"2").await.is_err());
            assert!(matches!(e.put(b"c", b"3").await, Err(Error::ReadOnly(_))));
            assert!(e.flush().await.is_err());
            assert_eq!(e.get(b"a").await.unwrap().as_deref(), Some(&b"1"[..]));
        });
    }

    #[test]
    fn wal_segments_are_released_after_flush() {
        crate::rt::block_on(async {
            let disk = SimDisk::new();
            let mut o = opts();
            o.wal_segment_bytes = 16 << 10;
            let e = Engine::open(disk.clone(), o.clone()).await.unwrap();
            for i in 0..2000u32 {
                e.put(format!("key{i}").as_bytes(), &[7u8; 64]).await.unwrap();
            }
            assert!(e.wal_segments().len() > 3);
            e.flush().await.unwrap();
            assert_eq!(e.wal_segments().len(), 1);
            drop(e);
            disk.crash();
            let e = Engine::open(disk, o).await.unwrap();
            assert_eq!(e.get(b"key1999").await.unwrap().as_deref(), Some(&[7u8; 64][..]));
        });
    }

    #[test]
    fn a_wal_checkpoint_keeps_the_memtable_and_releases_the_wal_before_it() {
        crate::rt::block_on(async {
            for sync in [SyncMode::Always, SyncMode::None] {
                let disk = SimDisk::new();
                let o = Options { wal_segment_bytes: 16 << 10, sync, ..opts() };
                let e = Engine::open(disk.clone(), o.clone()).await.unwrap();
                // A deleted key whose older version is in a table: its
                // tombstone must be copied too.
                e.put(b"gone", b"old").await.unwrap();
                e.flush().await.unwrap();
                e.delete(b"gone").await.unwrap();
                for round in 0..30u8 {
                    for k in 0..20u8 {
                        e.put(&[b'k', k], &[round; 300]).await.unwrap();
                    }
                    // Written, not synced, under `none` (the write-behind's part).
                    e.wal.wait_written(e.last_seq(), false).await.unwrap();
                }
                let before = e.wal_segments();
                assert!(before.len() > 4, "{sync:?}: {before:?}");
                assert!(e.checkpoint_wal().await.unwrap());
                let after = e.wal_segments();
                assert!(after.len() <= 2 && after.iter().all(|id| id >= before.last().unwrap()), "{after:?}");
                let s = e.stats();
                assert_eq!((s.flushes, s.wal_checkpoints, s.immutable_memtables), (1, 1, 0), "{sync:?}");
                assert!(s.memtable_bytes > 0, "the memtable stays");
                assert!(e.inner.borrow().mem.logged_bytes() < 20 * 400, "it stands for the copies alone");
                e.put(b"k\x00", b"after").await.unwrap();
                // The copies were synced, whatever the mode: a crash keeps all
                // that the released segments held.
                drop(e);
                disk.crash();
                let e = Engine::open(disk.clone(), o).await.unwrap();
                if sync == SyncMode::Always {
                    assert_eq!(e.get(b"k\x00").await.unwrap().as_deref(), Some(&b"after"[..]));
                }
                for k in 1..20u8 {
                    assert_eq!(e.get(&[b'k', k]).await.unwrap(), Some(vec![29; 300]), "{sync:?} k{k}");
                }
                assert_eq!(e.get(b"gone").await.unwrap(), None, "{sync:?}");
            }
        });
    }

    #[test]
    fn settled_keys_get_wal_checkpoints_and_new_keys_get_flushes() {
        crate::rt::block_on(async {
            // Bound: 4 x 64 KiB of WAL. Three quarters full: 48 KiB. Settled:
            // grown by at most 4 KiB over the bound's second half.
            let o = Options { memtable_bytes_max: 64 << 10, wal_segment_bytes: 16 << 10, background: true, ..opts() };
            let counts = |e: &Engine<SimDisk>| {
                let s = e.stats();
                (s.flushes, s.wal_checkpoints)
            };
            // Overwrites of 20 keys (~6 KB): kept, and the WAL checkpointed.
            let e = Engine::open(SimDisk::new(), o.clone()).await.unwrap();
            for round in 0..200u32 {
                for k in 0..20u8 {
                    e.put(&[b'k', k], &round.to_le_bytes().repeat(75)).await.unwrap();
                }
                glommio::timer::sleep(Duration::from_micros(10)).await; // the flush task's turn
            }
            let (flushes, checkpoints) = counts(&e);
            assert_eq!(flushes, 0);
            assert!(checkpoints >= 3, "{checkpoints} checkpoints");
            assert!(e.wal_segments().len() <= 24, "{:?}", e.wal_segments());
            e.close().await.unwrap();
            // The same, with one write in 20 to a new key: under half full at
            // the bound, but still growing, so sealed and flushed as ever.
            let e = Engine::open(SimDisk::new(), o).await.unwrap();
            let mut new = 0u32;
            for round in 0..200u32 {
                for k in 0..20u8 {
                    e.put(&[b'k', k], &round.to_le_bytes().repeat(75)).await.unwrap();
                }
                new += 1;
                e.put(format!("new{new:05}").as_bytes(), &[1; 300]).await.unwrap();
                glommio::timer::sleep(Duration::from_micros(10)).await;
            }
            let (flushes, checkpoints) = counts(&e);
            assert!(flushes >= 2, "{flushes} flushes");
            assert_eq!(checkpoints, 0);
            assert!(e.stats().memtable_bytes < 32 << 10, "sealed under half full: for its WAL, not its size");
            e.close().await.unwrap();
        });
    }

    #[test]
    fn writes_during_a_wal_checkpoint_replay_to_their_newest_versions() {
        crate::rt::block_on(async {
            let disk = SimDisk::new();
            let o = Options { wal_segment_bytes: 16 << 10, ..opts() };
            let e = Engine::open(disk.clone(), o.clone()).await.unwrap();
            let mut model = std::collections::BTreeMap::new();
            let key = |i: u32| format!("key{i:03}").into_bytes();
            for round in 0..5u32 {
                for i in 0..200 {
                    let v = format!("{round}-{i}").repeat(10).into_bytes();
                    e.put(&key(i), &v).await.unwrap();
                    model.insert(key(i), v);
                }
            }
            // Small steps, with writes between them: to keys copied already,
            // to keys not yet copied, new keys, and deletes.
            let mut c = e.checkpoint_start(512).unwrap();
            let mut n = 0u32;
            while e.checkpoint_step(&mut c).unwrap() {
                n += 1;
                for i in [n * 7 % 200, (n * 13 + 100) % 200, 200 + n] {
                    let v = format!("during-{n}-{i}").into_bytes();
                    e.put(&key(i), &v).await.unwrap();
                    model.insert(key(i), v);
                }
                e.delete(&key(n * 11 % 200)).await.unwrap();
                model.remove(&key(n * 11 % 200));
            }
            assert!(n > 10, "{n} steps");
            assert!(e.checkpoint_finish(c).await.unwrap());
            assert!(e.wal_segments().len() < 10);
            drop(e);
            disk.crash();
            let e = Engine::open(disk, o).await.unwrap();
            let all = e.scan(Bound::Unbounded, Bound::Unbounded, usize::MAX).await.unwrap();
            assert_eq!(all, model.into_iter().collect::<Vec<_>>());
        });
    }

    #[test]
    fn a_wal_checkpoint_waits_for_sealed_memtables_and_stops_at_a_seal() {
        crate::rt::block_on(async {
            let e = Engine::open(SimDisk::new(), opts()).await.unwrap();
            assert!(!e.checkpoint_wal().await.unwrap(), "nothing to copy");
            e.put(b"a", b"1").await.unwrap();
            let sealed = e.inner.borrow_mut().mem.clone();
            e.inner.borrow_mut().imm.push_front(sealed);
            e.inner.borrow_mut().mem = Rc::new(new_memtable(&e.opts));
            e.put(b"b", b"2").await.unwrap();
            assert!(!e.checkpoint_wal().await.unwrap(), "a sealed memtable's versions are in the WAL");
            e.flush().await.unwrap();
            e.put(b"c", b"3").await.unwrap();
            let mut c = e.checkpoint_start(1).unwrap();
            e.flush().await.unwrap(); // seals the memtable being copied
            while e.checkpoint_step(&mut c).unwrap() {}
            assert!(!e.checkpoint_finish(c).await.unwrap());
            assert_eq!(e.stats().wal_checkpoints, 0);
        });
    }

    #[test]
    fn close_waits_for_a_flush_or_compaction_under_way_and_refuses_later_ones() {
        crate::rt::block_on(async {
            for compaction in [false, true] {
                let e = Engine::open(SimDisk::new(), opts()).await.unwrap();
                e.put(b"a", b"1").await.unwrap();
                // A flush or compaction under way holds its gate throughout.
                let under_way = if compaction { e.compacting.enter().await } else { e.flushing.enter().await };
                let closed = Rc::new(Cell::new(false));
                let closing = glommio::spawn_local({
                    let (e, closed) = (e.clone(), closed.clone());
                    async move {
                        e.close().await.unwrap();
                        closed.set(true);
                    }
                });
                for _ in 0..10 {
                    futures_lite::future::yield_now().await;
                }
                assert!(e.closing.get() && !closed.get(), "close waits for it");
                drop(under_way);
                closing.await;
                assert!(closed.get());
                assert!(matches!(e.flush().await, Err(Error::Closed)));
                assert!(matches!(e.flush_oldest().await, Err(Error::Closed)));
                assert!(matches!(e.compact_once().await, Err(Error::Closed)));
            }
        });
    }

    #[test]
    fn the_memtable_flushed_last_answers_point_reads_until_the_next_flush() {
        crate::rt::block_on(async {
            let e = Engine::open(SimDisk::new(), opts()).await.unwrap();
            // A GET that reaches a table looks its block up in the cache.
            let table_reads = |e: &Engine<SimDisk>| {
                let s = e.stats();
                s.cache_hits + s.cache_misses
            };
            e.put(b"a", b"1").await.unwrap();
            e.put(b"b", b"1").await.unwrap();
            e.flush().await.unwrap();
            let before = table_reads(&e);
            assert_eq!(e.get(b"a").await.unwrap().as_deref(), Some(&b"1"[..]));
            assert_eq!(table_reads(&e), before, "served by the memtable flushed last");

            // Newer versions in the active memtable win over it: a value and a deletion.
            e.put(b"a", b"2").await.unwrap();
            e.delete(b"b").await.unwrap();
            assert_eq!(e.get(b"a").await.unwrap().as_deref(), Some(&b"2"[..]));
            assert_eq!(e.get(b"b").await.unwrap(), None);

            // The next flush replaces it: "a" and "b" are in it now, and a key
            // only the first flush had is read from its table.
            e.put(b"c", b"1").await.unwrap();
            e.flush().await.unwrap();
            let before = table_reads(&e);
            assert_eq!(e.get(b"a").await.unwrap().as_deref(), Some(&b"2"[..]));
            assert_eq!(e.get(b"b").await.unwrap(), None);
            assert_eq!(table_reads(&e), before);
            e.put(b"z", b"1").await.unwrap();
            e.flush().await.unwrap();
            let before = table_reads(&e);
            assert_eq!(e.get(b"c").await.unwrap().as_deref(), Some(&b"1"[..]));
            assert!(table_reads(&e) > before, "c is only in a table now");
            // Scans never read it twice.
            let all = e.scan(Bound::Unbounded, Bound::Unbounded, 10).await.unwrap();
            let keys: Vec<&[u8]> = all.iter().map(|(k, _)| k.as_slice()).collect();
            assert_eq!(keys, [&b"a"[..], b"c", b"z"]);
        });
    }
}
