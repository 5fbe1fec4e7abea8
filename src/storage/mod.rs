//! The per-shard LSM storage engine.
//!
//! Owns: the write-ahead log, memtables, SSTables, the manifest, compaction.
//! Does not own: networking, routing, replication (those live above it and
//! treat keys and values as opaque bytes).

pub mod codec;
pub mod disk;
pub mod error;
pub mod types;

pub use disk::{Disk, DiskFile, DmaDisk, SimDisk};
pub use error::{DecodeError, Error, Result};
pub use types::{Entry, SeqNo, ValueKind};
pub mod batch;
pub mod log;
pub mod memtable;
pub mod notify;
pub mod wal;
pub mod compaction;
pub mod manifest;
pub mod version;
