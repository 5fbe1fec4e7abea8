//! Types shared by every part of the engine: sequence numbers, value kinds,
//! and the order of internal entries (user key ascending, sequence descending,
//! so the newest version of a key comes first).

use std::cmp::Ordering;

use super::error::DecodeError;

/// Every write gets the next sequence number; 0 is never assigned.
pub type SeqNo = u64;

/// Largest sequence number that can be assigned (top byte reserved).
pub const MAX_SEQ: SeqNo = (1 << 56) - 1;

/// What a stored version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// A deletion marker: the key has no value as of this sequence number.
    Tombstone = 0,
    /// A value.
    Value = 1,
}

impl TryFrom<u8> for ValueKind {
    type Error = DecodeError;
    fn try_from(b: u8) -> Result<Self, DecodeError> {
        match b {
            0 => Ok(ValueKind::Tombstone),
            1 => Ok(ValueKind::Value),
            t => Err(DecodeError::InvalidTag(t)),
        }
    }
}

/// One version of one key, as it flows through iterators, flushes and compactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub seq: SeqNo,
    pub kind: ValueKind,
    /// Empty for tombstones.
    pub value: Vec<u8>,
}

/// The internal order: user key ascending, then sequence number descending.
#[inline]
pub fn cmp_internal(a_key: &[u8], a_seq: SeqNo, b_key: &[u8], b_seq: SeqNo) -> Ordering {
    a_key.cmp(b_key).then(b_seq.cmp(&a_seq))
}

/// A key's first 8 bytes as a big-endian number, zero padded: a cheap first
/// comparison. Zero padding keeps the order: if two keys' prefixes differ,
/// the keys compare the same way; if they are equal, compare the keys.
#[inline]
pub fn key_prefix(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

/// Pack a sequence number and kind into the 8-byte trailer stored with each key.
#[inline]
pub fn pack_seq_kind(seq: SeqNo, kind: ValueKind) -> u64 {
    debug_assert!(seq <= MAX_SEQ);
    (seq << 8) | kind as u64
}

/// Inverse of [`pack_seq_kind`].
#[inline]
pub fn unpack_seq_kind(v: u64) -> Result<(SeqNo, ValueKind), DecodeError> {
    Ok((v >> 8, ValueKind::try_from((v & 0xff) as u8)?))
}

/// Start loading the cache line at `p` (a hint: it never faults).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; any address is allowed.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_order_newest_first() {
        assert_eq!(cmp_internal(b"a", 5, b"a", 3), Ordering::Less);
        assert_eq!(cmp_internal(b"a", 1, b"b", 9), Ordering::Less);
        assert_eq!(cmp_internal(b"a", 3, b"a", 3), Ordering::Equal);
    }

    #[test]
    fn seq_kind_roundtrip_and_bad_tag() {
        let p = pack_seq_kind(MAX_SEQ, ValueKind::Value);
        assert_eq!(unpack_seq_kind(p).unwrap(), (MAX_SEQ, ValueKind::Value));
        assert_eq!(unpack_seq_kind(7 << 8 | 9), Err(DecodeError::InvalidTag(9)));
    }
}
