//! The write-ahead log: segment files of log records, with group commit.
//!
//! Writers append encoded batches to an in-memory pending buffer (assigning
//! sequence numbers in append order). One task at a time, the *leader*, takes
//! everything pending, writes it as one log record and, in `always` mode,
//! fdatasyncs it; writes that arrive meanwhile wait and go in the next record.
//! In `always` mode a leader finding a large group first lets it grow while
//! writes keep arriving ([`Wal::let_group_grow`]).
//! A write in `always` mode completes only after the fdatasync that covers it.
//!
//! A failed write or sync fails the log for good: the kernel may have dropped
//! the dirty data, so retrying and reporting success would lie.
//!
//! Segments are named `wal-<id>.log`. A segment can be released once every
//! write in it is in a durable SSTable (never the newest one holding a record).
//!
//! **Recycling.** A released segment is not always removed: up to
//! `recycle_segments` of them are renamed to the next segment ids (the names
//! made durable at once) and kept open, and the next rotations write them
//! again from offset 0. Their blocks are all written, so a group commit into
//! one is a plain overwrite, as in a zero-filled segment, with no zeros to
//! write first. What they held before stays past the log; record numbers only
//! grow, so recovery never takes it for live records: it stops at the zero
//! header every write ends with, and a segment holding no record of the
//! current numbering (a recycled one not reused yet) is kept for reuse again
//! if it follows the last segment holding records, else removed.
//!
//! **Zero fill.** A direct write into space that `fallocate` reserved, or past
//! the end of the file, changes file metadata (the extent becomes written, the
//! size grows). ext4 then cannot issue the write from the submitting thread
//! (io_uring hands it to a worker), and the sync must commit the journal. A
//! write over blocks already written is a plain overwrite. So with
//! `zero_ahead_bytes > 0`, a background task ([`Wal::zero_ahead`]) keeps the
//! current segment written with zeros (and synced) that far past the end of
//! the log, a chunk at a time, and segments are not preallocated. Zeros past
//! the end are what recovery expects anyway (docs/FORMAT.md). The leader never
//! writes a block while a zero write to it is in flight, and the filler starts
//! each chunk past everything the leader has issued.
//!
//! In `always` mode, segments are opened `O_DSYNC`: the write of a group commit
//! is its sync, one operation instead of a write and an fdatasync.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::storage::batch::{decode_batches, Op};
use crate::storage::disk::{Disk, DiskFile, ALIGN};
use crate::storage::error::{Error, Result};
use crate::storage::log::{self, LogFileWriter, HEADER_BYTES};
use crate::storage::notify::Notify;
use crate::storage::types::SeqNo;

/// When writes are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// fdatasync before acknowledging each write (group commit shares syncs).
    #[default]
    Always,
    /// Acknowledge at once; write and fdatasync in the background every interval.
    /// A crash loses at most about one interval of acknowledged writes.
    Interval(Duration),
    /// Acknowledge at once; write in the background, never fdatasync (except at
    /// segment switches and close). A crash or power cut may lose recent writes.
    None,
}

impl std::str::FromStr for SyncMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "always" => Ok(SyncMode::Always),
            "none" => Ok(SyncMode::None),
            _ => match s.strip_prefix("interval:").map(str::parse::<u64>) {
                Some(Ok(ms)) if ms > 0 => Ok(SyncMode::Interval(Duration::from_millis(ms))),
                _ => Err(format!("invalid sync mode {s:?}: expected always, none or interval:MS")),
            },
        }
    }
}

