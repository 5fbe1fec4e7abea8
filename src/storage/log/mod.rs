//! The log: checksummed records in append-only files, used by the WAL and the manifest.

pub mod format;
pub mod writer;

pub use format::{encode_record, scan, Scan, HEADER_BYTES, MAX_RECORD_BYTES};
pub use writer::LogFileWriter;

use std::path::Path;

use crate::storage::disk::{Disk, DiskFile, ALIGN};
use crate::storage::error::{Error, Result};

/// Read a whole file into memory (log files are read only at recovery).
pub async fn read_whole<F: DiskFile>(file: &F, path: &Path) -> Result<Vec<u8>> {
    let len = file.len().await.map_err(|e| Error::io(path, e))?;
    file.read_at(0, len as usize).await.map_err(|e| Error::io(path, e))
}

/// Open `path` to append after its valid data ending at `end`, after
/// truncating anything beyond (a torn tail) so it reads as zeros again.
pub async fn resume<D: Disk>(
    disk: &D,
    path: &Path,
    buf: &[u8],
    end: u64,
    preallocate_bytes: u64,
) -> Result<LogFileWriter<D::File>> {
    let file = disk.open(path).await.map_err(|e| Error::io(path, e))?;
    if (buf.len() as u64) > end {
        file.truncate(end).await.map_err(|e| Error::io(path, e))?;
        if preallocate_bytes > 0 {
            file.preallocate(preallocate_bytes).await.map_err(|e| Error::io(path, e))?;
        }
        file.sync_data().await.map_err(|e| Error::io(path, e))?;
    }
    let tail_start = (end - end % ALIGN as u64) as usize;
    let tail = buf.get(tail_start..end as usize).unwrap_or(&[]).to_vec();
    Ok(LogFileWriter::new(file, path.to_path_buf(), end, tail))
}

/// Create a fresh log file and make its name durable.
pub async fn create<D: Disk>(
    disk: &D,
    dir: &Path,
    path: &Path,
    preallocate_bytes: u64,
) -> Result<LogFileWriter<D::File>> {
    let file = disk.create(path).await.map_err(|e| Error::io(path, e))?;
    if preallocate_bytes > 0 {
        file.preallocate(preallocate_bytes).await.map_err(|e| Error::io(path, e))?;
    }
    disk.sync_dir(dir).await.map_err(|e| Error::io(dir, e))?;
    Ok(LogFileWriter::new(file, path.to_path_buf(), 0, Vec::new()))
}
