//! How a (partition key, sort key) pair becomes an engine key, pure.
//!
//! ```text
//! engine key = token (u64, big endian) | pk_len (u16, big endian) | partition key | sort key
//! ```
//!
//! Engine keys sort bytewise, so items sort by token, then partition key
//! (length first), then sort key. One partition is one contiguous key range,
//! and a token range of the ring is one contiguous key range too: Merkle trees
//! and streaming a range to a new node are range scans. See docs/FORMAT.md.

use crate::ring;

/// Largest partition key, in bytes.
pub const MAX_PARTITION_KEY_BYTES: usize = 1024;
/// Largest sort key, in bytes.
pub const MAX_SORT_KEY_BYTES: usize = 1024;

const _: () = assert!(MAX_PARTITION_KEY_BYTES <= u16::MAX as usize);

/// The engine-key prefix shared by every item of a partition.
pub fn partition_prefix(pk: &[u8]) -> Vec<u8> {
    debug_assert!(!pk.is_empty() && pk.len() <= MAX_PARTITION_KEY_BYTES);
    let mut k = Vec::with_capacity(10 + pk.len() + 16);
    k.extend_from_slice(&ring::token(pk).to_be_bytes());
    k.extend_from_slice(&(pk.len() as u16).to_be_bytes());
    k.extend_from_slice(pk);
    k
}

/// The engine key of an item.
pub fn encode(pk: &[u8], sk: &[u8]) -> Vec<u8> {
    let mut k = partition_prefix(pk);
    k.extend_from_slice(sk);
    k
}

/// `f` of the engine key of an item, built on the stack when it is short (no
/// allocation); `token` is `ring::token(pk)`, which the caller has already.
pub fn with_encoded<R>(token: u64, pk: &[u8], sk: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    const SHORT: usize = 128;
    let len = 10 + pk.len() + sk.len();
    if len > SHORT {
        return f(&encode(pk, sk));
    }
    let mut buf = [0u8; SHORT];
    buf[..8].copy_from_slice(&token.to_be_bytes());
    buf[8..10].copy_from_slice(&(pk.len() as u16).to_be_bytes());
    buf[10..10 + pk.len()].copy_from_slice(pk);
    buf[10 + pk.len()..len].copy_from_slice(sk);
    f(&buf[..len])
}

/// Split an engine key back into (token, partition key, sort key).
pub fn decode(key: &[u8]) -> Option<(u64, &[u8], &[u8])> {
    let token = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let len = u16::from_be_bytes(key.get(8..10)?.try_into().ok()?) as usize;
    let pk = key.get(10..10 + len)?;
    let sk = key.get(10 + len..)?;
    Some((token, pk, sk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_partition_contiguity() {
        let k = encode(b"user1", b"2024");
        let (t, pk, sk) = decode(&k).unwrap();
        assert_eq!((t, pk, sk), (ring::token(b"user1"), &b"user1"[..], &b"2024"[..]));
        let p = partition_prefix(b"user1");
        assert!(k.starts_with(&p));
        // Sort keys order inside a partition.
        assert!(encode(b"user1", b"a") < encode(b"user1", b"b"));
        assert!(encode(b"user1", b"") < encode(b"user1", b"\0"));
        assert_eq!(decode(b"short"), None);
        assert_eq!(decode(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 1]), None);
    }

    #[test]
    fn encoded_on_the_stack_is_the_same_key() {
        for (pk, sk) in [(&b"k"[..], &b""[..]), (b"user1", b"2024"), (&[7u8; 100][..], &[9u8; 100][..])] {
            let k = with_encoded(ring::token(pk), pk, sk, <[u8]>::to_vec);
            assert_eq!(k, encode(pk, sk));
        }
    }
}
