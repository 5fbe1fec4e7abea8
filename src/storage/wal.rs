//! The write-ahead log: segment files of log records, with group commit.
//!
//! Writers append encoded batches to an in-memory pending buffer (assigning
//! sequence numbers in append order). One task at a time, the *leader*, takes
//! everything pending, writes it as one log record and, in `always` mode,
//! fdatasyncs it; writes that arrive meanwhile wait and go in the next record.
//! A write in `always` mode completes only after the fdatasync that covers it.
//!
//! A failed write or sync fails the log for good: the kernel may have dropped
//! the dirty data, so retrying and reporting success would lie.
//!
//! Segments are named `wal-<id>.log`, preallocated, and never reused. A segment
//! can be removed once every write in it is in a durable SSTable.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::storage::batch::{decode_batches, Op};
use crate::storage::disk::{Disk, DiskFile};
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
    /// A writer waits for a background write when this much is pending (non-`always` modes).
    pub max_pending_bytes: usize,
}

struct Segment {
    id: u64,
    path: PathBuf,
    /// Highest sequence number written to it (0: none yet).
    max_seq: SeqNo,
}

struct State<F: crate::storage::disk::DiskFile> {
    /// None while the leader has it out for a write.
    writer: Option<LogFileWriter<F>>,
    segments: VecDeque<Segment>,
    next_segment_id: u64,
    next_record_no: u64,
    pending: Vec<u8>,
    /// The buffer of the last group written, cleared: the next `pending`, so
    /// group commits reuse two buffers instead of growing a new one each time.
    spare: Vec<u8>,
    pending_max_seq: SeqNo,
    /// Every write with seq <= this is on disk (and synced, in `always` and `interval` modes).
    written_seq: SeqNo,
    leader_active: bool,
    rotate_requested: bool,
    failed: Option<String>,
    /// Bytes written to segment files, for write-amplification accounting.
    bytes_written: u64,
}

pub struct Wal<D: Disk> {
    disk: D,
    opts: WalOptions,
    state: RefCell<State<D::File>>,
    progress: Notify,
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
        let mut last: Option<(PathBuf, Vec<u8>, u64)> = None;
        for (i, &id) in ids.iter().enumerate() {
            let path = dir.join(segment_name(id));
            let file = disk.open(&path).await.map_err(|e| Error::io(&path, e))?;
            let buf = log::read_whole(&file, &path).await?;
            file.close().await.map_err(|e| Error::io(&path, e))?;
            let scan = log::scan(&buf, expect_no);
            let is_last = i + 1 == ids.len();
            if let Some((off, err)) = scan.damage.clone() {
                if !is_last || scan.valid_after_damage.is_some() {
                    return Err(Error::corruption(&path, off, err));
                }
                tracing::warn!(file = %path.display(), offset = off, error = %err, "WAL: torn tail, truncating");
                rec.truncated_tail = Some((path.clone(), off));
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
            segments.push_back(Segment { id, path: path.clone(), max_seq });
            let end = scan.end;
            drop(scan);
            if is_last {
                last = Some((path, buf, end));
            }
        }
        let next_segment_id = ids.last().map_or(1, |l| l + 1);
        let writer = match last {
            Some((path, buf, end)) => Some(log::resume(&disk, &path, &buf, end, opts.segment_bytes).await?),
            None => None,
        };
        let state = State {
            writer,
            segments,
            next_segment_id,
            next_record_no: expect_no.unwrap_or(1),
            pending: Vec::new(),
            spare: Vec::new(),
            pending_max_seq: rec.last_seq,
            written_seq: rec.last_seq,
            leader_active: false,
            rotate_requested: false,
            failed: None,
            bytes_written: 0,
        };
        let wal = Wal { disk, opts, state: RefCell::new(state), progress: Notify::default() };
        if wal.state.borrow().writer.is_none() {
            wal.rotate_now().await?;
        }
        Ok((wal, rec))
    }

    pub fn sync_mode(&self) -> SyncMode {
        self.opts.sync
    }

    /// Add an encoded batch whose last sequence number is `last_seq`. Sequence
    /// numbers must be appended in increasing order.
    pub fn append(&self, encoded: &[u8], last_seq: SeqNo) -> Result<()> {
        let mut st = self.state.borrow_mut();
        if let Some(why) = &st.failed {
            return Err(Error::ReadOnly(why.clone()));
        }
        debug_assert!(last_seq > st.pending_max_seq);
        st.pending.extend_from_slice(encoded);
        st.pending_max_seq = last_seq;
        Ok(())
    }

    /// Pending bytes not yet handed to the disk.
    pub fn pending_bytes(&self) -> usize {
        self.state.borrow().pending.len()
    }

    /// Every write with seq <= this is on disk (synced in `always`/`interval`).
    pub fn written_seq(&self) -> SeqNo {
        self.state.borrow().written_seq
    }

