//! Write batches: several puts and deletes applied atomically with
//! consecutive sequence numbers. The encoding is what a WAL record carries.
//!
//! ```text
//! batch: u64 first_seq | u32 count | count x op
//! op:    u8 kind (0 tombstone, 1 value) | varint key_len | key | varint value_len | value
//! ```

use smallvec::SmallVec;

use crate::storage::codec::{put_varint, Reader};
use crate::storage::error::DecodeError;
use crate::storage::types::{SeqNo, ValueKind};

pub const MAX_KEY_BYTES: usize = 64 << 10;
pub const MAX_VALUE_BYTES: usize = 16 << 20;
/// Largest encoded batch; keeps one group commit within a log record.
pub const MAX_BATCH_BYTES: usize = 32 << 20;

const _: () = assert!(MAX_BATCH_BYTES <= crate::storage::log::MAX_RECORD_BYTES / 2);

/// One op of a batch: kind, key, value.
type OwnedOp = (ValueKind, Vec<u8>, Vec<u8>);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// One op inline: most batches are a single write (every SET), which
    /// then allocates nothing here.
    ops: SmallVec<[OwnedOp; 1]>,
    bytes: usize,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        self.push(ValueKind::Value, key, value)
    }
    pub fn delete(&mut self, key: &[u8]) -> &mut Self {
        self.push(ValueKind::Tombstone, key, &[])
    }
    fn push(&mut self, kind: ValueKind, key: &[u8], value: &[u8]) -> &mut Self {
        self.bytes += 1 + 10 + key.len() + 10 + value.len();
        self.ops.push((kind, key.to_vec(), value.to_vec()));
        self
    }
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    pub fn ops(&self) -> impl Iterator<Item = (ValueKind, &[u8], &[u8])> {
        self.ops.iter().map(|(k, key, v)| (*k, key.as_slice(), v.as_slice()))
    }
    /// Upper bound of the encoded size.
    pub fn approximate_bytes(&self) -> usize {
        12 + self.bytes
    }
    /// Check the limits; the engine calls this before assigning sequence numbers.
    pub fn validate(&self) -> Result<(), String> {
        if self.ops.is_empty() {
            return Err("empty write batch".into());
        }
        if self.approximate_bytes() > MAX_BATCH_BYTES {
            return Err(format!("write batch of {} bytes exceeds {MAX_BATCH_BYTES}", self.approximate_bytes()));
        }
        self.ops().try_for_each(|(_, k, v)| validate_op(k, v))
    }
    pub fn encode(&self, first_seq: SeqNo, out: &mut Vec<u8>) {
        encode_ops(first_seq, self.ops.len(), self.ops(), out);
    }
}

/// The limits of one op's key and value. A batch of one op within them is
/// within [`MAX_BATCH_BYTES`] too.
pub fn validate_op(key: &[u8], value: &[u8]) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!("key length {} outside 1..={MAX_KEY_BYTES}", key.len()));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!("value length {} exceeds {MAX_VALUE_BYTES}", value.len()));
    }
    Ok(())
}

const _: () = assert!(12 + 1 + 10 + MAX_KEY_BYTES + 10 + MAX_VALUE_BYTES <= MAX_BATCH_BYTES);

/// Append the encoding of a batch of the `count` ops `ops` (see the module
/// docs), numbered from `first_seq`: [`WriteBatch::encode`], for ops the
/// caller need not own.
pub fn encode_ops<'a>(
    first_seq: SeqNo,
    count: usize,
    ops: impl IntoIterator<Item = (ValueKind, &'a [u8], &'a [u8])>,
    out: &mut Vec<u8>,
) {
    encode_header(first_seq, count, out);
    for (kind, k, v) in ops {
        encode_op(kind, k, v, out);
    }
}

/// Append a batch's header: its first sequence number and op count. The
/// `count` ops follow ([`encode_op`]).
pub fn encode_header(first_seq: SeqNo, count: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&first_seq.to_le_bytes());
    out.extend_from_slice(&(count as u32).to_le_bytes());
}

/// Append one op of a batch.
pub fn encode_op(kind: ValueKind, key: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.push(kind as u8);
    put_varint(out, key.len() as u64);
    out.extend_from_slice(key);
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// One decoded operation, borrowing from the record payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Op<'a> {
    pub seq: SeqNo,
    pub kind: ValueKind,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// Decode every batch in a WAL record payload, calling `f` for each op.
pub fn decode_batches<'a>(payload: &'a [u8], mut f: impl FnMut(Op<'a>)) -> Result<(), DecodeError> {
    let mut r = Reader::new(payload);
    while !r.is_empty() {
        let first_seq = r.u64()?;
        let count = r.u32()?;
        if count == 0 {
            return Err(DecodeError::Invalid("empty batch"));
        }
        for i in 0..u64::from(count) {
            let kind = ValueKind::try_from(r.u8()?)?;
            let key = r.len_prefixed(MAX_KEY_BYTES)?;
            let value = r.len_prefixed(MAX_VALUE_BYTES)?;
            let seq = first_seq.checked_add(i).ok_or(DecodeError::Invalid("sequence overflow"))?;
            f(Op { seq, kind, key, value });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_two_batches() {
        let mut a = WriteBatch::new();
        a.put(b"k1", b"v1").delete(b"k2");
        let mut b = WriteBatch::new();
        b.put(b"k3", b"");
        let mut buf = Vec::new();
        a.encode(10, &mut buf);
        b.encode(12, &mut buf);
        let mut ops = Vec::new();
        decode_batches(&buf, |op| ops.push((op.seq, op.kind, op.key.to_vec(), op.value.to_vec()))).unwrap();
        assert_eq!(
            ops,
            vec![
                (10, ValueKind::Value, b"k1".to_vec(), b"v1".to_vec()),
                (11, ValueKind::Tombstone, b"k2".to_vec(), vec![]),
                (12, ValueKind::Value, b"k3".to_vec(), vec![]),
            ]
        );
    }

    #[test]
    fn truncated_and_garbage_error() {
        let mut a = WriteBatch::new();
        a.put(b"key", b"value");
        let mut buf = Vec::new();
        a.encode(1, &mut buf);
        for cut in 1..buf.len() {
            assert!(decode_batches(&buf[..cut], |_| {}).is_err(), "cut {cut}");
        }
        let mut bad = buf.clone();
        bad[12] = 7;
        assert_eq!(decode_batches(&bad, |_| {}), Err(DecodeError::InvalidTag(7)));
    }

    #[test]
    fn limits() {
        let mut a = WriteBatch::new();
        assert!(a.validate().is_err());
        a.put(b"", b"v");
        assert!(a.validate().is_err());
        let mut b = WriteBatch::new();
        b.put(b"k", &vec![0; MAX_VALUE_BYTES + 1]);
        assert!(b.validate().is_err());
    }
}
