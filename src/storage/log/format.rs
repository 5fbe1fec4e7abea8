//! Log record format, pure: bytes in, records out.
//!
//! Used by both the write-ahead log and the manifest. A log file is a sequence
//! of records packed back to back from offset 0, then a zero header. Past that,
//! a fresh or preallocated file reads as zeros, and a recycled WAL segment holds
//! its older records, all numbered below the records that replaced them; a
//! scan never takes those for live ones. See docs/FORMAT.md.
//!
//! ```text
//! header (24 bytes, little endian):
//!   0  u32 header_crc   crc32 of bytes 4..24
//!   4  u32 magic        RECORD_MAGIC
//!   8  u64 record_no    1, 2, 3, ... across all files of one log, never reused
//!  16  u32 len          payload length, 1..=MAX_RECORD_BYTES
//!  20  u32 payload_crc  crc32 of the payload
//! payload (len bytes)
//! ```
//!
//! One record is what one group commit writes: the writer never starts writing
//! record n+1 before record n is durable. So a valid record after a damaged one
//! proves the damaged one had been synced (and maybe acknowledged): that is
//! corruption. A damaged record with nothing valid after it is a torn tail.

use crate::storage::error::DecodeError;

pub const HEADER_BYTES: usize = 24;
pub const RECORD_MAGIC: u32 = 0x4c56_4b52; // "RKVL"
/// Largest payload of one record (one group commit).
pub const MAX_RECORD_BYTES: usize = 64 << 20;

const _: () = assert!(HEADER_BYTES == 4 + 4 + 8 + 4 + 4);
const _: () = assert!(MAX_RECORD_BYTES < u32::MAX as usize);

/// The header of record `record_no` with this payload.
pub fn record_header(record_no: u64, payload: &[u8]) -> [u8; HEADER_BYTES] {
    assert!(!payload.is_empty() && payload.len() <= MAX_RECORD_BYTES);
    let mut h = [0u8; HEADER_BYTES];
    h[4..8].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
    h[8..16].copy_from_slice(&record_no.to_le_bytes());
    h[16..20].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[20..24].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let hcrc = crc32fast::hash(&h[4..]);
    h[0..4].copy_from_slice(&hcrc.to_le_bytes());
    h
}

/// Append one record to `out` (the writer writes them through
/// `LogFileWriter::write_record`, with no buffer of its own; tests build logs with this).
#[cfg(test)]
pub fn encode_record(out: &mut Vec<u8>, record_no: u64, payload: &[u8]) {
    out.extend_from_slice(&record_header(record_no, payload));
    out.extend_from_slice(payload);
}

/// A header whose own checksum holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub record_no: u64,
    pub len: usize,
    pub payload_crc: u32,
}

fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    u32::from_le_bytes(a)
}

/// Parse the header at the start of `buf`. `Ok(None)`: all zeros (end of log).
pub fn parse_header(buf: &[u8]) -> Result<Option<Header>, DecodeError> {
    let h = buf.get(..HEADER_BYTES).ok_or(DecodeError::Truncated { needed: HEADER_BYTES, had: buf.len() })?;
    if h.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let magic = le32(&h[4..8]);
    if magic != RECORD_MAGIC {
        return Err(DecodeError::BadMagic(magic as u64));
    }
    let expected = le32(&h[0..4]);
    let got = crc32fast::hash(&h[4..]);
    if expected != got {
        return Err(DecodeError::ChecksumMismatch { expected, got });
    }
    let mut no = [0u8; 8];
    no.copy_from_slice(&h[8..16]);
    let len = le32(&h[16..20]) as usize;
    if len == 0 || len > MAX_RECORD_BYTES {
        return Err(DecodeError::TooLarge { len: len as u64, limit: MAX_RECORD_BYTES as u64 });
    }
    Ok(Some(Header { record_no: u64::from_le_bytes(no), len, payload_crc: le32(&h[20..24]) }))
}

/// What [`scan`] found in one log file.
#[derive(Debug, PartialEq, Eq)]
pub struct Scan<'a> {
    /// Valid records in order: (offset, record_no, payload).
    pub records: Vec<(u64, u64, &'a [u8])>,
    /// Where valid data ends: the next record goes here.
    pub end: u64,
    /// Set when the data stops at something other than zeros: the offset and why.
    pub damage: Option<(u64, DecodeError)>,
    /// With `damage`: the offset of a valid record found after it (proof of corruption).
    pub valid_after_damage: Option<u64>,
}