impl std::fmt::Display for SyncMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncMode::Always => write!(f, "always"),
            SyncMode::None => write!(f, "none"),
            SyncMode::Interval(d) => write!(f, "interval:{}", d.as_millis()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WalOptions {
    pub dir: PathBuf,
    pub sync: SyncMode,
    /// A new segment starts when the current one would grow past this.
    pub segment_bytes: u64,
    /// In non-`always` modes writers return at once while at most this much
    /// is pending ([`Wal::pending_within_bound`]); past it they wait for the
    /// background write.
    pub max_pending_bytes: usize,
    /// Keep the current segment zero-filled this far past the end of the log
    /// (see the module docs). 0: preallocate segments with `fallocate` instead.
    pub zero_ahead_bytes: u64,
    /// Keep up to this many released segments for reuse (see the module docs).
    pub recycle_segments: usize,
    /// In `always` mode, how long a group commit may wait for its group to
    /// stop growing ([`Wal::let_group_grow`]); zero: it starts at once.
    /// Needs a glommio executor when not zero.
    pub group_grow: Duration,
}

/// Bytes a group commit of `payload_len` bytes takes in the log: one record
/// header, plus one per cut (see `State::cuts`), and the payload.
fn framed_len(payload_len: usize, cuts: &[usize]) -> usize {
    HEADER_BYTES * (1 + cuts.len()) + payload_len
}

/// Size of one zero write of the filler.
const ZERO_CHUNK_BYTES: u64 = 1 << 20;
/// What the filler writes: a static buffer (zero pages), not an allocation.
static ZEROS: [u8; ZERO_CHUNK_BYTES as usize] = [0; ZERO_CHUNK_BYTES as usize];

/// In `none` mode, ask for a background write once this much is pending
/// (besides the periodic one): the pending buffers stay small and warm in
/// cache. Left to the 50 ms timer, they grew to megabytes at every peak, and
/// growing them (copies, page faults) was ~15% of a fresh server's CPU.
const WRITE_BEHIND_BYTES: usize = 256 << 10;

/// Groups smaller than this are not held open to grow (`Wal::let_group_grow`).
const GROW_MIN_WRITES: usize = 64;

/// The zero fill of the current segment (the last one).
#[derive(Default)]
struct Fill {
    /// Every block of it below this has been written (records or zeros).
    written_to: u64,
    /// Where the blocks the leader last claimed end: the log ends at most here.
    claimed: u64,
    /// A zero write in flight: (segment id, start offset).
    in_flight: Option<(u64, u64)>,
    /// A zero write failed: the log goes on without filling.
    disabled: bool,
}

struct Segment {
    id: u64,
    path: PathBuf,
    /// Highest sequence number written to it (0: none yet).
    max_seq: SeqNo,
    /// A record of it is durable.
    written: bool,
}

/// A released segment renamed to a later id, open, waiting to be written again.
struct Recycled<F: DiskFile> {
    id: u64,
    writer: LogFileWriter<F>,
    /// The file's length: every block below it is written.
    len: u64,
}

struct State<F: crate::storage::disk::DiskFile> {
    /// None while the leader has it out for a write.
    writer: Option<LogFileWriter<F>>,
    segments: VecDeque<Segment>,
    next_segment_id: u64,
    next_record_no: u64,
    pending: Vec<u8>,
    /// Where in `pending` records after the first begin: a group commit is
    /// written as several records when it would not fit in one
    /// ([`log::MAX_RECORD_BYTES`]), cut between batches.
    cuts: Vec<usize>,
    /// The buffer of the last group written, cleared: the next `pending`, so
    /// group commits reuse two buffers instead of growing a new one each time.
    spare: Vec<u8>,
    pending_max_seq: SeqNo,
    /// Writes appended to `pending`.
    pending_writes: usize,
    /// Every write with seq <= this is on disk (and synced, in `always` and `interval` modes).
    written_seq: SeqNo,
    leader_active: bool,
    rotate_requested: bool,
    failed: Option<String>,
    /// Bytes written to segment files, for write-amplification accounting.
    bytes_written: u64,
    /// Group commits written since open (one log record each, or several
    /// for a group over the record limit).
    commits: u64,
    /// Groups a leader has taken from `pending` since open ([`Wal::group`]).
    groups: u64,
    fill: Fill,
    /// Segments ready for reuse, ids ascending, all above the current one.
    recycled: VecDeque<Recycled<F>>,
    /// A release is renaming segments for reuse: it has taken ids below
    /// `next_segment_id` that are not in `recycled` yet.
    recycling: bool,
}

pub struct Wal<D: Disk> {
    disk: D,
    opts: WalOptions,
    state: RefCell<State<D::File>>,
    progress: Notify,
    /// Zero fill: a chunk finished, or the log needs more filled space.
    fill_changed: Notify,
    /// `none` mode: enough is pending for a background write.
    write_behind: Notify,
    /// The filler's handle on the current segment: (segment id, file).
    fill_file: RefCell<Option<(u64, D::File)>>,
    /// A release finished renaming segments for reuse.
    recycled_ready: Notify,
    /// Largest record payload written: [`log::MAX_RECORD_BYTES`] (tests lower it).
    record_limit: usize,
}

/// What recovery found.
pub struct Recovered {
    /// Highest sequence number in the log (0 if empty).
    pub last_seq: SeqNo,
    /// Records replayed and ops applied.
    pub records: u64,
    pub ops: u64,
    /// A torn tail that was cut off: (file, offset).
    pub truncated_tail: Option<(PathBuf, u64)>,
}

/// Id of the segment being written (the last one; 0 before the first).
fn current_segment<F: DiskFile>(st: &State<F>) -> u64 {
    st.segments.back().map_or(0, |s| s.id)
}

fn segment_name(id: u64) -> String {
    format!("wal-{id:08}.log")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("wal-")?.strip_suffix(".log")?.parse().ok()
}

impl<D: Disk> Wal<D> {
    /// Open the log in `opts.dir`, replaying every op with seq > `skip_up_to`
    /// through `apply`, in log order.
    pub async fn open(
        disk: D,
        opts: WalOptions,
        skip_up_to: SeqNo,
        mut apply: impl FnMut(Op<'_>),
    ) -> Result<(Self, Recovered)> {
        let dir = opts.dir.clone();
        let mut ids: Vec<u64> = disk
            .list_dir(&dir)
            .await
            .map_err(|e| Error::io(&dir, e))?
            .iter()
            .filter_map(|n| parse_segment_name(n))
            .collect();
        ids.sort_unstable();
        let mut rec = Recovered { last_seq: 0, records: 0, ops: 0, truncated_tail: None };
        let mut segments = VecDeque::new();
        let mut expect_no: Option<u64> = None;
        // The newest segment holding records so far: (path, bytes, end, damage).
        type Last<B> = (PathBuf, B, u64, Option<(u64, crate::storage::error::DecodeError)>);
        let mut last: Option<Last<<D::File as DiskFile>::Bytes>> = None;
        let mut unused = Vec::new();
        for &id in &ids {
            let path = dir.join(segment_name(id));
            let file = disk.open(&path).await.map_err(|e| Error::io(&path, e))?;
            let buf = log::read_whole(&file, &path).await?;
            file.close().await.map_err(|e| Error::io(&path, e))?;
            let scan = log::scan(&buf, expect_no);
            if let (Some((off, err)), Some(_)) = (&scan.damage, scan.valid_after_damage) {
                return Err(Error::corruption(&path, *off, err.clone()));
            }
            if scan.records.is_empty() {
                // Never written: made just before a crash, or recycled and not
                // reused yet (what it holds numbers below `expect_no`).
                unused.push((id, path));
                continue;
            }
            // Damage is a torn tail only in the last segment holding records.
            if let Some((p, _, _, Some((off, err)))) = &last {
                return Err(Error::corruption(p, *off, err.clone()));
            }
            let mut max_seq = 0;
            for (off, no, payload) in &scan.records {
                let r = decode_batches(payload, |op| {
                    max_seq = max_seq.max(op.seq);
                    if op.seq > skip_up_to {
                        rec.ops += 1;
                        apply(op);
                    }
                });
                r.map_err(|e| Error::corruption(&path, off + HEADER_BYTES as u64, e))?;
                rec.records += 1;
                expect_no = Some(no + 1);
            }
            rec.last_seq = rec.last_seq.max(max_seq);
            segments.push_back(Segment { id, path: path.clone(), max_seq, written: true });
            let (end, damage) = (scan.end, scan.damage.clone());
            drop(scan);
            last = Some((path, buf, end, damage));
        }
        // Unused segments after the last one holding records are what a
        // recycling log keeps for reuse: keep them so (ids ascending, all above
        // the current segment). The others go, and so do all of them if no
        // segment holds a record (a reused one must never be the oldest).
        let mode = Self::file_mode(&opts);
        let current = segments.back().map(|s| s.id);
        let mut recycled = VecDeque::new();
        let mut doomed = Vec::new();
        for (id, path) in unused {
            if current.is_some_and(|c| id > c) && recycled.len() < opts.recycle_segments {
                let (writer, len) = log::reuse(&disk, &path, mode).await?;
                recycled.push_back(Recycled { id, writer, len });
            } else {
                doomed.push(path);
            }
        }
        let next_segment_id = ids.last().map_or(1, |l| l + 1);
        let mut fill = Fill::default();
        let writer = match last {
            Some((path, buf, end, damage)) => {
                if let Some((off, err)) = &damage {
                    tracing::warn!(file = %path.display(), offset = off, error = %err, "WAL: torn tail, truncating");
                    rec.truncated_tail = Some((path.clone(), *off));
                }
                // Zero fill resumes after the file's length (a file made with
                // preallocation reads as written up to its size, too).
                fill.written_to = buf.len() as u64;
                fill.claimed = end;
                Some(log::resume(&disk, &path, &buf, end, damage.is_some(), mode).await?)
            }
            None => None,
        };
        let state = State {
            writer,
            segments,
            next_segment_id,
            next_record_no: expect_no.unwrap_or(1),
            pending: Vec::new(),
            cuts: Vec::new(),
            spare: Vec::new(),
            pending_max_seq: rec.last_seq,
            written_seq: rec.last_seq,
            leader_active: false,
            pending_writes: 0,
            rotate_requested: false,
            failed: None,
            bytes_written: 0,
            commits: 0,
            groups: 0,
            fill,
            recycled,
            recycling: false,
        };
        let wal = Wal {
            disk,
            opts,
            state: RefCell::new(state),
            progress: Notify::default(),
            fill_changed: Notify::default(),
            write_behind: Notify::default(),
            fill_file: RefCell::new(None),
            recycled_ready: Notify::default(),
            record_limit: log::MAX_RECORD_BYTES,
        };
        wal.remove_and_rename(&doomed, &[]).await?;
        if wal.state.borrow().writer.is_none() {
            wal.rotate_now().await?;
        }
        Ok((wal, rec))
    }

    pub fn sync_mode(&self) -> SyncMode {
        self.opts.sync
    }

    fn file_mode(opts: &WalOptions) -> log::FileMode {
        log::FileMode {
            preallocate_bytes: if opts.zero_ahead_bytes > 0 { 0 } else { opts.segment_bytes },
            dsync: opts.sync == SyncMode::Always,
        }
    }

    /// Add an encoded batch whose last sequence number is `last_seq`. Sequence
    /// numbers must be appended in increasing order.
    pub fn append(&self, encoded: &[u8], last_seq: SeqNo) -> Result<()> {
        self.append_with(last_seq, |pending| pending.extend_from_slice(encoded))
    }

    /// [`append`](Self::append), with `encode` writing the batch straight
    /// onto the end of the pending bytes (no buffer of its own).
    pub fn append_with(&self, last_seq: SeqNo, encode: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let mut st = self.state.borrow_mut();
        if let Some(why) = &st.failed {
            return Err(Error::ReadOnly(why.clone()));
        }
        debug_assert!(last_seq > st.pending_max_seq);
        let start = st.pending.len();
        encode(&mut st.pending);
        // A batch that would take the group's last record past the limit
        // starts the next record (a batch is at most half the limit).
        let record_start = st.cuts.last().copied().unwrap_or(0);
        if st.pending.len() - record_start > self.record_limit && start > record_start {
            st.cuts.push(start);
        }
        st.pending_max_seq = last_seq;
        st.pending_writes += 1;
        let nudge = self.opts.sync == SyncMode::None && st.pending.len() >= WRITE_BEHIND_BYTES;
        drop(st);
        if nudge {
            self.write_behind.notify_all();
        }
        Ok(())
    }

    /// Pending bytes not yet handed to the disk.
    pub fn pending_bytes(&self) -> usize {
        self.state.borrow().pending.len()
    }

    /// At most `max_pending_bytes` are pending.
    pub fn pending_within_bound(&self) -> bool {
        self.pending_bytes() <= self.opts.max_pending_bytes
    }

    /// Every write with seq <= this is on disk (synced in `always`/`interval`).
    pub fn written_seq(&self) -> SeqNo {
        self.state.borrow().written_seq
    }

    pub fn bytes_written(&self) -> u64 {
        self.state.borrow().bytes_written
    }

    /// Group commits written since open: with `bytes_written`, the mean group size.
    pub fn commits(&self) -> u64 {
        self.state.borrow().commits
    }

    /// The group a write appended now goes in: writes appended under the
    /// same number are taken by one leader and written together, so they
    /// are written (and synced) together, or fail together.
    pub fn group(&self) -> u64 {
        self.state.borrow().groups
    }

    pub fn failure(&self) -> Option<String> {
        self.state.borrow().failed.clone()
    }

    /// Wait until `seq` is written (and synced if `sync`), leading a group
    /// commit when no other task is.
    pub async fn wait_written(&self, seq: SeqNo, sync: bool) -> Result<()> {
        loop {
            let follow = {
                let st = self.state.borrow();
                if let Some(why) = &st.failed {
                    return Err(Error::ReadOnly(why.clone()));
                }
                if st.written_seq >= seq {
                    return Ok(());
                }
                // Waiting for a sequence number nobody appended would spin forever.
                assert!(st.pending_max_seq >= seq, "waiting for seq {seq} that was never appended");
                // Another task is leading a group commit: wait for it, then look again.
                st.leader_active.then(|| self.progress.wait())
            };
            match follow {
                Some(wait) => wait.await,
                None => self.commit(sync).await?,
            }
        }
    }

    /// Make every record through `seq` durable, in any sync mode: write it
    /// if it is pending, then sync the segment it went to (with `O_DSYNC`
    /// the write did). Earlier segments are durable already: a segment is
    /// synced before anything goes to the next one. Written unsynced first,
    /// so that the segment is synced once, here, not also by the commit.
    pub async fn sync_through(&self, seq: SeqNo) -> Result<()> {
        self.wait_written(seq, false).await?;
        if self.opts.sync == SyncMode::Always {
            return Ok(());
        }
        // Take the writer as a group commit's leader does.
        let writer = loop {
            let wait = {
                let mut st = self.state.borrow_mut();
                if let Some(why) = &st.failed {
                    return Err(Error::ReadOnly(why.clone()));
                }
                if !st.leader_active {
                    st.leader_active = true;
                    break st.writer.take().expect("writer present when no leader is active");
                }
                self.progress.wait()
            };
            wait.await;
        };
        let res = writer.sync().await.map_err(|e| Error::io(writer.path(), e));
        let mut st = self.state.borrow_mut();
        st.writer = Some(writer);
        st.leader_active = false;
        if let Err(e) = &res {
            st.failed = Some(e.to_string());
        }
        drop(st);
        self.progress.notify_all();
        res
    }

    /// Write everything pending as one record (the group commit), then sync if asked.
    pub async fn commit(&self, sync: bool) -> Result<()> {
        {
            let mut st = self.state.borrow_mut();
            if let Some(why) = &st.failed {
                return Err(Error::ReadOnly(why.clone()));
            }
            if st.leader_active || st.pending.is_empty() {
                return Ok(());
            }
            st.leader_active = true;
        }
        if self.opts.sync == SyncMode::Always {
            self.let_group_grow().await;
        }
        let (mut writer, mut payload, cuts, upto, record_no, rotate) = {
            let mut st = self.state.borrow_mut();
            let spare = std::mem::take(&mut st.spare);
            let payload = std::mem::replace(&mut st.pending, spare);
            st.pending_writes = 0;
            st.groups += 1;
            let cuts = std::mem::take(&mut st.cuts);
            let writer = st.writer.take().expect("writer present when no leader is active");
            let rotate =
                st.rotate_requested || writer.end() + framed_len(payload.len(), &cuts) as u64 > self.opts.segment_bytes;
            st.rotate_requested = false;
            (writer, payload, cuts, st.pending_max_seq, st.next_record_no, rotate)
        };
        let res = self.write_group(&mut writer, &payload, &cuts, record_no, sync, rotate).await;
        let mut st = self.state.borrow_mut();
        st.leader_active = false;
        let written = payload.len();
        payload.clear();
        st.spare = payload;
        match res {
            Ok(new_writer) => {
                st.writer = Some(new_writer.unwrap_or(writer));
                st.next_record_no += 1 + cuts.len() as u64;
                st.written_seq = upto;
                st.bytes_written += framed_len(written, &cuts) as u64;
                st.commits += 1;
                if let Some(seg) = st.segments.back_mut() {
                    seg.max_seq = upto;
                    seg.written = true;
                }
                let fill_wanted = self.fill_wanted(&st);
                drop(st);
                self.progress.notify_all();
                if fill_wanted {
                    self.fill_changed.notify_all();
                }
                Ok(())
            }
            Err(e) => {
                st.failed = Some(e.to_string());
                drop(st);
                tracing::error!(error = %e, "WAL write failed; refusing further writes");
                self.progress.notify_all();
                Err(e)
            }
        }
    }

    /// In `always` mode, hold a large group open while it keeps growing: one
    /// executor loop at a time (a 1 µs sleep lets the shard poll its sockets
    /// and run every request that is ready), until a loop adds nothing or
    /// `group_grow` has passed. Each group commit costs the shard a write, a
    /// cache flush and their interrupts whatever its size. Under durable
    /// redis-benchmark P16 SETs of 100 B, with 500 µs at most, the shard's
    /// CPU per SET fell ~9% and throughput rose ~6% (medians of 4;
    /// docs/benchmarks.md, twenty-third pass). A group of fewer than
    /// `GROW_MIN_WRITES` is written at once: with few writers the sleep is
    /// the executor parking and waking on a timer, which added ~30 µs to
    /// each of one connection's durable SETs (15% fewer) when every group
    /// was held.
    async fn let_group_grow(&self) {
        self.let_group_grow_with(|| glommio::timer::sleep(Duration::from_micros(1))).await;
    }

    /// [`Wal::let_group_grow`], with `next_loop` to wait for the executor's
    /// next loop (tests pass their own).
    async fn let_group_grow_with<W: std::future::Future<Output = ()>>(&self, mut next_loop: impl FnMut() -> W) {
        let max = self.opts.group_grow;
        if max.is_zero() || self.state.borrow().pending_writes < GROW_MIN_WRITES {
            return;
        }
        let start = std::time::Instant::now();
        let mut seen = self.pending_bytes();
        loop {
            next_loop().await;
            let now = self.pending_bytes();
            if now == seen || start.elapsed() >= max {
                return;
            }
            seen = now;
        }
    }

    /// Returns a new writer if it switched segments.
    async fn write_group(
        &self,
        writer: &mut LogFileWriter<D::File>,
        payload: &[u8],
        cuts: &[usize],
        record_no: u64,
        sync: bool,
        rotate: bool,
    ) -> Result<Option<LogFileWriter<D::File>>> {
        let mut new = None;
        if rotate && writer.end() > 0 {
            // Everything in the old segment must be durable before anything goes
            // to the new one (recovery treats damage in a non-last segment as corruption).
            writer.sync().await.map_err(|e| Error::io(writer.path(), e))?;
            new = Some(self.open_next_segment().await?);
        }
        let w = new.as_mut().unwrap_or(writer);
        self.claim_blocks(w.write_end_after(framed_len(payload.len(), cuts))).await;
        // One write per record, in order: a write holds one record (docs/FORMAT.md).
        let ends = cuts.iter().copied().chain(std::iter::once(payload.len()));
        let mut start = 0;
        for (no, end) in (record_no..).zip(ends) {
            w.write_record(no, &payload[start..end]).await.map_err(|e| Error::io(w.path(), e))?;
            start = end;
        }
        if sync {
            w.sync().await.map_err(|e| Error::io(w.path(), e))?;
        }
        Ok(new)
    }

    /// The next segment: a recycled one if one is ready, else a fresh file.
    async fn open_next_segment(&self) -> Result<LogFileWriter<D::File>> {
        // A release renaming segments for reuse holds ids below a fresh one's:
        // wait for it, so that segments are written in id order.
        loop {
            let wait = self.recycled_ready.wait();
            if !self.state.borrow().recycling {
                break;
            }
            wait.await;
        }
        let reused = self.state.borrow_mut().recycled.pop_front();
        let (id, path, w, filled) = match reused {
            Some(r) => (r.id, r.writer.path().to_path_buf(), r.writer, r.len),
            None => {
                let id = {
                    let mut st = self.state.borrow_mut();
                    st.next_segment_id += 1;
                    st.next_segment_id - 1
                };
                let path = self.opts.dir.join(segment_name(id));
                let w = log::create(&self.disk, &self.opts.dir, &path, Self::file_mode(&self.opts)).await?;
                (id, path, w, 0)
            }
        };
        let mut st = self.state.borrow_mut();
        let max_seq = st.written_seq;
        st.segments.push_back(Segment { id, path, max_seq, written: false });
        st.fill.written_to = filled;
        st.fill.claimed = 0;
        drop(st);
        self.fill_changed.notify_all();
        Ok(w)
    }

    async fn rotate_now(&self) -> Result<()> {
        let w = self.open_next_segment().await?;
        self.state.borrow_mut().writer = Some(w);
        Ok(())
    }

    /// The leader is about to write the current segment up to `write_end`:
    /// wait while a zero write to those blocks is in flight, then mark them
    /// taken, so the filler starts past them.
    async fn claim_blocks(&self, write_end: u64) {
        loop {
            let wait = self.fill_changed.wait();
            {
                let mut st = self.state.borrow_mut();
                let busy =
                    matches!(st.fill.in_flight, Some((seg, start)) if seg == current_segment(&st) && start < write_end);
                if !busy {
                    st.fill.written_to = st.fill.written_to.max(write_end);
                    st.fill.claimed = write_end;
                    return;
                }
            }
            wait.await;
        }
    }

    /// Whether the filler has work: the current segment is filled less than
    /// `zero_ahead_bytes` past the end of the log.
    fn fill_wanted(&self, st: &State<D::File>) -> bool {
        let f = &st.fill;
        // While the leader has the writer out, the log ends at most where its blocks do.
        let log_end = st.writer.as_ref().map_or(f.claimed, LogFileWriter::end);
        self.opts.zero_ahead_bytes > 0
            && !f.disabled
            && f.in_flight.is_none()
            && st.failed.is_none()
            && f.written_to < self.opts.segment_bytes
            && f.written_to < log_end + self.opts.zero_ahead_bytes
    }

    /// Completes when enough is pending for a background write (`none` mode).
    pub fn write_behind(&self) -> crate::storage::notify::Wait<'_> {
        self.write_behind.wait()
    }

    /// Completes when the zero fill may have work (see [`Wal::zero_ahead`]).
    pub fn fill_changed(&self) -> crate::storage::notify::Wait<'_> {
        self.fill_changed.wait()
    }

    /// Write (and sync) one chunk of zeros past the end of the current
    /// segment's filled space, if the log is less than `zero_ahead_bytes`
    /// from it. False: nothing to do. A failure only turns filling off: the
    /// log works without it (a failing disk fails the log by itself).
    pub async fn zero_ahead(&self) -> bool {
        let (segment, path, start, end) = {
            let mut st = self.state.borrow_mut();
            if !self.fill_wanted(&st) {
                return false;
            }
            let Some(seg) = st.segments.back() else { return false };
            let (segment, path) = (seg.id, seg.path.clone());
            let start = st.fill.written_to;
            let end = (start + ZERO_CHUNK_BYTES).min(self.opts.segment_bytes);
            let end = end - end % ALIGN as u64;
            if end <= start {
                return false;
            }
            st.fill.in_flight = Some((segment, start));
            (segment, path, start, end)
        };
        let res = self.write_zeros(segment, &path, start, end).await;
        let mut st = self.state.borrow_mut();
        st.fill.in_flight = None;
        match res {
            // Unless the log moved to a new segment meanwhile.
            Ok(()) if current_segment(&st) == segment => st.fill.written_to = st.fill.written_to.max(end),
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "WAL: zero fill failed; going on without it");
                st.fill.disabled = true;
            }
        }
        drop(st);
        self.fill_changed.notify_all();
        true
    }

    async fn write_zeros(&self, segment: u64, path: &Path, start: u64, end: u64) -> std::io::Result<()> {
        let cached = self.fill_file.borrow_mut().take();
        let file = match cached {
            Some((seg, f)) if seg == segment => f,
            other => {
                if let Some((_, old)) = other {
                    old.close().await?;
                }
                self.disk.open(path).await?
            }
        };
        let res = async {
            file.write_at(start, &ZEROS[..(end - start) as usize]).await?;
            file.sync_data().await
        }
        .await;
        *self.fill_file.borrow_mut() = Some((segment, file));
        res
    }

    /// Start a new segment at the next commit, so that the writes before this
    /// point can be released together once flushed.
    pub fn request_rotation(&self) {
        self.state.borrow_mut().rotate_requested = true;
    }

    /// Release segments whose writes are all `<= flushed_seq`, older than the
    /// newest segment holding a record (so recovery always finds one): keep up
    /// to `recycle_segments` for reuse, remove the rest. Returns how many.
    pub async fn release(&self, flushed_seq: SeqNo) -> Result<usize> {
        let (doomed, reuse, last_id) = {
            let mut st = self.state.borrow_mut();
            let keep_from = st.segments.iter().rposition(|s| s.written).unwrap_or(0);
            let mut released = Vec::new();
            let mut last_id = None;
            while released.len() < keep_from && st.segments.front().is_some_and(|s| s.max_seq <= flushed_seq) {
                if let Some(s) = st.segments.pop_front() {
                    last_id = Some(s.id);
                    released.push(s.path);
                }
            }
            let n = released.len().min(self.opts.recycle_segments.saturating_sub(st.recycled.len()));
            let mut reuse = Vec::new();
            for old in released.drain(..n) {
                reuse.push((old, st.next_segment_id));
                st.next_segment_id += 1;
            }
            st.recycling = !reuse.is_empty();
            (released, reuse, last_id)
        };
        let res = async {
            if let Some(last) = last_id {
                self.close_fill_file_upto(last).await?;
            }
            self.remove_and_rename(&doomed, &reuse).await
        }
        .await;
        let mut st = self.state.borrow_mut();
        st.recycling = false;
        let res = res.map(|ready| st.recycled.extend(ready));
        drop(st);
        self.recycled_ready.notify_all();
        res.map(|()| doomed.len() + reuse.len())
    }

    /// Close the zero fill's handle if it is on a segment up to `last` (one
    /// being released), waiting out a fill write in flight there first. The
    /// filler keeps its handle after the log moves on (recycled segments
    /// need no fill): removed while that handle was open, a segment's blocks
    /// were freed later, by the handle's close, on the shard.
    async fn close_fill_file_upto(&self, last: u64) -> Result<()> {
        loop {
            let wait = self.fill_changed.wait();
            if self.state.borrow().fill.in_flight.is_none_or(|(seg, _)| seg > last) {
                break;
            }
            wait.await;
        }
        let stale = {
            let mut ff = self.fill_file.borrow_mut();
            if ff.as_ref().is_some_and(|(seg, _)| *seg <= last) {
                ff.take()
            } else {
                None
            }
        };
        if let Some((_, f)) = stale {
            f.close().await.map_err(|e| Error::io(&self.opts.dir, e))?;
        }
        Ok(())
    }

    /// Remove `doomed` (closed: the log and the filler are past them, see
    /// [`Disk::remove_closed`]); rename each of `reuse` to its new id and
    /// open it once the new names are durable.
    async fn remove_and_rename(&self, doomed: &[PathBuf], reuse: &[(PathBuf, u64)]) -> Result<Vec<Recycled<D::File>>> {
        let dir = &self.opts.dir;
        for p in doomed {
            self.disk.remove_closed(p).await.map_err(|e| Error::io(p, e))?;
        }
        for (old, id) in reuse {
            self.disk.rename(old, &dir.join(segment_name(*id))).await.map_err(|e| Error::io(old, e))?;
        }
        if !doomed.is_empty() || !reuse.is_empty() {
            self.disk.sync_dir(dir).await.map_err(|e| Error::io(dir, e))?;
        }
        let mut ready = Vec::new();
        for &(_, id) in reuse {
            let (writer, len) =
                log::reuse(&self.disk, &dir.join(segment_name(id)), Self::file_mode(&self.opts)).await?;
            ready.push(Recycled { id, writer, len });
        }
        Ok(ready)
    }

    pub fn segment_count(&self) -> usize {
        self.state.borrow().segments.len()
    }

    /// Write and sync everything pending, then close the current segment.
    pub async fn close(&self) -> Result<()> {
        let last = self.state.borrow().pending_max_seq;
        self.wait_written(last, true).await?;
        let w = self.state.borrow_mut().writer.take();
        if let Some(w) = w {
            w.sync().await.map_err(|e| Error::io(w.path(), e))?;
            let p = w.path().to_path_buf();
            w.close().await.map_err(|e| Error::io(&p, e))?;
        }
        let recycled = std::mem::take(&mut self.state.borrow_mut().recycled);
        for r in recycled {
            r.writer.close().await.map_err(|e| Error::io(&self.opts.dir, e))?;
        }
        let fill_file = self.fill_file.borrow_mut().take();
        if let Some((_, f)) = fill_file {
            f.close().await.map_err(|e| Error::io(&self.opts.dir, e))?;
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.opts.dir
    }

    /// Segment ids, oldest first (for tests and stats).
    pub fn segment_ids(&self) -> Vec<u64> {
        self.state.borrow().segments.iter().map(|s| s.id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::WriteBatch;
    use crate::storage::disk::SimDisk;
    use futures_lite::future::block_on;

    fn opts(segment_bytes: u64) -> WalOptions {
        WalOptions {
            dir: PathBuf::from("/db"),
            sync: SyncMode::Always,
            segment_bytes,
            max_pending_bytes: 1 << 20,
            zero_ahead_bytes: 0,
            recycle_segments: 0,
            group_grow: Duration::ZERO,
        }
    }

    fn put(wal: &Wal<SimDisk>, seq: SeqNo, key: &str) {
        let mut b = WriteBatch::new();
        b.put(key.as_bytes(), b"value");
        let mut enc = Vec::new();
        b.encode(seq, &mut enc);
        wal.append(&enc, seq).unwrap();
    }

    /// `put`, then its own synced group commit: one record.
    fn put_committed(wal: &Wal<SimDisk>, seq: SeqNo, key: &str) {
        put(wal, seq, key);
        block_on(wal.wait_written(seq, true)).unwrap();
    }

    /// A fresh log with records 1, 2 and 3, one commit each.
    fn three_records(o: WalOptions) -> (SimDisk, Wal<SimDisk>) {
        let disk = SimDisk::new();
        let (wal, _) = replay(&disk, o, 0).unwrap();
        for s in 1..=3 {
            put_committed(&wal, s, "key");
        }
        (disk, wal)
    }

    fn replay(disk: &SimDisk, o: WalOptions, skip: SeqNo) -> Result<(Wal<SimDisk>, Vec<SeqNo>)> {
        replay_recovered(disk, o, skip).map(|(w, _, seqs)| (w, seqs))
    }

    /// [`replay`], with what recovery reported.
    fn replay_recovered(disk: &SimDisk, o: WalOptions, skip: SeqNo) -> Result<(Wal<SimDisk>, Recovered, Vec<SeqNo>)> {
        let mut seqs = Vec::new();
        let (w, rec) = block_on(Wal::open(disk.clone(), o, skip, |op| seqs.push(op.seq)))?;
        Ok((w, rec, seqs))
    }

    #[test]
    fn a_group_larger_than_a_record_is_written_as_several() {
        // A group commit once went out as one record whatever its size, and
        // encoding one over the limit panicked (`redis-benchmark -t mset -d
        // 20000 -P 16` at memory speed pended ~160 MB).
        let disk = SimDisk::new();
        let (mut wal, _) = replay(&disk, opts(1 << 20), 0).unwrap();
        wal.record_limit = 1000;
        let value = vec![b'v'; 300];
        for s in 1..=10 {
            let mut b = WriteBatch::new();
            b.put(format!("k{s}").as_bytes(), &value);
            wal.append_with(s, |p| b.encode(s, p)).unwrap();
        }
        assert_eq!(wal.state.borrow().cuts.len(), 3, "three batches (~320 bytes each) per record");
        block_on(wal.wait_written(10, true)).unwrap();
        assert_eq!(wal.commits(), 1);
        let path = wal.state.borrow().segments.back().unwrap().path.clone();
        let bytes = file_bytes(&disk, &path);
        let scan = log::scan(&bytes, None);
        let sizes: Vec<_> = scan.records.iter().map(|r| r.2.len()).collect();
        assert_eq!(sizes.len(), 4);
        assert!(sizes.iter().all(|&n| n <= 1000), "{sizes:?}");
        drop(wal);
        let (wal, rec, seqs) = replay_recovered(&disk, opts(1 << 20), 0).unwrap();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        assert_eq!(rec.records, 4);
        // Record numbers went on from there.
        put_committed(&wal, 11, "k11");
        drop(wal);
        let (_, _, seqs) = replay_recovered(&disk, opts(1 << 20), 0).unwrap();
        assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
    }

    #[test]
    fn group_commit_then_crash_keeps_synced_writes_only() {
        let disk = SimDisk::new();
        let (wal, _) = replay(&disk, opts(1 << 20), 0).unwrap();
        for s in 1..=10 {
            put(&wal, s, &format!("k{s}"));
        }
        block_on(wal.wait_written(10, true)).unwrap();
        // All ten pending writes went out as one group commit.
        assert_eq!(wal.commits(), 1);
        put(&wal, 11, "unsynced");
        disk.crash();
        let (_, seqs) = replay(&disk, opts(1 << 20), 0).unwrap();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn reopen_appends_after_existing_records() {
        let disk = SimDisk::new();
        let (wal, _) = replay(&disk, opts(1 << 20), 0).unwrap();
        put(&wal, 1, "a");
        block_on(wal.wait_written(1, true)).unwrap();
        drop(wal);
        let (wal, seqs) = replay(&disk, opts(1 << 20), 0).unwrap();
        assert_eq!(seqs, vec![1]);
        put(&wal, 2, "b");
        block_on(wal.wait_written(2, true)).unwrap();
        let (_, seqs) = replay(&disk, opts(1 << 20), 0).unwrap();
        assert_eq!(seqs, vec![1, 2]);
        let (_, seqs) = replay(&disk, opts(1 << 20), 1).unwrap();
        assert_eq!(seqs, vec![2]);
    }

    #[test]
    fn torn_tail_recovers_and_middle_damage_is_an_error() {
        let (disk, _wal) = three_records(opts(1 << 20));
        let path = PathBuf::from("/db").join(segment_name(1));
        let len = disk.file_len(&path).unwrap();
        assert_eq!(len % 4096, 0);
        // Damage the last record (its last payload byte is the last non-zero byte).
        let rec_len = HEADER_BYTES + 8 + 4 + 1 + 1 + 3 + 1 + 5;
        disk.corrupt(&path, 3 * rec_len - 1);
        let (wal2, seqs) = replay(&disk, opts(1 << 20), 0).unwrap();
        assert_eq!(seqs, vec![1, 2]);
        drop(wal2);
        // Damage in the first record, with valid records after it: corruption.
        disk.corrupt(&path, HEADER_BYTES + 3);
        match replay(&disk, opts(1 << 20), 0) {
            Err(Error::Corruption { file, offset, .. }) => {
                assert!(file.ends_with("wal-00000001.log"));
                assert_eq!(offset, 0);
            }
            other => panic!("expected corruption, got {:?}", other.map(|r| r.1)),
        }
    }

    #[test]
    fn failed_sync_makes_the_log_read_only() {
        let disk = SimDisk::new();
        let (wal, _) = replay(&disk, opts(1 << 20), 0).unwrap();
        put(&wal, 1, "a");
        disk.fail_syncs(true);
        assert!(matches!(block_on(wal.wait_written(1, true)), Err(Error::Io { .. })));
        disk.fail_syncs(false);
        let mut enc = Vec::new();
        WriteBatch::new().put(b"b", b"v").encode(2, &mut enc);
        assert!(matches!(wal.append(&enc, 2), Err(Error::ReadOnly(_))));
        assert!(matches!(block_on(wal.wait_written(1, true)), Err(Error::ReadOnly(_))));
    }

    #[test]
    fn segments_rotate_and_release() {
        let disk = SimDisk::new();
        let (wal, _) = replay(&disk, opts(8192), 0).unwrap();
        for s in 1..=200 {
            put_committed(&wal, s, &"k".repeat(100));
        }
        assert!(wal.segment_count() > 2);
        let (_, seqs) = replay(&disk, opts(8192), 0).unwrap();
        assert_eq!(seqs.len(), 200);
        let removed = block_on(wal.release(200)).unwrap();
        assert!(removed > 0);
        assert_eq!(wal.segment_count(), 1);
        put(&wal, 201, "x");
        block_on(wal.wait_written(201, true)).unwrap();
        let (_, seqs) = replay(&disk, opts(8192), 200).unwrap();
        assert_eq!(seqs, vec![201]);
    }

    fn filled_opts(segment_bytes: u64) -> WalOptions {
        WalOptions { zero_ahead_bytes: 64 << 10, ..opts(segment_bytes) }
    }

    fn file_bytes(disk: &SimDisk, path: &Path) -> Vec<u8> {
        block_on(async {
            let f = disk.open(path).await.unwrap();
            log::read_whole(&f, path).await.unwrap()
        })
    }

    fn log_end(wal: &Wal<SimDisk>) -> u64 {
        wal.state.borrow().writer.as_ref().map(LogFileWriter::end).unwrap()
    }

    /// Every segment holds whole records and then only zeros; returns how many records.
    fn assert_records_then_zeros(disk: &SimDisk, wal: &Wal<SimDisk>) -> usize {
        let mut records = 0;
        for id in wal.segment_ids() {
            let path = PathBuf::from("/db").join(segment_name(id));
            let bytes = file_bytes(disk, &path);
            let scan = log::scan(&bytes, None);
            assert!(scan.damage.is_none(), "segment {id}: {:?}", scan.damage);
            assert!(bytes[scan.end as usize..].iter().all(|&b| b == 0), "segment {id}: non-zero bytes past the log");
            records += scan.records.len();
        }
        records
    }

    #[test]
    fn zero_fill_runs_ahead_of_the_log_and_never_over_records() {
        const SEGMENT: u64 = 128 << 10;
        let disk = SimDisk::new();
        let (wal, _) = replay(&disk, filled_opts(SEGMENT), 0).unwrap();
        for s in 1..=3000 {
            put_committed(&wal, s, &"k".repeat(50));
            if s % 7 == 0 {
                while block_on(wal.zero_ahead()) {}
                let path = PathBuf::from("/db").join(segment_name(*wal.segment_ids().last().unwrap()));
                let filled = disk.file_len(&path).unwrap() as u64;
                assert!(filled >= (log_end(&wal) + (64 << 10)).min(SEGMENT), "fill fell behind: {filled}");
                // The filler wrote only past the log: one record per commit, all there.
                assert_eq!(assert_records_then_zeros(&disk, &wal), s as usize);
            }
        }
        assert!(wal.segment_count() > 2);
        assert_records_then_zeros(&disk, &wal);
        disk.crash();
        let (wal, seqs) = replay(&disk, filled_opts(SEGMENT), 0).unwrap();
        assert_eq!(seqs, (1..=3000).collect::<Vec<_>>());
        assert_records_then_zeros(&disk, &wal);
    }

    #[test]
    fn leader_waits_for_a_zero_write_to_its_blocks() {
        let disk = SimDisk::new();
        let (wal, _) = replay(&disk, filled_opts(1 << 20), 0).unwrap();
        let seg = wal.segment_ids()[0];
        wal.state.borrow_mut().fill.in_flight = Some((seg, 0));
        put(&wal, 1, "a");
        let released = std::cell::Cell::new(false);
        block_on(futures_lite::future::zip(
            async {
                wal.commit(true).await.unwrap();
                assert!(released.get(), "the leader wrote blocks a zero write was still writing");
            },
            async {
                futures_lite::future::yield_now().await;
                released.set(true);
                wal.state.borrow_mut().fill.in_flight = None;
                wal.fill_changed.notify_all();
            },
        ));
        // The filler goes on after the blocks the leader took.
        assert!(wal.state.borrow().fill.written_to >= 4096);
    }

    #[test]
    fn torn_tail_in_a_zero_filled_segment_is_zeroed_in_place() {
        let (disk, wal) = three_records(filled_opts(1 << 20));
        while block_on(wal.zero_ahead()) {}
        let end = log_end(&wal) as usize;
        drop(wal);
        let path = PathBuf::from("/db").join(segment_name(1));
        let filled = disk.file_len(&path).unwrap();
        assert!(filled > end + 8192);
        // A torn write left bytes past the end, in two blocks.
        disk.corrupt(&path, end + 10);
        disk.corrupt(&path, end + 5000);
        let (wal, seqs) = replay(&disk, filled_opts(1 << 20), 0).unwrap();
        assert_eq!(seqs, vec![1, 2, 3]);
        assert_eq!(disk.file_len(&path), Some(filled), "the filled space is kept");
        assert!(file_bytes(&disk, &path)[end..].iter().all(|&b| b == 0));
        put(&wal, 4, "key");
        block_on(wal.wait_written(4, true)).unwrap();
        disk.crash();
        let (_, seqs) = replay(&disk, filled_opts(1 << 20), 0).unwrap();
        assert_eq!(seqs, vec![1, 2, 3, 4]);
    }

    fn recycling_opts() -> WalOptions {
        WalOptions { recycle_segments: 2, ..opts(8192) }
    }

    #[test]
    fn a_segment_the_zero_fill_last_held_is_closed_before_it_is_removed() {
        // The filler keeps its handle on the last fresh segment while the log
        // goes on into recycled ones (they need no fill). Removing that
        // segment with the handle open left its blocks to be freed by the
        // handle's later close, on the shard (`SimDisk` refuses the removal).
        let disk = SimDisk::new();
        let o = WalOptions { recycle_segments: 2, ..filled_opts(8192) };
        let (wal, _) = replay(&disk, o.clone(), 0).unwrap();
        // Last seq written to each segment, by id.
        let mut last_in = std::collections::BTreeMap::new();
        // Commit (and fill) until the log has moved past segment `id`.
        let mut write_until = |wal: &Wal<SimDisk>, id: u64| {
            while *wal.segment_ids().last().unwrap() <= id {
                let seq = last_in.values().max().unwrap_or(&0) + 1;
                put_committed(wal, seq, &"k".repeat(1000));
                last_in.insert(*wal.segment_ids().last().unwrap(), seq);
                while block_on(wal.zero_ahead()) {}
            }
            last_in.clone()
        };
        // Fresh segments 1 to 4, each filled; the filler's handle is on 4.
        let last_in = write_until(&wal, 3);
        assert_eq!(wal.fill_file.borrow().as_ref().map(|f| f.0), Some(4));
        // 1 and 2 are kept for reuse (as 5 and 6); the log moves on into 5.
        assert_eq!(block_on(wal.release(last_in[&2])).unwrap(), 2);
        let last_in = write_until(&wal, 4);
        assert_eq!(wal.segment_ids().last(), Some(&5), "into a recycled segment");
        assert_eq!(wal.fill_file.borrow().as_ref().map(|f| f.0), Some(4), "the filler still holds 4");
        // 3 and 4 go: 3 is kept for reuse (beside 6), 4 removed.
        assert_eq!(block_on(wal.release(last_in[&4])).unwrap(), 2);
        assert!(wal.fill_file.borrow().is_none());
        assert_eq!(disk.removed_while_open(), 0);
        assert!(!wal_files(&disk).contains(&4));
        disk.crash();
        let (_, seqs) = replay(&disk, o, 0).unwrap();
        assert_eq!(seqs.last(), last_in.values().max());
    }

    fn wal_files(disk: &SimDisk) -> Vec<u64> {
        let names = block_on(disk.list_dir(Path::new("/db"))).unwrap();
        names.iter().filter_map(|n| parse_segment_name(n)).collect()
    }

    #[test]
    fn released_segments_are_written_again_and_what_they_held_is_never_replayed() {
        let disk = SimDisk::new();
        let (mut wal, _) = replay(&disk, recycling_opts(), 0).unwrap();
        let mut seq = 0;
        let mut reused = 0;
        for round in 1..=6 {
            for _ in 0..60 {
                seq += 1;
                put_committed(&wal, seq, &"k".repeat(1000));
            }
            let current = *wal.segment_ids().last().unwrap();
            assert!(block_on(wal.release(seq - 30)).unwrap() > 0, "round {round}");
            let spare: Vec<u64> = wal.state.borrow().recycled.iter().map(|r| r.id).collect();
            assert_eq!(spare.len(), 2, "round {round}: two segments kept for reuse");
            assert!(spare.iter().all(|&id| id > current), "round {round}: reused ids come after the current one");
            assert_eq!(
                wal_files(&disk).len(),
                wal.segment_count() + 2,
                "round {round}: live segments and the two kept"
            );
            // Go on a little, into the reused segments, then crash: every record
            // of the live segments comes back in order, nothing the reused files
            // held before, and no torn tail is reported.
            for _ in 0..20 {
                seq += 1;
                put_committed(&wal, seq, &"k".repeat(1000));
            }
            reused += spare.iter().filter(|id| wal.segment_ids().contains(id)).count();
            disk.crash();
            let (w2, rec, seqs) = replay_recovered(&disk, recycling_opts(), 0).unwrap();
            assert!(rec.truncated_tail.is_none(), "round {round}: {:?}", rec.truncated_tail);
            assert_eq!(*seqs.last().unwrap(), seq);
            assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "round {round}: replay not contiguous");
            assert!(*seqs.first().unwrap() <= seq - 49, "round {round}: unflushed writes lost");
            // Kept segments not written again hold no record of the current
            // numbering: kept for reuse again (here both were written again).
            let pool = w2.state.borrow().recycled.len();
            assert_eq!(wal_files(&disk).len(), w2.segment_count() + pool, "round {round}");
            wal = w2;
        }
        assert_eq!(reused, 12, "both kept segments were written again in every round");
    }

    #[test]
    fn every_write_ends_with_a_zero_header_over_what_a_reused_file_held() {
        use crate::storage::disk::align_up;
        // A file of valid records numbered 1..=n: what a recycled segment holds.
        let disk = SimDisk::new();
        let path = PathBuf::from("/db/old.log");
        let mut old = Vec::new();
        let mut n = 0;
        while old.len() < 64 << 10 {
            n += 1;
            log::encode_record(&mut old, n, &[0xab; 100]);
        }
        old.resize(align_up(old.len()), 0);
        block_on(async {
            disk.create_dir_all(Path::new("/db")).await.unwrap();
            let f = disk.create(&path).await.unwrap();
            f.write_at(0, &old).await.unwrap();
            f.sync_data().await.unwrap();
        });
        let (mut w, len) = block_on(log::reuse(&disk, &path, log::FileMode::default())).unwrap();
        assert_eq!(len, old.len() as u64);
        // Records ending at each of the last HEADER_BYTES + 1 bytes of a block, and on its end.
        let mut no = n;
        for gap in 0..=HEADER_BYTES + 1 {
            let end = w.end() as usize;
            let target = (end / ALIGN + 2) * ALIGN - gap;
            no += 1;
            block_on(w.write_record(no, &vec![7; target - end - HEADER_BYTES])).unwrap();
            assert_eq!(w.end() as usize, target);
            let bytes = file_bytes(&disk, &path);
            let scan = log::scan(&bytes, Some(n + 1));
            assert_eq!(scan.damage, None, "record ending {gap} bytes before a block end");
            assert_eq!(scan.valid_after_damage, None);
            assert_eq!(scan.records.len() as u64, no - n);
            assert_eq!(scan.end, w.end());
        }
    }

    /// Records 1..=120 over several segments, all flushed and released: two
    /// segments kept for reuse. Returns their ids too.
    fn two_kept_for_reuse() -> (SimDisk, Wal<SimDisk>, Vec<u64>) {
        let disk = SimDisk::new();
        let (wal, _) = replay(&disk, recycling_opts(), 0).unwrap();
        for s in 1..=120 {
            put_committed(&wal, s, &"k".repeat(1000));
        }
        block_on(wal.release(120)).unwrap();
        let kept: Vec<u64> = wal.state.borrow().recycled.iter().map(|r| r.id).collect();
        assert_eq!(kept.len(), 2);
        (disk, wal, kept)
    }

    #[test]
    fn a_crash_before_the_first_record_of_a_reused_segment_keeps_the_last_written_one() {
        let (disk, wal, kept) = two_kept_for_reuse();
        // Switch to a reused segment, write nothing into it, and release everything:
        // the last segment holding a record must stay.
        block_on(wal.rotate_now()).unwrap();
        let current = *wal.segment_ids().last().unwrap();
        assert_eq!(current, kept[0]);
        block_on(wal.release(u64::MAX)).unwrap();
        let live = wal.segment_ids();
        assert_eq!(live.len(), 2, "{live:?}");
        assert_eq!(live[1], current);
        disk.crash();
        let (wal, rec, seqs) = replay_recovered(&disk, recycling_opts(), 0).unwrap();
        assert!(rec.truncated_tail.is_none());
        assert_eq!(seqs.last(), Some(&120));
        // The two kept segments, never written, are kept for reuse again.
        let pool: Vec<u64> = wal.state.borrow().recycled.iter().map(|r| r.id).collect();
        assert_eq!(pool, kept);
        // Writing goes on in the last written segment, numbered after it,
        // then in the first kept one.
        put_committed(&wal, 121, "next");
        assert_eq!(*wal.segment_ids().last().unwrap(), live[0]);
        wal.request_rotation();
        put_committed(&wal, 122, "in a reused segment");
        assert_eq!(*wal.segment_ids().last().unwrap(), kept[0]);
        disk.crash();
        let (_, _, seqs) = replay_recovered(&disk, recycling_opts(), 0).unwrap();
        assert_eq!(seqs.last(), Some(&122));
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    }

    #[test]
    fn unused_segments_the_pool_does_not_keep_are_removed_at_open() {
        // A segment made just before a crash, with no segment holding records:
        // removed (a reused one must never be the oldest).
        let disk = SimDisk::new();
        drop(replay(&disk, recycling_opts(), 0).unwrap());
        assert_eq!(wal_files(&disk), [1]);
        disk.crash();
        let (wal, _) = replay(&disk, recycling_opts(), 0).unwrap();
        assert_eq!(wal_files(&disk), [2]);
        drop(wal);
        // Two kept for reuse, reopened with room for one: the other goes.
        let (disk, wal, kept) = two_kept_for_reuse();
        let live = wal.segment_ids();
        drop(wal);
        disk.crash();
        let (wal, _) = replay(&disk, WalOptions { recycle_segments: 1, ..recycling_opts() }, 0).unwrap();
        let pool: Vec<u64> = wal.state.borrow().recycled.iter().map(|r| r.id).collect();
        assert_eq!(pool, kept[..1]);
        assert_eq!(wal_files(&disk), [live, pool].concat());
    }

    #[test]
    fn torn_first_record_in_a_reused_segment_is_not_corruption() {
        let (disk, wal, kept) = two_kept_for_reuse();
        wal.request_rotation();
        put_committed(&wal, 121, "first in a reused segment");
        let current = *wal.segment_ids().last().unwrap();
        assert_eq!(current, kept[0]);
        let path = PathBuf::from("/db").join(segment_name(current));
        // Tear it: its payload's last byte.
        let rec_len = HEADER_BYTES + log::scan(&file_bytes(&disk, &path), None).records[0].2.len();
        disk.corrupt(&path, rec_len - 1);
        disk.crash();
        let (wal, _, seqs) = replay_recovered(&disk, recycling_opts(), 0).unwrap();
        assert_eq!(seqs.last(), Some(&120));
        put_committed(&wal, 121, "again");
        let (_, _, seqs) = replay_recovered(&disk, recycling_opts(), 0).unwrap();
        assert_eq!(seqs.last(), Some(&121));
    }

    #[test]
    fn writes_share_a_group_number_until_a_leader_takes_them() {
        let (wal, _) = replay(&SimDisk::new(), opts(64 << 20), 0).unwrap();
        let g = wal.group();
        put(&wal, 1, "a");
        put(&wal, 2, "b");
        assert_eq!(wal.group(), g, "appending takes no group");
        block_on(wal.commit(true)).unwrap();
        assert_eq!(wal.group(), g + 1);
        assert_eq!(wal.written_seq(), 2, "both of group {g} written together");
        block_on(wal.commit(true)).unwrap();
        assert_eq!(wal.group(), g + 1, "nothing pending: no group taken");
        put(&wal, 3, "c");
        block_on(wal.commit(true)).unwrap();
        assert_eq!((wal.group(), wal.written_seq()), (g + 2, 3));
    }

    #[test]
    fn none_mode_asks_for_a_write_once_enough_is_pending() {
        use futures_lite::future::poll_once;
        for (sync, expect) in [(SyncMode::None, true), (SyncMode::Always, false)] {
            let (wal, _) = replay(&SimDisk::new(), WalOptions { sync, ..opts(64 << 20) }, 0).unwrap();
            let mut nudge = wal.write_behind();
            let big = "k".repeat(1000);
            let mut seq = 0;
            while wal.pending_bytes() < WRITE_BEHIND_BYTES - 2000 {
                seq += 1;
                put(&wal, seq, &big);
            }
            assert!(block_on(poll_once(&mut nudge)).is_none(), "{sync:?}: nudged too early");
            put(&wal, seq + 1, &big);
            put(&wal, seq + 2, &big);
            assert_eq!(block_on(poll_once(&mut nudge)).is_some(), expect, "{sync:?}");
        }
    }

    #[test]
    fn a_large_group_is_held_open_while_it_grows_and_a_small_one_is_not() {
        let o = WalOptions { group_grow: Duration::from_secs(5), ..opts(64 << 20) };
        let (wal, _) = replay(&SimDisk::new(), o, 0).unwrap();
        let wal = std::rc::Rc::new(wal);
        // A small group is written at once: a write another task makes once
        // this one yields is not in it.
        crate::rt::block_on({
            let wal = wal.clone();
            async move {
                put(&wal, 1, "a");
                let w = wal.clone();
                let task = glommio::spawn_local(async move {
                    futures_lite::future::yield_now().await;
                    put(&w, 2, "later");
                });
                wal.commit(true).await.unwrap();
                assert_eq!((wal.written_seq(), wal.commits()), (1, 1));
                task.await;
            }
        });
        // A large one waits, loop after loop, while writes keep coming: here
        // two writes arrive in each of the first three loops, none in the fourth.
        let last = 2 + GROW_MIN_WRITES as SeqNo; // write 2 is pending
        for seq in 3..=last {
            put(&wal, seq, "b");
        }
        let (mut loops, mut seq) = (0, last);
        block_on(wal.let_group_grow_with(|| {
            loops += 1;
            if loops <= 3 {
                for _ in 0..2 {
                    seq += 1;
                    put(&wal, seq, "c");
                }
            }
            async {}
        }));
        assert_eq!((loops, seq), (4, last + 6));
        let st = wal.state.borrow();
        assert_eq!((st.pending_max_seq, st.pending_writes, wal.commits()), (last + 6, 71, 1), "all in one group");
        drop(st);
        // ...but not past `group_grow`, however long writes keep coming.
        let mut wal = std::rc::Rc::into_inner(wal).expect("the only handle");
        wal.opts.group_grow = Duration::from_millis(20);
        for _ in 0..GROW_MIN_WRITES {
            seq += 1;
            put(&wal, seq, "d");
        }
        let started = std::time::Instant::now();
        let mut loops = 0;
        block_on(wal.let_group_grow_with(|| {
            loops += 1;
            seq += 1;
            put(&wal, seq, "e");
            std::thread::sleep(Duration::from_millis(5));
            async {}
        }));
        assert!(started.elapsed() >= Duration::from_millis(20) && (4..=6).contains(&loops), "{loops} loops");
    }

    #[test]
    fn the_pending_bound_holds_until_more_than_it_is_pending_and_a_commit_clears_it() {
        let (wal, _) = replay(&SimDisk::new(), WalOptions { sync: SyncMode::None, ..opts(64 << 20) }, 0).unwrap();
        let bound = wal.opts.max_pending_bytes;
        let big = "k".repeat(1000);
        for seq in 1.. {
            put(&wal, seq, &big);
            assert_eq!(wal.pending_within_bound(), wal.pending_bytes() <= bound);
            if wal.pending_bytes() > bound {
                break;
            }
        }
        block_on(wal.commit(false)).unwrap();
        assert!(wal.pending_within_bound() && wal.pending_bytes() == 0);
    }
}
