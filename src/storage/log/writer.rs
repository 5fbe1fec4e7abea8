//! Appends encoded records to one log file with aligned direct writes.
//!
//! O_DIRECT writes whole 4 KiB blocks, but records are packed back to back, so
//! the last block of each write is partly filled. The writer keeps that partial
//! block in memory and rewrites it, extended, at the next write. Rewriting a
//! block whose first bytes are already durable is safe under the media
//! assumption of docs/FORMAT.md: a sector reads back as either its old or its
//! new contents, and both hold the same bytes for the durable prefix.
//!
//! Each write ends with at least a header's worth of zeros (one more block
//! when the record ends within [`HEADER_BYTES`] of a block's end): a reader
//! stops at that zero header even in a recycled file, whose older bytes lie
//! beyond.

use std::io;
use std::path::{Path, PathBuf};

use super::HEADER_BYTES;
use crate::storage::disk::{align_up, DiskFile, ALIGN};

pub struct LogFileWriter<F: DiskFile> {
    file: F,
    path: PathBuf,
    /// File offset of `tail[0]`; always a multiple of ALIGN.
    tail_offset: u64,
    /// Bytes from `tail_offset` to the logical end of the log; shorter than ALIGN between writes.
    tail: Vec<u8>,
    /// The file was opened `O_DSYNC`: writes are durable when they complete.
    dsync: bool,
}

/// Bytes one write of `logical` bytes from a block start covers: whole
/// blocks, with at least a zero header after the data.
fn padded(logical: usize) -> usize {
    align_up(logical + HEADER_BYTES)
}

impl<F: DiskFile> LogFileWriter<F> {
    /// Resume writing `file` whose valid data ends at `end`; `tail` holds the
    /// file's bytes from `end` rounded down to ALIGN up to `end`. `dsync`:
    /// the file was opened with `Disk::open_dsync`.
    pub fn new(file: F, path: PathBuf, end: u64, tail: Vec<u8>, dsync: bool) -> Self {
        let tail_offset = end - (end % ALIGN as u64);
        assert_eq!(tail.len() as u64, end - tail_offset, "tail must be the partial last block");
        LogFileWriter { file, path, tail_offset, tail, dsync }
    }

    /// Where a write of `payload_len` more bytes would end on disk (the
    /// writer writes whole blocks from the start of the partial one).
    pub fn write_end_after(&self, payload_len: usize) -> u64 {
        self.tail_offset + padded(self.tail.len() + payload_len) as u64
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Logical end of the log: where the next record goes.
    pub fn end(&self) -> u64 {
        self.tail_offset + self.tail.len() as u64
    }

    /// Write `records` (already encoded) at the end. Not durable until `sync`.
    pub async fn write(&mut self, records: &[u8]) -> io::Result<()> {
        let old_len = self.tail.len();
        self.tail.extend_from_slice(records);
        self.write_tail(old_len).await
    }

    /// Encode one record straight into the write buffer and write it.
    pub async fn write_record(&mut self, record_no: u64, payload: &[u8]) -> io::Result<()> {
        let old_len = self.tail.len();
        super::encode_record(&mut self.tail, record_no, payload);
        self.write_tail(old_len).await
    }

    /// Write `tail` (the old partial block, then what was appended after
    /// `old_len`), then keep only the new partial block. The buffer keeps its
    /// capacity, so steady-state writes allocate nothing.
    async fn write_tail(&mut self, old_len: usize) -> io::Result<()> {
        let logical = self.tail.len();
        self.tail.resize(padded(logical), 0);
        let res = self.file.write_at(self.tail_offset, &self.tail).await;
        self.tail.truncate(logical);
        if res.is_err() {
            // Keep the old tail: the caller will not write again after an error
            // (the log fails closed), but keep the state consistent anyway.
            self.tail.truncate(old_len);
            return res;
        }
        let full = logical / ALIGN * ALIGN;
        self.tail.copy_within(full.., 0);
        self.tail.truncate(logical - full);
        self.tail_offset += full as u64;
        Ok(())
    }

    /// Make everything written durable (nothing to do for an `O_DSYNC` file).
    pub async fn sync(&self) -> io::Result<()> {
        if self.dsync {
            return Ok(());
        }
        self.file.sync_data().await
    }

    pub async fn close(self) -> io::Result<()> {
        self.file.close().await
    }
}
