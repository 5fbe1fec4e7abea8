//! Fixed pieces of the SSTable format: block handles, the block trailer
//! (type tag + CRC32) and the footer. See FORMAT-sstable.md for the layout.

use crate::storage::codec::{put_varint, Reader};
use crate::storage::disk::ALIGN;
use crate::storage::error::DecodeError;

/// Footer magic, the ASCII bytes "RINGKVST" when stored little-endian, so a
/// hexdump of the file's last bytes says what the file is.
pub const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"RINGKVST");
/// Bumped on any incompatible change of the layout. Written: 2 (properties
/// name the hash index). Read: 1 and 2.
pub const FORMAT_VERSION: u32 = 2;
const MIN_FORMAT_VERSION: u32 = 1;
/// Three fixed handles (16 bytes each) + version + magic + crc.
pub const FOOTER_LEN: usize = 3 * 16 + 4 + 8 + 4;
/// Every block is followed by a 1-byte type tag and a CRC32 of block + tag.
pub const BLOCK_TRAILER_LEN: usize = 1 + 4;
/// The only block type so far: stored as is (no compression).
pub const BLOCK_TYPE_RAW: u8 = 0;
/// Upper bound on one block's contents. Restart offsets are u32, and a
/// corrupt-but-plausible handle must not make us allocate gigabytes.
pub const MAX_BLOCK_LEN: u64 = 1 << 30;
/// Upper bound on a user key stored in the properties block.
pub const MAX_KEY_LEN: usize = 1 << 20;

const _: () = assert!(FOOTER_LEN == 64);
const _: () = assert!(FOOTER_LEN <= ALIGN, "footer must fit in one aligned page");
const _: () = assert!(MAX_BLOCK_LEN <= u32::MAX as u64, "restart offsets are u32");
const _: () = assert!((MAX_KEY_LEN as u64) < MAX_BLOCK_LEN);

/// Where a block lives: `size` counts the block contents only, without the
/// [`BLOCK_TRAILER_LEN`] bytes that follow it on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockHandle {
    pub offset: u64,
    pub size: u64,
}

impl BlockHandle {
    /// Varint encoding, as used in index entries.
    pub fn encode_varint(&self, out: &mut Vec<u8>) {
        put_varint(out, self.offset);
        put_varint(out, self.size);
    }

    /// Inverse of [`Self::encode_varint`]; rejects trailing bytes.
    pub fn decode_varint(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let h = BlockHandle { offset: r.varint()?, size: r.varint()? };
        if !r.is_empty() {
            return Err(DecodeError::Invalid("trailing bytes after block handle"));
        }
        h.check_size()?;
        Ok(h)
    }

    fn check_size(&self) -> Result<(), DecodeError> {
        if self.size > MAX_BLOCK_LEN {
            return Err(DecodeError::TooLarge { len: self.size, limit: MAX_BLOCK_LEN });
        }
        Ok(())
    }

    /// Bytes to read from disk: contents plus trailer.
    pub fn disk_len(&self) -> usize {
        // size <= MAX_BLOCK_LEN (checked on decode) so this cannot overflow.
        (self.size as usize).saturating_add(BLOCK_TRAILER_LEN)
    }

    /// First byte after the block's trailer, or None on overflow.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.size)?.checked_add(BLOCK_TRAILER_LEN as u64)
    }

    /// Ok if the whole block (with trailer) lies in `[lo, hi)`.
    pub fn check_within(&self, lo: u64, hi: u64) -> Result<(), DecodeError> {
        match self.end() {
            Some(end) if self.offset >= lo && end <= hi => Ok(()),
            _ => Err(DecodeError::Invalid("block handle outside its region")),
        }
    }
}

/// Append the on-disk trailer (type tag and CRC32 of contents + tag).
pub fn put_block_trailer(out: &mut Vec<u8>, block_start: usize) {
    out.push(BLOCK_TYPE_RAW);
    let crc = crc32fast::hash(out.get(block_start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Check the trailer of a block read from disk (`raw` = contents + trailer)
/// and return the contents.
pub fn unwrap_block<'a>(raw: &'a [u8], handle: &BlockHandle) -> Result<&'a [u8], DecodeError> {
    let want = handle.disk_len();
    if raw.len() != want {
        return Err(DecodeError::Truncated { needed: want, had: raw.len() });
    }
    let body_len = want - 4; // contents + tag
    let (body, crc_bytes) = raw.split_at(body_len);
    let stored = Reader::new(crc_bytes).u32()?;
    let got = crc32fast::hash(body);
    if stored != got {
        return Err(DecodeError::ChecksumMismatch { expected: stored, got });
    }
    match body.last() {
        Some(&BLOCK_TYPE_RAW) => {}
        Some(&t) => return Err(DecodeError::InvalidTag(t)),
        None => return Err(DecodeError::Truncated { needed: 1, had: 0 }),
    }
    Ok(raw.get(..body_len - 1).unwrap_or_default())
}

/// The fixed-size record at the very end of a table file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub index: BlockHandle,
    pub filter: BlockHandle,
    pub properties: BlockHandle,
    /// The format version the table was written in.
    pub version: u32,
}