/// Read all records of one file. Records must number consecutively from
/// `first_record_no` (None: accept whatever the first record says).
pub fn scan(buf: &[u8], first_record_no: Option<u64>) -> Scan<'_> {
    let mut out = Scan { records: Vec::new(), end: 0, damage: None, valid_after_damage: None };
    let mut pos = 0usize;
    let mut expect = first_record_no;
    loop {
        let rest = buf.get(pos..).unwrap_or(&[]);
        if rest.len() < HEADER_BYTES {
            if rest.iter().any(|&b| b != 0) {
                out.damage = Some((pos as u64, DecodeError::Truncated { needed: HEADER_BYTES, had: rest.len() }));
            }
            break;
        }
        match parse_record(rest, expect) {
            Ok(Some((h, payload))) => {
                out.records.push((pos as u64, h.record_no, payload));
                expect = Some(h.record_no + 1);
                pos += HEADER_BYTES + h.len;
            }
            Ok(None) => break,
            Err(e) => {
                out.damage = Some((pos as u64, e));
                break;
            }
        }
    }
    out.end = pos as u64;
    // Zeros or damage: look for any valid record further on that continues
    // the numbering (records numbered below it are a recycled file's older
    // contents). Checking the magic first keeps this cheap over zeros.
    let last_no = out.records.last().map(|r| r.1).or(first_record_no.map(|n| n.saturating_sub(1)));
    out.valid_after_damage = find_valid_after(buf, pos + 1, last_no);
    if out.damage.is_none() && out.valid_after_damage.is_some() {
        out.damage = Some((pos as u64, DecodeError::Invalid("zeroed header before valid records")));
    }
    out
}

fn parse_record(rest: &[u8], expect: Option<u64>) -> Result<Option<(Header, &[u8])>, DecodeError> {
    let Some(h) = parse_header(rest)? else { return Ok(None) };
    let payload = rest
        .get(HEADER_BYTES..HEADER_BYTES + h.len)
        .ok_or(DecodeError::Truncated { needed: HEADER_BYTES + h.len, had: rest.len() })?;
    let got = crc32fast::hash(payload);
    if got != h.payload_crc {
        return Err(DecodeError::ChecksumMismatch { expected: h.payload_crc, got });
    }
    if let Some(e) = expect {
        if h.record_no != e {
            return Err(DecodeError::Invalid("record number out of sequence"));
        }
    }
    Ok(Some((h, payload)))
}

