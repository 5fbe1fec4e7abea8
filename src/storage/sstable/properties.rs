//! [`TableMeta`] and its encoding in the properties block, so a table can be
//! described (key range, counts, sequence range) from the file alone.
//!
//! Encoding (all varints unless noted): smallest (len-prefixed), largest
//! (len-prefixed), entries, tombstones, min_seq, max_seq, data_blocks, and
//! from format version 2 on the hash index's handle (offset, size; both 0
//! when the table has none). `file_size` is not stored: it is the file's
//! length.

use super::format::{BlockHandle, MAX_KEY_LEN};
use crate::storage::codec::{put_varint, Reader};
use crate::storage::error::DecodeError;
use crate::storage::types::{SeqNo, MAX_SEQ};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableMeta {
    /// Smallest and largest user keys (empty for an empty table).
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
    /// Number of entries (versions), tombstones included.
    pub entries: u64,
    pub tombstones: u64,
    /// Sequence number range (both 0 for an empty table).
    pub min_seq: SeqNo,
    pub max_seq: SeqNo,
    /// Length of the file in bytes, a multiple of `disk::ALIGN`.
    pub file_size: u64,
}

/// What the properties block holds: the meta plus counts only the reader needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    pub meta: TableMeta,
    pub data_blocks: u64,
    /// The hash index block, if the table has one (format version 2 on).
    pub hash_index: Option<BlockHandle>,
}

impl Properties {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let m = &self.meta;
        for key in [&m.smallest, &m.largest] {
            put_varint(out, key.len() as u64);
            out.extend_from_slice(key);
        }
        for v in [m.entries, m.tombstones, m.min_seq, m.max_seq, self.data_blocks] {
            put_varint(out, v);
        }
        self.hash_index.unwrap_or_default().encode_varint(out);
    }

    /// Decode and sanity-check the properties of a table of this format
    /// version (1 or 2); `file_size` is filled in by the caller.
    pub fn decode(buf: &[u8], version: u32) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let smallest = r.len_prefixed(MAX_KEY_LEN)?.to_vec();
        let largest = r.len_prefixed(MAX_KEY_LEN)?.to_vec();
        let meta = TableMeta {
            smallest,
            largest,
            entries: r.varint()?,
            tombstones: r.varint()?,
            min_seq: r.varint()?,
            max_seq: r.varint()?,
            file_size: 0,
        };
        let data_blocks = r.varint()?;
        let hash_index = if version >= 2 {
            let h = BlockHandle { offset: r.varint()?, size: r.varint()? };
            (h != BlockHandle::default()).then_some(h)
        } else {
            None
        };
        let p = Properties { meta, data_blocks, hash_index };
        if !r.is_empty() {
            return Err(DecodeError::Invalid("trailing bytes in properties"));
        }
        p.check()?;
        Ok(p)
    }

    fn check(&self) -> Result<(), DecodeError> {
        let m = &self.meta;
        if m.tombstones > m.entries || m.smallest > m.largest || m.min_seq > m.max_seq || m.max_seq > MAX_SEQ {
            return Err(DecodeError::Invalid("inconsistent table properties"));
        }
        if (m.entries == 0) != (self.data_blocks == 0) {
            return Err(DecodeError::Invalid("entry count disagrees with block count"));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_garbage() {
        let p = Properties {
            meta: TableMeta {
                smallest: b"a".to_vec(),
                largest: b"zz".to_vec(),
                entries: 10,
                tombstones: 2,
                min_seq: 5,
                max_seq: 99,
                file_size: 0,
            },
            data_blocks: 1,
            hash_index: Some(BlockHandle { offset: 4096, size: 64 }),
        };
        let mut b = Vec::new();
        p.encode(&mut b);
        assert_eq!(Properties::decode(&b, 2).unwrap(), p);
        for cut in 0..b.len() {
            assert!(Properties::decode(&b[..cut], 2).is_err());
        }
        let mut extra = b.clone();
        extra.push(0);
        assert!(Properties::decode(&extra, 2).is_err());
        let mut bad = p.clone();
        bad.meta.tombstones = 11;
        let mut b = Vec::new();
        bad.encode(&mut b);
        assert!(Properties::decode(&b, 2).is_err());
        // Version 1: no hash index field; without one, version 2 writes (0, 0).
        let v1 = Properties { hash_index: None, ..p };
        let mut b = Vec::new();
        v1.encode(&mut b);
        assert_eq!(&b[b.len() - 2..], &[0, 0]);
        assert_eq!(Properties::decode(&b, 2).unwrap(), v1);
        assert_eq!(Properties::decode(&b[..b.len() - 2], 1).unwrap(), v1);
        assert!(Properties::decode(&b, 1).is_err());
    }
}