    pub fn bytes_written(&self) -> u64 {
        self.state.borrow().bytes_written
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

    /// Write everything pending as one record (the group commit), then sync if asked.
    pub async fn commit(&self, sync: bool) -> Result<()> {
        let (mut writer, mut payload, upto, record_no, rotate) = {
            let mut st = self.state.borrow_mut();
            if let Some(why) = &st.failed {
                return Err(Error::ReadOnly(why.clone()));
            }
            if st.leader_active || st.pending.is_empty() {
                return Ok(());
            }
            st.leader_active = true;
            let spare = std::mem::take(&mut st.spare);
            let payload = std::mem::replace(&mut st.pending, spare);
            let writer = st.writer.take().expect("writer present when no leader is active");
            let rotate =
                st.rotate_requested || writer.end() + (HEADER_BYTES + payload.len()) as u64 > self.opts.segment_bytes;
            st.rotate_requested = false;
            (writer, payload, st.pending_max_seq, st.next_record_no, rotate)
        };
        let res = self.write_group(&mut writer, &payload, record_no, sync, rotate).await;
        let mut st = self.state.borrow_mut();
        st.leader_active = false;
        let written = payload.len();
        payload.clear();
        st.spare = payload;
        match res {
            Ok(new_writer) => {
                st.writer = Some(new_writer.unwrap_or(writer));
                st.next_record_no += 1;
                st.written_seq = upto;
                st.bytes_written += (HEADER_BYTES + written) as u64;
                if let Some(seg) = st.segments.back_mut() {
                    seg.max_seq = upto;
                }
                drop(st);
                self.progress.notify_all();
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

    /// Returns a new writer if it switched segments.
    async fn write_group(
        &self,
        writer: &mut LogFileWriter<D::File>,
        payload: &[u8],
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
        w.write_record(record_no, payload).await.map_err(|e| Error::io(w.path(), e))?;
        if sync {
            w.sync().await.map_err(|e| Error::io(w.path(), e))?;
        }
        Ok(new)
    }

    async fn open_next_segment(&self) -> Result<LogFileWriter<D::File>> {
        let id = {
            let mut st = self.state.borrow_mut();
            let id = st.next_segment_id;
            st.next_segment_id += 1;
            id
        };
        let path = self.opts.dir.join(segment_name(id));
        let w = log::create(&self.disk, &self.opts.dir, &path, self.opts.segment_bytes).await?;
        let mut st = self.state.borrow_mut();
        let max_seq = st.written_seq;
        st.segments.push_back(Segment { id, path, max_seq });
        Ok(w)
    }

    async fn rotate_now(&self) -> Result<()> {
        let w = self.open_next_segment().await?;
        self.state.borrow_mut().writer = Some(w);
        Ok(())
    }

    /// Start a new segment at the next commit, so that the writes before this
    /// point can be released together once flushed.
    pub fn request_rotation(&self) {
        self.state.borrow_mut().rotate_requested = true;
    }

    /// Remove segments whose writes are all `<= flushed_seq` (never the current one).
    pub async fn release(&self, flushed_seq: SeqNo) -> Result<usize> {
        let doomed: Vec<PathBuf> = {
            let mut st = self.state.borrow_mut();
            let mut out = Vec::new();
            while st.segments.len() > 1 && st.segments.front().is_some_and(|s| s.max_seq <= flushed_seq) {
                if let Some(s) = st.segments.pop_front() {
                    out.push(s.path);
                }
            }
            out
        };
        for p in &doomed {
            self.disk.remove(p).await.map_err(|e| Error::io(p, e))?;
        }
        if !doomed.is_empty() {
            self.disk.sync_dir(&self.opts.dir).await.map_err(|e| Error::io(&self.opts.dir, e))?;
        }
        Ok(doomed.len())
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
        WalOptions { dir: PathBuf::from("/db"), sync: SyncMode::Always, segment_bytes, max_pending_bytes: 1 << 20 }
    }

    fn put(wal: &Wal<SimDisk>, seq: SeqNo, key: &str) {
        let mut b = WriteBatch::new();
        b.put(key.as_bytes(), b"value");
        let mut enc = Vec::new();
        b.encode(seq, &mut enc);
        wal.append(&enc, seq).unwrap();
    }

    fn replay(disk: &SimDisk, o: WalOptions, skip: SeqNo) -> Result<(Wal<SimDisk>, Vec<SeqNo>)> {
        let mut seqs = Vec::new();
        let (w, _) = block_on(Wal::open(disk.clone(), o, skip, |op| seqs.push(op.seq)))?;
        Ok((w, seqs))
    }

    #[test]
    fn group_commit_then_crash_keeps_synced_writes_only() {
        let disk = SimDisk::new();
        let (wal, _) = replay(&disk, opts(1 << 20), 0).unwrap();
        for s in 1..=10 {
            put(&wal, s, &format!("k{s}"));
        }
        block_on(wal.wait_written(10, true)).unwrap();
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
        let disk = SimDisk::new();
        let (wal, _) = replay(&disk, opts(1 << 20), 0).unwrap();
        for s in 1..=3 {
            put(&wal, s, "key");
            block_on(wal.wait_written(s, true)).unwrap();
        }
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
            put(&wal, s, &"k".repeat(100));
            block_on(wal.wait_written(s, true)).unwrap();
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
}