/// The first offset at or after `from` where a whole valid record starts
/// (header and payload checksums hold) numbered above `last_no`.
///
/// Recovery runs this over the rest of every segment it reads, and a
/// recycled segment is mostly older records: the magic is found with a
/// vectorized search, and a header's number is checked before its payload's
/// checksum, so each older record costs one header checksum. Every offset is
/// still a candidate: records are packed at any byte, and a lost write can
/// leave an older record's header in front of newer ones.
fn find_valid_after(buf: &[u8], from: usize, last_no: Option<u64>) -> Option<u64> {
    let magic = RECORD_MAGIC.to_le_bytes();
    let finder = memchr::memmem::Finder::new(&magic);
    // A header at p has its magic at p + 4..p + 8 and ends at p + HEADER_BYTES.
    let magic_end = buf.len().checked_sub(HEADER_BYTES - 8)?;
    let mut p = from;
    while p + HEADER_BYTES <= buf.len() {
        p += finder.find(&buf[p + 4..magic_end])?;
        let rest = &buf[p..];
        if let Ok(Some(h)) = parse_header(rest) {
            if last_no.is_none_or(|n| h.record_no > n) && parse_record(rest, None).is_ok() {
                return Some(p as u64);
            }
        }
        p += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: u64) -> Vec<u8> {
        let mut b = Vec::new();
        for i in 1..=n {
            encode_record(&mut b, i, format!("payload-{i}").as_bytes());
        }
        b
    }

    #[test]
    fn roundtrip_with_zero_tail() {
        let mut b = log(5);
        b.resize(b.len() + 8192, 0);
        let s = scan(&b, Some(1));
        assert_eq!(s.records.len(), 5);
        assert_eq!(s.records[4].2, b"payload-5");
        assert!(s.damage.is_none());
        assert_eq!(s.end as usize, log(5).len());
    }

    #[test]
    fn torn_tail_is_damage_without_valid_after() {
        let full = log(5);
        let four = log(4).len();
        let mut b = full[..full.len() - 3].to_vec();
        b.resize(b.len() + 4096, 0);
        let s = scan(&b, Some(1));
        assert_eq!(s.records.len(), 4);
        assert_eq!(s.end as usize, four);
        assert!(s.damage.is_some());
        assert!(s.valid_after_damage.is_none());
    }

    #[test]
    fn flipped_byte_in_middle_is_found_with_proof() {
        let mut b = log(5);
        let off = log(2).len() + HEADER_BYTES + 2; // inside record 3's payload
        b[off] ^= 1;
        let s = scan(&b, Some(1));
        assert_eq!(s.records.len(), 2);
        assert!(matches!(s.damage, Some((_, DecodeError::ChecksumMismatch { .. }))));
        assert_eq!(s.valid_after_damage, Some(log(3).len() as u64));
    }

    #[test]
    fn flipped_length_byte_still_proves_corruption() {
        let mut b = log(5);
        b[log(1).len() + 17] ^= 0x40; // len field of record 2
        let s = scan(&b, Some(1));
        assert_eq!(s.records.len(), 1);
        assert!(s.valid_after_damage.is_some());
    }

    #[test]
    fn zeroed_header_before_valid_records_is_damage() {
        let mut b = log(3);
        let start = log(1).len();
        b[start..start + HEADER_BYTES].fill(0);
        let s = scan(&b, Some(1));
        assert!(s.damage.is_some());
        assert!(s.valid_after_damage.is_some());
    }

    #[test]
    fn out_of_sequence_is_damage() {
        let mut b = Vec::new();
        encode_record(&mut b, 1, b"a");
        encode_record(&mut b, 3, b"c");
        let s = scan(&b, Some(1));
        assert_eq!(s.records.len(), 1);
        assert!(s.damage.is_some());
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for len in 0..300 {
            let mut b = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.push(x as u8);
            }
            let _ = scan(&b, None);
            let _ = scan(&b, Some(1));
        }
    }

    /// The plain form of [`find_valid_after`]: every offset in turn.
    fn find_valid_after_bytewise(buf: &[u8], from: usize, last_no: Option<u64>) -> Option<u64> {
        let mut p = from;
        while p + HEADER_BYTES <= buf.len() {
            if let Ok(Some((h, _))) = parse_record(&buf[p..], None) {
                if last_no.is_none_or(|n| h.record_no > n) {
                    return Some(p as u64);
                }
            }
            p += 1;
        }
        None
    }

    /// A recycled segment's shape: a run of newer records over older ones,
    /// then the older ones' rest, with bytes flipped, zeroed or cut.
    fn segment() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let record = (1u64..40, proptest::collection::vec(any::<u8>(), 1..64));
        (
            proptest::collection::vec(record, 0..12),
            proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 0..6),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(records, edits, cut)| {
                let mut b = Vec::new();
                for (no, payload) in &records {
                    encode_record(&mut b, *no, payload);
                    if no % 5 == 0 {
                        b.extend_from_slice(&[0; 7]); // a write's zero end
                    }
                }
                if b.is_empty() {
                    return b;
                }
                for (at, how, byte) in edits {
                    let i = at.index(b.len());
                    match how {
                        0 => b[i] ^= byte | 1,
                        1 => b[i] = 0,
                        _ => b[i] = RECORD_MAGIC.to_le_bytes()[i % 4], // magic-like noise
                    }
                }
                let keep = cut.index(b.len() + 1);
                b.truncate(keep.max(b.len() / 2));
                b
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn the_search_finds_what_every_offset_in_turn_finds(
            b in segment(),
            from in proptest::prelude::any::<proptest::sample::Index>(),
            last_no in proptest::option::of(0u64..42),
        ) {
            let from = from.index(b.len() + 1);
            proptest::prop_assert_eq!(find_valid_after(&b, from, last_no), find_valid_after_bytewise(&b, from, last_no));
        }
    }
}
