//! ringkv: a thread-per-core, shared-nothing key-value storage node.
//!
//! - [`storage`]: the per-shard LSM engine (WAL with group commit, memtable,
//!   SSTables with Bloom filters, leveled and size-tiered compaction).
//! - [`rt`]: running shard code on a glommio executor outside the server.

pub mod client;
pub mod config;
pub mod keys;
pub mod outbox;
pub mod protocol;
pub mod replication;
pub mod resp;
pub mod ring;
pub mod rt;
pub mod server;
pub mod storage;
