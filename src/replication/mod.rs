//! Replication, pure: causality for Dynamo-style replication.
//!
//! A stored item is a [`SiblingSet`]: the concurrent versions of a key, each
//! tagged with a [`Dot`] (the node that coordinated the write and a counter)
//! and holding a value or a tombstone, plus a [`VersionVector`] that summarises
//! every write the set has seen (kept or superseded). This is the *dotted
//! version vector set* of Riak 2.x (Preguiça et al., "Dotted Version Vectors:
//! Logical Clocks for Optimistic Replication"): one clock entry per
//! coordinating node, not per client, and no sibling explosion.
//!
//! - `version_vector.rs`: [`Dot`], [`VersionVector`] and the opaque causal
//!   context handed to clients (`encode`/`decode`, at most 4096 bytes).
//! - `siblings.rs`: [`SiblingSet`]: coordinator `update`, replica `merge`,
//!   `descends` for read repair, last-write-wins resolution.
//! - `prune.rs`: [`PruneConfig`]: bounding clock entries.
//! - `codec.rs`: the stored byte layout of a [`SiblingSet`].
//!
//! No I/O, no time source: `now_ms` is passed in. CAUSALITY.md has the model,
//! the byte layouts and the rules the coordinator must follow.

mod codec;
pub mod coordinator;
pub mod messages;
mod prune;
pub mod quorum;
pub mod replica;
mod siblings;
mod version_vector;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

pub use codec::{ContextBytes, ReadRef};
pub use coordinator::{Coordinator, Outcome, Params, QuorumError};
pub use messages::{MessageError, ReplicaFailure, ReplicaReply, ReplicaRequest};
pub use prune::PruneConfig;
pub use quorum::{Consistency, OpKind, Plan, ReplicationConfig};
pub use replica::{DotCounter, MemStore, Replica, ReplicaStore, Step};
pub use siblings::{ReadAnswer, SiblingSet, Version};
pub use version_vector::{ClockEntry, Dot, VersionVector};

/// Most siblings a set may hold (a write that would exceed it is refused).
pub const MAX_SIBLINGS: usize = 64;
/// Largest value of one sibling.
pub const MAX_VALUE_BYTES: usize = 4 << 20;
/// Largest sum of the values of a set: 7 MiB, so that a whole set still fits
/// in one 8 MiB native-protocol frame when it travels between replicas.
pub const MAX_TOTAL_VALUE_BYTES: usize = 7 << 20;
/// Most entries in a clock, stored or as a context.
pub const MAX_CLOCK_ENTRIES: usize = 128;
/// Largest encoded causal context handed to a client.
pub const MAX_CONTEXT_BYTES: usize = 4096;

// A full context (entries of at most 5 + 10 + 10 bytes, header, checksum) fits.
const _: () = assert!(1 + 2 + MAX_CLOCK_ENTRIES * 25 + 4 <= MAX_CONTEXT_BYTES);
const _: () = assert!(MAX_VALUE_BYTES <= MAX_TOTAL_VALUE_BYTES);

/// Errors of the causality layer: bad bytes from disk or clients, and writes
/// that would break a limit. Never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CausalError {
    #[error("truncated: {needed} more bytes needed at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("unknown format version {0}")]
    UnknownVersion(u8),
    #[error("checksum mismatch: got {got:#010x}, expected {expected:#010x}")]
    ChecksumMismatch { got: u32, expected: u32 },
    #[error("malformed varint at offset {0}")]
    BadVarint(usize),
    #[error("invalid sibling tag {0}")]
    InvalidTag(u8),
    #[error("{0} not in strictly ascending order")]
    NotCanonical(&'static str),
    #[error("zero counter in a clock entry or dot")]
    ZeroCounter,
    #[error("sibling {0} is not covered by the clock")]
    DotNotCovered(Dot),
    #[error("{what} too large: {got} > {max}")]
    TooLarge { what: &'static str, got: usize, max: usize },
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    #[error("node id {0} does not fit in 32 bits")]
    BadNodeId(u64),
}
