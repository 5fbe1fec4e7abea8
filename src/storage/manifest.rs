//! The pure half of the manifest: the payload encoding of one [`VersionEdit`]
//! record, and [`ManifestState`], the state rebuilt by replaying records.
//!
//! The engine's log writer frames (length, crc32, 4 KiB-aligned blocks),
//! checksums and writes the payloads; this module never sees a file. The byte
//! layout is documented in docs/FORMAT.md (section "Manifest edit record").
//!
//! Layout: `varint field_count`, then `field_count` fields, each a tag byte and
//! its body. The count makes a payload self-delimiting, so a truncated record
//! is an error even if it stops on a field boundary, and bytes after the last
//! field are an error rather than being parsed as more fields.

use super::codec::{put_varint, Reader};
use super::error::DecodeError;
use super::types::{SeqNo, MAX_SEQ};
use super::version::{TableInfo, Version, VersionEdit};

/// Longest user key a table boundary may hold. The decoder rejects longer
/// ones before allocating, so a corrupt length cannot ask for gigabytes.
pub use super::batch::MAX_KEY_BYTES;

/// Field tags. Never reuse a number: an old reader must reject, not misread, a
/// field it does not know.
mod tag {
    pub const ADDED_TABLE: u8 = 1;
    pub const DELETED_TABLE: u8 = 2;
    pub const FLUSHED_SEQ: u8 = 3;
    pub const NEXT_FILE_ID: u8 = 4;
    pub const LAST_SEQ: u8 = 5;
}

impl VersionEdit {
    /// Append the payload encoding of this edit to `out`.
    ///
    /// Boundary keys longer than [`MAX_KEY_BYTES`] would produce a payload that
    /// [`VersionEdit::decode`] rejects; the engine bounds key length at write time.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.field_count());
        for (level, table) in &self.added {
            out.push(tag::ADDED_TABLE);
            put_varint(out, u64::from(*level));
            encode_table(table, out);
        }
        for (level, id) in &self.deleted {
            out.push(tag::DELETED_TABLE);
            put_varint(out, u64::from(*level));
            put_varint(out, *id);
        }
        let optional = [
            (tag::FLUSHED_SEQ, self.flushed_seq),
            (tag::NEXT_FILE_ID, self.next_file_id),
            (tag::LAST_SEQ, self.last_seq),
        ];
        for (t, value) in optional {
            if let Some(v) = value {
                out.push(t);
                put_varint(out, v);
            }
        }
    }

    /// Decode one payload written by [`VersionEdit::encode`]. Never panics;
    /// every malformed input is a [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<VersionEdit, DecodeError> {
        let mut r = Reader::new(bytes);
        let field_count = r.varint()?;
        let mut edit = VersionEdit::default();
        for _ in 0..field_count {
            // Each field takes at least two bytes, so a huge count from corrupt
            // bytes runs out of input after a few iterations rather than looping.
            decode_field(&mut r, &mut edit)?;
        }
        if !r.is_empty() {
            return Err(DecodeError::Invalid("trailing bytes after version edit"));
        }
        Ok(edit)
    }

    fn field_count(&self) -> u64 {
        let optional = [self.flushed_seq, self.next_file_id, self.last_seq];
        let present = optional.iter().filter(|v| v.is_some()).count();
        (self.added.len() + self.deleted.len() + present) as u64
    }
}

fn encode_table(t: &TableInfo, out: &mut Vec<u8>) {
    debug_assert!(t.smallest.len() <= MAX_KEY_BYTES && t.largest.len() <= MAX_KEY_BYTES);
    encode_table_unchecked(t, out);
}

/// The bytes of a table entry, without the key-length check (tests use it to
/// make an over-long key the decoder must refuse).
fn encode_table_unchecked(t: &TableInfo, out: &mut Vec<u8>) {
    put_varint(out, t.id);
    put_varint(out, t.file_size);
    for key in [&t.smallest, &t.largest] {
        put_varint(out, key.len() as u64);
        out.extend_from_slice(key);
    }
    for v in [t.entries, t.tombstones, t.min_seq, t.max_seq] {
        put_varint(out, v);
    }
}

