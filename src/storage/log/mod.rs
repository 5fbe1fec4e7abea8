//! The log: checksummed records in append-only files, used by the WAL and the manifest.

pub mod format;
pub mod writer;

#[cfg(test)]
pub use format::encode_record;
pub use format::{record_header, scan, Scan, HEADER_BYTES, MAX_RECORD_BYTES};
pub use writer::LogFileWriter;

use std::path::Path;

use crate::storage::disk::{Disk, DiskFile, ALIGN};
use crate::storage::error::{Error, Result};

/// Read a whole file into memory (log files are read only at recovery).
pub async fn read_whole<F: DiskFile>(file: &F, path: &Path) -> Result<F::Bytes> {
    file.read_whole().await.map_err(|e| Error::io(path, e))
}

/// How a log file is kept on disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileMode {
    /// Reserve this much with `fallocate` (keeping the size) when the file is
    /// made, and after cutting a torn tail. 0: reserve nothing; the WAL then
    /// fills its segments with zeros ahead of the log instead (`wal.rs`).
    pub preallocate_bytes: u64,
    /// Open with `O_DSYNC`: each write is durable when it completes, and
    /// [`LogFileWriter::sync`] has nothing left to do.
    pub dsync: bool,
}

async fn open_mode<D: Disk>(disk: &D, path: &Path, mode: FileMode) -> Result<D::File> {
    let file = if mode.dsync { disk.open_dsync(path).await } else { disk.open(path).await };
    file.map_err(|e| Error::io(path, e))
}

/// Open `path` to append after its valid data ending at `end`. Bytes past
/// `end` must read as zeros again (a torn tail must not be taken for records
/// later): with preallocation the file is cut at `end` and reserved again;
/// without, the torn bytes are overwritten with zeros and the file keeps its
/// length (the zero-filled space past the log stays written).
///
/// `damaged`: the scan stopped at damage (a torn tail), not at a zero header.
/// Only then is anything rewritten: past a zero header, a recycled segment's
/// older records are never taken for live ones (docs/FORMAT.md).
pub async fn resume<D: Disk>(
    disk: &D,
    path: &Path,
    buf: &[u8],
    end: u64,
    damaged: bool,
    mode: FileMode,
) -> Result<LogFileWriter<D::File>> {
    let file = open_mode(disk, path, mode).await?;
    let tail_start = (end - end % ALIGN as u64) as usize;
    let after = buf.get(end as usize..).unwrap_or_default();
    if damaged {
        if mode.preallocate_bytes > 0 {
            file.truncate(end).await.map_err(|e| Error::io(path, e))?;
            file.preallocate(mode.preallocate_bytes).await.map_err(|e| Error::io(path, e))?;
            file.sync_data().await.map_err(|e| Error::io(path, e))?;
        } else if let Some(last) = after.iter().rposition(|&b| b != 0) {
            let garbage_end = crate::storage::disk::align_up(end as usize + last + 1);
            let mut blocks = buf[tail_start..end as usize].to_vec();
            blocks.resize(garbage_end - tail_start, 0);
            file.write_at(tail_start as u64, &blocks).await.map_err(|e| Error::io(path, e))?;
            file.sync_data().await.map_err(|e| Error::io(path, e))?;
        }
    }
    let tail = buf.get(tail_start..end as usize).unwrap_or(&[]).to_vec();
    Ok(LogFileWriter::new(file, path.to_path_buf(), end, tail, mode.dsync))
}

/// Open a log file to write it again from offset 0 over its old contents (a
/// recycled WAL segment, its name already durable). The records written must
/// number above every record in it. Returns the writer and the file's length.
pub async fn reuse<D: Disk>(disk: &D, path: &Path, mode: FileMode) -> Result<(LogFileWriter<D::File>, u64)> {
    let file = open_mode(disk, path, mode).await?;
    let len = file.len().await.map_err(|e| Error::io(path, e))?;
    Ok((LogFileWriter::new(file, path.to_path_buf(), 0, Vec::new(), mode.dsync), len))
}

/// Create a fresh log file and make its name durable.
pub async fn create<D: Disk>(disk: &D, dir: &Path, path: &Path, mode: FileMode) -> Result<LogFileWriter<D::File>> {
    let mut file = disk.create(path).await.map_err(|e| Error::io(path, e))?;
    if mode.preallocate_bytes > 0 {
        file.preallocate(mode.preallocate_bytes).await.map_err(|e| Error::io(path, e))?;
    }
    disk.sync_dir(dir).await.map_err(|e| Error::io(dir, e))?;
    if mode.dsync {
        file.close().await.map_err(|e| Error::io(path, e))?;
        file = open_mode(disk, path, mode).await?;
    }
    Ok(LogFileWriter::new(file, path.to_path_buf(), 0, Vec::new(), mode.dsync))
}
