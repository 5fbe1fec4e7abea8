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
pub mod compaction;
pub mod engine;
pub mod iter;
pub mod log;
pub mod manifest;
pub mod manifest_file;
pub mod memtable;
pub mod notify;
pub mod slice;
pub mod sstable;
pub mod version;
pub mod wal;

pub use batch::WriteBatch;
pub use compaction::CompactionStrategy;
pub use engine::{wal_segments_at_bound, Engine, Latest, Options, Prefetch, Stats, Touch};
pub use wal::SyncMode;