impl Footer {
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut v = Vec::with_capacity(FOOTER_LEN);
        for h in [&self.index, &self.filter, &self.properties] {
            v.extend_from_slice(&h.offset.to_le_bytes());
            v.extend_from_slice(&h.size.to_le_bytes());
        }
        v.extend_from_slice(&self.version.to_le_bytes());
        v.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
        let crc = crc32fast::hash(&v);
        v.extend_from_slice(&crc.to_le_bytes());
        let mut out = [0u8; FOOTER_LEN];
        out.copy_from_slice(&v);
        out
    }

    /// Magic is checked first (a foreign file is reported as such), then the
    /// CRC, then the version, then that every handle lies before the footer.
    pub fn decode(buf: &[u8], footer_offset: u64) -> Result<Self, DecodeError> {
        if buf.len() != FOOTER_LEN {
            return Err(DecodeError::Truncated { needed: FOOTER_LEN, had: buf.len() });
        }
        let mut r = Reader::new(buf);
        let mut handles = [BlockHandle::default(); 3];
        for h in handles.iter_mut() {
            *h = BlockHandle { offset: r.u64()?, size: r.u64()? };
        }
        let version = r.u32()?;
        let magic = r.u64()?;
        let covered = r.pos();
        let stored = r.u32()?;
        if magic != TABLE_MAGIC {
            return Err(DecodeError::BadMagic(magic));
        }
        let got = crc32fast::hash(buf.get(..covered).unwrap_or_default());
        if stored != got {
            return Err(DecodeError::ChecksumMismatch { expected: stored, got });
        }
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let [index, filter, properties] = handles;
        for h in &handles {
            h.check_size()?;
            h.check_within(0, footer_offset)?;
        }
        Ok(Footer { index, filter, properties, version })
    }

    /// Start of the metadata region (first meta block); data blocks end here.
    pub fn meta_start(&self) -> u64 {
        self.index.offset.min(self.filter.offset).min(self.properties.offset)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn footer() -> Footer {
        Footer {
            index: BlockHandle { offset: 100, size: 20 },
            filter: BlockHandle { offset: 10, size: 80 },
            properties: BlockHandle { offset: 130, size: 7 },
            version: FORMAT_VERSION,
        }
    }

    #[test]
    fn footer_roundtrip() {
        let f = footer();
        assert_eq!(Footer::decode(&f.encode(), 4032).unwrap(), f);
        assert_eq!(f.meta_start(), 10);
    }

    #[test]
    fn footer_rejects_every_flipped_byte() {
        let enc = footer().encode();
        for i in 0..FOOTER_LEN {
            let mut b = enc;
            b[i] ^= 0x5a;
            assert!(Footer::decode(&b, 4032).is_err(), "byte {i}");
        }
        assert!(Footer::decode(&enc[1..], 4032).is_err());
        assert!(matches!(Footer::decode(&[0; FOOTER_LEN], 4032), Err(DecodeError::BadMagic(0))));
    }

    #[test]
    fn footer_handle_past_footer() {
        assert!(Footer::decode(&footer().encode(), 100).is_err());
    }

    #[test]
    fn handle_varint_roundtrip_and_garbage() {
        let h = BlockHandle { offset: 1 << 40, size: 4091 };
        let mut b = Vec::new();
        h.encode_varint(&mut b);
        assert_eq!(BlockHandle::decode_varint(&b).unwrap(), h);
        b.push(0);
        assert!(BlockHandle::decode_varint(&b).is_err());
        assert!(BlockHandle::decode_varint(&[0x80]).is_err());
        let mut big = Vec::new();
        BlockHandle { offset: 0, size: MAX_BLOCK_LEN + 1 }.encode_varint(&mut big);
        assert!(BlockHandle::decode_varint(&big).is_err());
    }

    #[test]
    fn block_trailer_roundtrip_and_corruption() {
        let mut out = vec![9u8; 3];
        out.extend_from_slice(b"hello");
        put_block_trailer(&mut out, 3);
        let raw = out[3..].to_vec();
        let h = BlockHandle { offset: 3, size: 5 };
        assert_eq!(unwrap_block(&raw, &h).unwrap(), b"hello");
        for i in 0..raw.len() {
            let mut r = raw.clone();
            r[i] ^= 1;
            assert!(unwrap_block(&r, &h).is_err(), "byte {i}");
        }
        assert!(unwrap_block(&raw[..raw.len() - 1], &h).is_err());
        // A valid CRC over an unknown type tag is still rejected.
        let mut bad = b"hello".to_vec();
        bad.push(7);
        let crc = crc32fast::hash(&bad);
        bad.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(unwrap_block(&bad, &h), Err(DecodeError::InvalidTag(7)));
    }
}
