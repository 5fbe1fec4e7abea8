//! Errors of the storage engine.
//!
//! Two layers: [`DecodeError`] is what the pure decoders return (they know
//! nothing of files); the I/O shell wraps it into [`Error::Corruption`] with the
//! file name and offset, so every report names where the bad bytes are.

use std::path::Path;

/// What a pure decoder found wrong with its input. Never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("truncated: needed {needed} bytes, had {had}")]
    Truncated { needed: usize, had: usize },
    #[error("checksum mismatch: stored {expected:#010x}, computed {got:#010x}")]
    ChecksumMismatch { expected: u32, got: u32 },
    #[error("invalid tag {0}")]
    InvalidTag(u8),
    #[error("bad magic {0:#x}")]
    BadMagic(u64),
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u32),
    #[error("length {len} exceeds limit {limit}")]
    TooLarge { len: u64, limit: u64 },
    #[error("invalid: {0}")]
    Invalid(&'static str),
}

/// Errors of the engine as seen by its users.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("I/O error on {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("corruption in {file} at offset {offset}: {source}")]
    Corruption { file: String, offset: u64, source: DecodeError },
    /// A sync (fdatasync) failed once; the engine refuses all further writes,
    /// because the kernel may have dropped the dirty pages (no retry-and-pretend).
    #[error("engine is read-only after a failed sync: {0}")]
    ReadOnly(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("engine is closed")]
    Closed,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { path: path.display().to_string(), source }
    }
    pub fn corruption(file: &Path, offset: u64, source: DecodeError) -> Self {
        Error::Corruption { file: file.display().to_string(), offset, source }
    }
}
