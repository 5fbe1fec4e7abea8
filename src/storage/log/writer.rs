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
use crate::storage::disk::{align_up, gather, DiskFile, ALIGN};

pub struct LogFileWriter<F: DiskFile> {
    file: F,
    path: PathBuf,
    /// File offset of `tail[0]`; always a multiple of ALIGN.
    tail_offset: u64,
    /// Bytes from `tail_offset` to the logical end of the log; shorter than ALIGN between writes.
    tail: Vec<u8>,
    /// The file was opened `O_DSYNC`: writes are durable when they complete.
    dsync: bool,
    /// The next tail is built here, then swapped in.
    spare: Vec<u8>,
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
        LogFileWriter { file, path, tail_offset, tail, dsync, spare: Vec::with_capacity(ALIGN) }
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

    /// Write one record at the end: the partial block, the record's header
    /// and payload (copied once, straight into the buffers the device
    /// reads), as whole blocks ending in zeros; then keep the new partial
    /// block. Not durable until `sync`. Steady-state writes allocate nothing
    /// here. On an error the tail is as it was (the log fails closed: the
    /// caller will not write again).
    pub async fn write_record(&mut self, record_no: u64, payload: &[u8]) -> io::Result<()> {
        let header = super::record_header(record_no, payload);
        let all = [self.tail.as_slice(), &header, payload];
        let logical = all.iter().map(|p| p.len()).sum::<usize>();
        self.file.write_parts_at(self.tail_offset, padded(logical), &all).await?;
        let full = logical / ALIGN * ALIGN;
        self.spare.resize(logical - full, 0);
        gather(&all, full, &mut self.spare);
        std::mem::swap(&mut self.tail, &mut self.spare);
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
