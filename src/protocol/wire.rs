//! Body primitives: LEB128 varints, length-prefixed bytes and a bounds-checked reader.
//! Every read is checked and every length is compared with its limit before slicing;
//! nothing here can panic on bad input.

use super::error::{BodyError, Field};

pub(crate) use crate::storage::codec::put_varint;

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A `bytes` field: varint length, then the bytes.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over a complete body. Reading past the end is [`BodyError::Truncated`].
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        Reader { rest: body }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BodyError> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(BodyError::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BodyError> {
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| BodyError::Truncated)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, BodyError> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, BodyError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn varint(&mut self) -> Result<u64, BodyError> {
        let mut v: u64 = 0;
        for shift in (0..64u32).step_by(7) {
            let b = self.u8()?;
            let group = u64::from(b & 0x7f);
            // The 10th byte holds bit 63 only; anything more does not fit in a u64.
            if shift == 63 && group > 1 {
                return Err(BodyError::Invalid("varint above u64::MAX"));
            }
            v |= group << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(BodyError::Invalid("varint longer than 10 bytes"))
    }

    pub(crate) fn varint_u32(&mut self) -> Result<u32, BodyError> {
        u32::try_from(self.varint()?).map_err(|_| BodyError::Invalid("varint above u32::MAX"))
    }

    /// A count checked against its limit; the result also never exceeds the bytes left,
    /// so it is safe as a `Vec::with_capacity` hint (every item takes at least one byte).
    pub(crate) fn count(&mut self, limit: usize, field: Field) -> Result<usize, BodyError> {
        let n = self.varint()?;
        if n > limit as u64 {
            return Err(BodyError::TooLarge { field, len: n, limit });
        }
        usize::try_from(n).map_err(|_| BodyError::TooLarge { field, len: n, limit })
    }

    /// A `bytes` field, its length checked against `limit` before slicing.
    pub(crate) fn bytes(&mut self, limit: usize, field: Field) -> Result<&'a [u8], BodyError> {
        let n = self.count(limit, field)?;
        self.take(n)
    }

    pub(crate) fn vec(&mut self, limit: usize, field: Field) -> Result<Vec<u8>, BodyError> {
        Ok(self.bytes(limit, field)?.to_vec())
    }

    pub(crate) fn string(&mut self, limit: usize, field: Field) -> Result<String, BodyError> {
        let b = self.bytes(limit, field)?;
        std::str::from_utf8(b).map(str::to_owned).map_err(|_| BodyError::InvalidUtf8(field))
    }

    /// The body must be used up exactly.
    pub(crate) fn finish(self) -> Result<(), BodyError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(BodyError::TrailingBytes(n)),
        }
    }
}

/// Room for `n` items without trusting `n` beyond the bytes that could hold them.
pub(crate) fn capacity(n: usize, r: &Reader<'_>) -> usize {
    n.min(r.remaining())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX - 1, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut r = Reader::new(&b);
            assert_eq!(r.varint(), Ok(v));
            r.finish().unwrap();
        }
    }

    #[test]
    fn varint_rejects_overflow_and_truncation() {
        assert_eq!(Reader::new(&[0x80]).varint(), Err(BodyError::Truncated));
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert!(Reader::new(&over).varint().is_err());
        // Non-minimal encodings are accepted.
        assert_eq!(Reader::new(&[0x81, 0x00]).varint(), Ok(1));
        assert!(Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x10]).varint_u32().is_err());
    }

    #[test]
    fn bytes_check_limit_before_slicing() {
        let mut r = Reader::new(&[5, 1, 2]);
        assert_eq!(r.bytes(100, Field::Value), Err(BodyError::Truncated));
        let mut r = Reader::new(&[5, 1, 2, 3, 4, 5]);
        assert!(matches!(r.bytes(4, Field::Value), Err(BodyError::TooLarge { len: 5, .. })));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(r.bytes(usize::MAX, Field::Value), Err(BodyError::Truncated)));
        assert_eq!(Reader::new(&[2, 0xff, 0xfe]).string(10, Field::Name), Err(BodyError::InvalidUtf8(Field::Name)));
        assert_eq!(Reader::new(&[1]).finish(), Err(BodyError::TrailingBytes(1)));
    }
}
