//! Partitioning, pure: the token of a key and the shard that owns a token.
//!
//! A key's token is `xxh3_64(partition key)`. Inside a node, shard `i` of `n`
//! owns the token range `[i * 2^64 / n, (i + 1) * 2^64 / n)`, so the shard is
//! `(token * n) >> 64`. The cluster ring (virtual nodes, preference lists)
//! uses the same token, so a key's place on the ring and its shard inside a
//! node never disagree.
//!
//! - [`Ring`] (`vnodes.rs`): the sorted token → node table, preference lists
//!   (with sloppy-quorum fallbacks) and the token ranges a node replicates.
//! - `allocate.rs`: how a joining node picks its tokens so that ownership
//!   stays balanced (deterministic: same join order, same ring).
//!
//! This module owns no I/O and no membership: it is handed the member list
//! (or the gossiped token table) and answers questions about it.

use std::fmt;

use xxhash_rust::xxh3::xxh3_64;

mod allocate;
mod vnodes;

#[cfg(test)]
mod balance_tests;

pub use vnodes::{range_contains, Ring, RingError, TokenRange, DEFAULT_VNODES, MAX_TOKENS, MAX_VNODES};

/// A cluster member. Assigned by membership when a node first joins and never
/// reused for another node: it names the node on the ring and it is the actor
/// in the dots of the causality clocks (`crate::replication`), which outlive
/// the node's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// The 64-bit ring position of a partition key.
#[inline]
pub fn token(partition_key: &[u8]) -> u64 {
    xxh3_64(partition_key)
}

/// The shard (of `shards`) that owns `token`.
#[inline]
pub fn shard_of(token: u64, shards: usize) -> usize {
    debug_assert!(shards > 0);
    ((token as u128 * shards as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ranges_are_contiguous_and_cover_everything() {
        assert_eq!(shard_of(0, 4), 0);
        assert_eq!(shard_of(u64::MAX, 4), 3);
        assert_eq!(shard_of(1 << 62, 4), 1);
        assert_eq!(shard_of((1 << 62) - 1, 4), 0);
        for n in 1..=64 {
            assert_eq!(shard_of(u64::MAX, n), n - 1);
        }
    }

    #[test]
    fn keys_spread_evenly() {
        let shards = 8;
        let mut counts = vec![0u32; shards];
        for i in 0..80_000u32 {
            counts[shard_of(token(format!("user:{i}").as_bytes()), shards)] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{c}");
        }
    }

    #[test]
    fn token_is_stable() {
        // The token function is part of the on-disk key order: it must never change.
        assert_eq!(token(b""), 0x2d06800538d394c2);
    }
}