fn decode_field(r: &mut Reader<'_>, edit: &mut VersionEdit) -> Result<(), DecodeError> {
    match r.u8()? {
        tag::ADDED_TABLE => {
            let level = read_level(r)?;
            edit.added.push((level, decode_table(r)?));
        }
        tag::DELETED_TABLE => {
            let level = read_level(r)?;
            edit.deleted.push((level, r.varint()?));
        }
        tag::FLUSHED_SEQ => set_once(&mut edit.flushed_seq, read_seq(r)?)?,
        tag::NEXT_FILE_ID => set_once(&mut edit.next_file_id, r.varint()?)?,
        tag::LAST_SEQ => set_once(&mut edit.last_seq, read_seq(r)?)?,
        t => return Err(DecodeError::InvalidTag(t)),
    }
    Ok(())
}

fn decode_table(r: &mut Reader<'_>) -> Result<TableInfo, DecodeError> {
    Ok(TableInfo {
        id: r.varint()?,
        file_size: r.varint()?,
        smallest: r.len_prefixed(MAX_KEY_BYTES)?.to_vec(),
        largest: r.len_prefixed(MAX_KEY_BYTES)?.to_vec(),
        entries: r.varint()?,
        tombstones: r.varint()?,
        min_seq: read_seq(r)?,
        max_seq: read_seq(r)?,
    })
}

fn read_level(r: &mut Reader<'_>) -> Result<u32, DecodeError> {
    let v = r.varint()?;
    u32::try_from(v).map_err(|_| DecodeError::TooLarge { len: v, limit: u64::from(u32::MAX) })
}

/// Sequence numbers above [`MAX_SEQ`] cannot have been assigned, so one in a
/// record means the record is corrupt.
fn read_seq(r: &mut Reader<'_>) -> Result<SeqNo, DecodeError> {
    let v = r.varint()?;
    if v > MAX_SEQ {
        return Err(DecodeError::TooLarge { len: v, limit: MAX_SEQ });
    }
    Ok(v)
}

/// A counter appearing twice in one edit is ambiguous, so it is corrupt.
fn set_once(slot: &mut Option<u64>, v: u64) -> Result<(), DecodeError> {
    if slot.replace(v).is_some() {
        return Err(DecodeError::Invalid("field repeated in version edit"));
    }
    Ok(())
}

/// State rebuilt by replaying a manifest: the Version plus the counters.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestState {
    pub version: Version,
    /// All writes with seq <= flushed_seq are in tables.
    pub flushed_seq: SeqNo,
    /// The next table/file id to hand out; always past every id ever added.
    pub next_file_id: u64,
    /// A lower bound of the last assigned seq (the WAL may hold later ones).
    pub last_seq: SeqNo,
}

impl ManifestState {
    /// The state before any edit: empty tree, counters at their start. File
    /// ids start at 1 so that 0 can never name a real file.
    pub fn new(num_levels: usize) -> Self {
        ManifestState { version: Version::new(num_levels), flushed_seq: 0, next_file_id: 1, last_seq: 0 }
    }

    /// Apply one edit. All or nothing: on error the state is unchanged.
    ///
    /// Counters only move forward (each takes the max of its old and new
    /// value), so an edit built from a stale counter cannot move one back and
    /// make the engine reuse a file id or replay flushed writes. They are also
    /// pushed past what the edit's tables prove: `next_file_id` beyond every
    /// added id, `last_seq` to at least every added table's `max_seq` and
    /// `flushed_seq`.
    pub fn apply(&mut self, edit: &VersionEdit) -> Result<(), DecodeError> {
        self.version = self.version.apply(edit)?;
        let max = |old: u64, new: Option<u64>| new.map_or(old, |n| old.max(n));
        self.flushed_seq = max(self.flushed_seq, edit.flushed_seq);
        self.next_file_id = max(self.next_file_id, edit.next_file_id);
        self.last_seq = max(self.last_seq, edit.last_seq).max(self.flushed_seq);
        for (_, t) in &edit.added {
            self.next_file_id = self.next_file_id.max(t.id.saturating_add(1));
            self.last_seq = self.last_seq.max(t.max_seq);
        }
        Ok(())
    }

