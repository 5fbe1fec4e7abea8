//! Partitioning, pure: the token of a key and the shard that owns a token.
//!
//! A key's token is `xxh3_64(partition key)`. Inside a node, shard `i` of `n`
//! owns the token range `[i * 2^64 / n, (i + 1) * 2^64 / n)`, so the shard is
//! `(token * n) >> 64`. The cluster ring (virtual nodes, preference lists)
//! uses the same token, so a key's place on the ring and its shard inside a
//! node never disagree.

use xxhash_rust::xxh3::xxh3_64;

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