    /// One edit that recreates this state from `ManifestState::new(n)` with the
    /// same `n` (for writing a fresh manifest snapshot).
    pub fn snapshot_edit(&self) -> VersionEdit {
        let added = self
            .version
            .levels()
            .iter()
            .enumerate()
            .flat_map(|(level, tables)| tables.iter().map(move |t| (level as u32, TableInfo::clone(t))))
            .collect();
        VersionEdit {
            added,
            deleted: Vec::new(),
            flushed_seq: Some(self.flushed_seq),
            next_file_id: Some(self.next_file_id),
            last_seq: Some(self.last_seq),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::version::test_util::table;
    use proptest::prelude::*;

    fn sample() -> VersionEdit {
        VersionEdit {
            added: vec![(0, table(7, 4096, "apple", "zebra", 42)), (3, table(8, 1 << 40, "", "\u{ff}", 1))],
            deleted: vec![(1, 3), (2, u64::MAX)],
            flushed_seq: Some(40),
            next_file_id: Some(9),
            last_seq: Some(MAX_SEQ),
        }
    }

    fn encode(edit: &VersionEdit) -> Vec<u8> {
        let mut out = Vec::new();
        edit.encode(&mut out);
        out
    }

    #[test]
    fn roundtrip_sample_and_empty() {
        assert_eq!(VersionEdit::decode(&encode(&sample())).unwrap(), sample());
        let empty = encode(&VersionEdit::default());
        assert_eq!(empty, vec![0]);
        assert_eq!(VersionEdit::decode(&empty).unwrap(), VersionEdit::default());
        assert!(VersionEdit::decode(&[]).is_err(), "no field count");
    }

    #[test]
    fn exact_bytes_of_a_small_edit() {
        let edit = VersionEdit { deleted: vec![(1, 300)], flushed_seq: Some(5), ..Default::default() };
        // count=2, DELETED(level 1, id 300 = 0xac 0x02), FLUSHED_SEQ(5)
        assert_eq!(encode(&edit), vec![2, 2, 1, 0xac, 0x02, 3, 5]);
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert_eq!(VersionEdit::decode(&[1, 9, 0]), Err(DecodeError::InvalidTag(9)));
        let mut trailing = encode(&sample());
        trailing.push(0);
        assert!(VersionEdit::decode(&trailing).is_err());
        assert!(VersionEdit::decode(&[2, 3, 1, 3, 2]).is_err(), "flushed_seq twice");
        let seq_too_big = {
            let mut b = vec![1, 5];
            put_varint(&mut b, MAX_SEQ + 1);
            b
        };
        assert!(VersionEdit::decode(&seq_too_big).is_err());
        let level_too_big = {
            let mut b = vec![1, 2];
            put_varint(&mut b, 1 << 32);
            b.push(1);
            b
        };
        assert!(VersionEdit::decode(&level_too_big).is_err());
    }

    #[test]
    fn key_length_limit_checked_before_reading() {
        let mut long = table(1, 1, "a", "b", 1);
        long.largest = vec![b'x'; MAX_KEY_BYTES + 1];
        let mut b = vec![1, 1, 0];
        encode_table_unchecked(&long, &mut b);
        assert!(matches!(VersionEdit::decode(&b), Err(DecodeError::TooLarge { .. })));
        long.largest.truncate(MAX_KEY_BYTES);
        let ok = VersionEdit { added: vec![(0, long)], ..Default::default() };
        assert_eq!(VersionEdit::decode(&encode(&ok)).unwrap(), ok);
    }

    #[test]
    fn state_counters_only_move_forward() {
        let mut s = ManifestState::new(3);
        let e1 = VersionEdit {
            added: vec![(0, table(10, 1, "a", "b", 50))],
            flushed_seq: Some(50),
            next_file_id: Some(5), // stale: below the added id
            ..Default::default()
        };
        s.apply(&e1).unwrap();
        assert_eq!((s.flushed_seq, s.next_file_id, s.last_seq), (50, 11, 50));
        let stale =
            VersionEdit { flushed_seq: Some(10), next_file_id: Some(2), last_seq: Some(1), ..Default::default() };
        s.apply(&stale).unwrap();
        assert_eq!((s.flushed_seq, s.next_file_id, s.last_seq), (50, 11, 50));
    }

    #[test]
    fn failed_apply_leaves_state_unchanged() {
        let mut s = ManifestState::new(2);
        s.apply(&VersionEdit { added: vec![(1, table(1, 1, "a", "c", 1))], ..Default::default() }).unwrap();
        let before = s.clone();
        let bad =
            VersionEdit { added: vec![(1, table(2, 1, "b", "d", 1))], next_file_id: Some(100), ..Default::default() };
        assert!(s.apply(&bad).is_err());
        assert_eq!(s, before);
    }

    #[test]
    fn snapshot_edit_recreates_state() {
        let mut s = ManifestState::new(3);
        let edits = [
            VersionEdit { added: vec![(0, table(1, 9, "a", "k", 10))], flushed_seq: Some(10), ..Default::default() },
            VersionEdit { added: vec![(0, table(2, 9, "c", "z", 20))], flushed_seq: Some(20), ..Default::default() },
            VersionEdit {
                deleted: vec![(0, 1), (0, 2)],
                added: vec![(1, table(3, 9, "a", "f", 15)), (1, table(4, 9, "g", "z", 20))],
                ..Default::default()
            },
            VersionEdit { added: vec![(0, table(5, 9, "b", "d", 30))], last_seq: Some(33), ..Default::default() },
        ];
        for e in &edits {
            s.apply(e).unwrap();
        }
        let snap = VersionEdit::decode(&encode(&s.snapshot_edit())).unwrap();
        let mut fresh = ManifestState::new(3);
        fresh.apply(&snap).unwrap();
        assert_eq!(fresh, s);
    }

    fn arb_key() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..40)
    }

    fn arb_table() -> impl Strategy<Value = TableInfo> {
        (any::<u64>(), any::<u64>(), arb_key(), arb_key(), any::<u64>(), any::<u64>(), 0..=MAX_SEQ, 0..=MAX_SEQ)
            .prop_map(|(id, file_size, smallest, largest, entries, tombstones, min_seq, max_seq)| TableInfo {
                id,
                file_size,
                smallest,
                largest,
                entries,
                tombstones,
                min_seq,
                max_seq,
            })
    }

    fn arb_edit() -> impl Strategy<Value = VersionEdit> {
        (
            prop::collection::vec((any::<u32>(), arb_table()), 0..6),
            prop::collection::vec((any::<u32>(), any::<u64>()), 0..6),
            prop::option::of(0..=MAX_SEQ),
            prop::option::of(any::<u64>()),
            prop::option::of(0..=MAX_SEQ),
        )
            .prop_map(|(added, deleted, flushed_seq, next_file_id, last_seq)| VersionEdit {
                added,
                deleted,
                flushed_seq,
                next_file_id,
                last_seq,
            })
    }

    proptest! {
        #[test]
        fn prop_roundtrip(edit in arb_edit()) {
            prop_assert_eq!(VersionEdit::decode(&encode(&edit)).unwrap(), edit);
        }

        #[test]
        fn prop_every_truncation_is_an_error(edit in arb_edit()) {
            let bytes = encode(&edit);
            for len in 0..bytes.len() {
                prop_assert!(VersionEdit::decode(&bytes[..len]).is_err(), "prefix of {} bytes", len);
            }
        }

        #[test]
        fn prop_random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = VersionEdit::decode(&bytes);
        }

        #[test]
        fn prop_corrupted_encodings_never_panic(
            edit in arb_edit(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = encode(&edit);
            if bytes.is_empty() { return Ok(()); }
            for (i, b) in flips {
                let at = i.index(bytes.len());
                bytes[at] ^= b;
            }
            if let Ok(decoded) = VersionEdit::decode(&bytes) {
                // Whatever decodes must itself round-trip (no silent half-reads).
                prop_assert_eq!(VersionEdit::decode(&encode(&decoded)).unwrap(), decoded);
            }
        }
    }
}
