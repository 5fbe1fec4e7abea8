//! Byte layouts of the causal context and of a stored [`SiblingSet`]
//! (CAUSALITY.md has the tables). Integers are LEB128 varints (canonical:
//! shortest form only), so the encoding of a value is unique and
//! `encode(decode(b)) == b` for every accepted `b` of the current versions.
//! A causal context ends with the low 32 bits of `xxh3_64` of the bytes
//! before it, checked first. A stored set (version 2) has no checksum of its
//! own: every carrier checks it (CAUSALITY.md); version 1 sets, which had
//! one, are still read, checked, and re-encoded as version 2.
//!
//! Decoding never panics: every read is bounds-checked, lengths are checked
//! against the limits before anything is allocated.

#![deny(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;
use std::ops::Range;

use xxhash_rust::xxh3::xxh3_64;

use crate::ring::NodeId;
use crate::storage::codec::put_varint;

use super::siblings::{ReadAnswer, SiblingSet, Version};
use super::version_vector::{ClockEntry, Dot, VersionVector};
use super::{CausalError, MAX_CLOCK_ENTRIES, MAX_CONTEXT_BYTES, MAX_SIBLINGS, MAX_TOTAL_VALUE_BYTES, MAX_VALUE_BYTES};

/// Format version of the causal context.
pub(super) const CONTEXT_VERSION: u8 = 1;
/// Format version of a stored sibling set, as written: no checksum.
pub(super) const SET_VERSION: u8 = 2;
/// The first stored sets ended with a checksum. Still read (and checked).
const SET_VERSION_SEALED: u8 = 1;
const TAG_TOMBSTONE: u8 = 0;
const TAG_VALUE: u8 = 1;
const CHECKSUM_BYTES: usize = 4;

fn checksum(bytes: &[u8]) -> u32 {
    xxh3_64(bytes) as u32
}

/// Appends the checksum of what `out` holds.
fn seal<B: AsRef<[u8]> + Extend<u8>>(mut out: B) -> B {
    let sum = checksum(out.as_ref());
    out.extend(sum.to_le_bytes());
    out
}

/// Checks the trailing checksum; returns the body before it.
fn open(bytes: &[u8]) -> Result<&[u8], CausalError> {
    let Some(body_len) = bytes.len().checked_sub(CHECKSUM_BYTES) else {
        return Err(CausalError::Truncated { offset: bytes.len(), needed: CHECKSUM_BYTES.saturating_sub(bytes.len()) });
    };
    let (body, tail) = bytes.split_at(body_len);
    let mut sum = [0u8; CHECKSUM_BYTES];
    sum.copy_from_slice(tail);
    let got = u32::from_le_bytes(sum);
    let expected = checksum(body);
    if got != expected {
        return Err(CausalError::ChecksumMismatch { got, expected });
    }
    Ok(body)
}

/// A bounds-checked cursor.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], CausalError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(slice) = end.and_then(|e| self.buf.get(self.pos..e)) else {
            return Err(CausalError::Truncated { offset: self.pos, needed: n.saturating_sub(self.remaining()) });
        };
        self.pos = self.pos.saturating_add(n);
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, CausalError> {
        let b = self.buf.get(self.pos).copied().ok_or(CausalError::Truncated { offset: self.pos, needed: 1 })?;
        self.pos = self.pos.saturating_add(1);
        Ok(b)
    }

    /// Canonical LEB128: at most 10 bytes, no overflow, no trailing zero byte.
    fn varint(&mut self) -> Result<u64, CausalError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(CausalError::BadVarint(start));
            }
            v |= bits << i.saturating_mul(7);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(CausalError::BadVarint(start));
                }
                return Ok(v);
            }
        }
        Err(CausalError::BadVarint(start))
    }

    fn node(&mut self) -> Result<NodeId, CausalError> {
        let v = self.varint()?;
        u32::try_from(v).map(NodeId).map_err(|_| CausalError::BadNodeId(v))
    }

    /// A count, refused above `max` before anything is allocated.
    fn count(&mut self, what: &'static str, max: usize) -> Result<usize, CausalError> {
        let v = self.varint()?;
        match usize::try_from(v) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(CausalError::TooLarge { what, got: usize::try_from(v).unwrap_or(usize::MAX), max }),
        }
    }

    fn finish(&self) -> Result<(), CausalError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(CausalError::TrailingBytes(n)),
        }
    }
}

fn put_clock(out: &mut Vec<u8>, vv: &VersionVector) -> Result<(), CausalError> {
    if vv.len() > MAX_CLOCK_ENTRIES {
        return Err(CausalError::TooLarge { what: "clock entries", got: vv.len(), max: MAX_CLOCK_ENTRIES });
    }
    put_varint(out, vv.len() as u64);
    for (node, e) in vv.iter() {
        put_clock_entry(out, node, e.counter, e.timestamp_ms);
    }
    Ok(())
}

fn put_clock_entry(out: &mut Vec<u8>, node: NodeId, counter: u64, timestamp_ms: u64) {
    put_varint(out, u64::from(node.0));
    put_varint(out, counter);
    put_varint(out, timestamp_ms);
}

/// Reads a clock, checking it as a [`VersionVector`] must be (nodes strictly
/// increasing, no zero counter); `each` gets its entries in order.
fn read_clock_entries(r: &mut Reader<'_>, mut each: impl FnMut(NodeId, ClockEntry)) -> Result<(), CausalError> {
    let n = r.count("clock entries", MAX_CLOCK_ENTRIES)?;
    let mut last: Option<NodeId> = None;
    for _ in 0..n {
        let node = r.node()?;
        let counter = r.varint()?;
        let timestamp_ms = r.varint()?;
        if last.is_some_and(|l| l >= node) {
            return Err(CausalError::NotCanonical("clock entries"));
        }
        if counter == 0 {
            return Err(CausalError::ZeroCounter);
        }
        last = Some(node);
        each(node, ClockEntry { counter, timestamp_ms });
    }
    Ok(())
}

fn read_clock(r: &mut Reader<'_>) -> Result<VersionVector, CausalError> {
    let mut vv = VersionVector::new();
    read_clock_entries(r, |node, e| vv.insert_decoded(node, e))?;
    Ok(vv)
}

/// Context layout: `version u8 | clock | checksum u32le`.
pub(super) fn encode_context(vv: &VersionVector) -> Result<Vec<u8>, CausalError> {
    let mut out = vec![CONTEXT_VERSION];
    put_clock(&mut out, vv)?;
    let out = seal(out);
    debug_assert!(out.len() <= MAX_CONTEXT_BYTES);
    Ok(out)
}

/// [`encode_context`] of the clock of `dot` alone, without building it: what
/// a blind overwrite's reply carries.
pub(super) fn encode_dot_context(dot: Dot, timestamp_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.push(CONTEXT_VERSION);
    put_varint(&mut out, 1);
    put_clock_entry(&mut out, dot.node, dot.counter, timestamp_ms);
    seal(out)
}

pub(super) fn decode_context(bytes: &[u8]) -> Result<VersionVector, CausalError> {
    if bytes.len() > MAX_CONTEXT_BYTES {
        return Err(CausalError::TooLarge { what: "context bytes", got: bytes.len(), max: MAX_CONTEXT_BYTES });
    }
    let mut r = Reader::new(open(bytes)?);
    let version = r.u8()?;
    if version != CONTEXT_VERSION {
        return Err(CausalError::UnknownVersion(version));
    }
    let vv = read_clock(&mut r)?;
    r.finish()?;
    Ok(vv)
}

/// Set layout: `version u8 | clock | sibling count | siblings`, a sibling
/// being `node | counter | timestamp_ms | tag u8 | [len | bytes]`.
pub(super) fn encode_set(set: &SiblingSet) -> Result<Vec<u8>, CausalError> {
    set.check_limits()?;
    let total: usize = set.siblings().filter_map(|(_, v)| v.value.as_ref()).map(Vec::len).sum();
    let mut out = Vec::with_capacity(total.saturating_add(64));
    out.push(SET_VERSION);
    put_clock(&mut out, set.context_ref())?;
    put_varint(&mut out, set.len() as u64);
    for (dot, version) in set.siblings() {
        put_sibling(&mut out, *dot, version.timestamp_ms, version.value.as_deref());
    }
    Ok(out)
}

fn put_sibling(out: &mut Vec<u8>, dot: Dot, timestamp_ms: u64, value: Option<&[u8]>) {
    put_clock_entry(out, dot.node, dot.counter, timestamp_ms);
    put_sibling_value(out, value);
}

/// A sibling's value, after its dot and timestamp.
fn put_sibling_value(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.push(TAG_TOMBSTONE),
        Some(v) => {
            out.push(TAG_VALUE);
            put_varint(out, v.len() as u64);
            out.extend_from_slice(v);
        }
    }
}

/// The stored form of the set a blind overwrite writes (no stored set, an
/// empty context): one version at `dot`, stamped `timestamp_ms`, under a
/// clock of that dot alone. The bytes of [`encode_set`] of that set, without
/// building it (a blind SET's hot path).
/// Written into `out` (cleared first), which keeps its capacity from one
/// write to the next.
pub(super) fn encode_blind_into(
    dot: Dot,
    timestamp_ms: u64,
    value: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), CausalError> {
    let len = value.map_or(0, <[u8]>::len);
    if len > MAX_VALUE_BYTES {
        return Err(CausalError::TooLarge { what: "value bytes", got: len, max: MAX_VALUE_BYTES });
    }
    out.clear();
    out.reserve(len.saturating_add(64));
    out.push(SET_VERSION);
    put_varint(out, 1);
    let entry = out.len();
    put_clock_entry(out, dot.node, dot.counter, timestamp_ms);
    let entry = entry..out.len();
    put_varint(out, 1);
    // The sibling's dot and timestamp are the clock entry's bytes again.
    out.extend_from_within(entry);
    put_sibling_value(out, value);
    Ok(())
}

/// Reads a stored set after its clock: the siblings, each checked as
/// [`decode_set`] must (dots strictly increasing, covered by the clock, value
/// limits), then the end. `each` gets every sibling in order, its value as a
/// range of the reader's buffer.
fn read_siblings(
    r: &mut Reader<'_>,
    covered: impl Fn(Dot) -> bool,
    mut each: impl FnMut(Dot, u64, Option<Range<usize>>),
) -> Result<(), CausalError> {
    let n = r.count("siblings", MAX_SIBLINGS)?;
    let mut last: Option<Dot> = None;
    let mut total: usize = 0;
    for _ in 0..n {
        let dot = Dot { node: r.node()?, counter: r.varint()? };
        let timestamp_ms = r.varint()?;
        if dot.counter == 0 {
            return Err(CausalError::ZeroCounter);
        }
        if last.is_some_and(|l| l >= dot) {
            return Err(CausalError::NotCanonical("siblings"));
        }
        if !covered(dot) {
            return Err(CausalError::DotNotCovered(dot));
        }
        last = Some(dot);
        let value = match r.u8()? {
            TAG_TOMBSTONE => None,
            TAG_VALUE => {
                let len = r.count("value bytes", MAX_VALUE_BYTES)?;
                total = total.saturating_add(len);
                if total > MAX_TOTAL_VALUE_BYTES {
                    return Err(CausalError::TooLarge {
                        what: "total value bytes",
                        got: total,
                        max: MAX_TOTAL_VALUE_BYTES,
                    });
                }
                let start = r.pos;
                r.bytes(len)?;
                Some(start..r.pos)
            }
            tag => return Err(CausalError::InvalidTag(tag)),
        };
        each(dot, timestamp_ms, value);
    }
    r.finish()
}

/// Opens a stored set: its version, and for a version 1 set its checksum,
/// checked and cut off. The reader is at the clock.
fn open_set(bytes: &[u8]) -> Result<Reader<'_>, CausalError> {
    let body = match bytes.first() {
        Some(&SET_VERSION) => bytes,
        Some(&SET_VERSION_SEALED) => open(bytes)?,
        Some(&version) => return Err(CausalError::UnknownVersion(version)),
        None => return Err(CausalError::Truncated { offset: 0, needed: 1 }),
    };
    let mut r = Reader::new(body);
    r.u8()?;
    Ok(r)
}

pub(super) fn decode_set(bytes: &[u8]) -> Result<SiblingSet, CausalError> {
    let mut r = open_set(bytes)?;
    let clock = read_clock(&mut r)?;
    let buf = r.buf;
    let mut siblings = BTreeMap::new();
    read_siblings(
        &mut r,
        |dot| clock.contains(dot),
        |dot, timestamp_ms, value| {
            // A range read_siblings took from `buf`: in bounds.
            let value = value.and_then(|v| buf.get(v)).map(<[u8]>::to_vec);
            siblings.insert(dot, Version { timestamp_ms, value });
        },
    )?;
    Ok(SiblingSet::from_parts(clock, siblings))
}

/// Checks a stored set as [`decode_set`] does, without building it: gives
/// `each` every sibling in order, with its value's range in `bytes`, and
/// returns the range of its clock's encoding (as `put_clock` writes it).
fn walk_set(bytes: &[u8], each: impl FnMut(Dot, u64, Option<Range<usize>>)) -> Result<Range<usize>, CausalError> {
    let mut r = open_set(bytes)?;
    let clock_at = r.pos;
    read_clock_entries(&mut r, |_, _| {})?;
    let clock = clock_at..r.pos;
    let clock_bytes = r.buf.get(clock.clone()).unwrap_or_default();
    read_siblings(&mut r, |dot| clock_counter(clock_bytes, dot.node) >= dot.counter, each)?;
    Ok(clock)
}

/// The range in `bytes` of the LWW winner among what [`walk_set`] gives:
/// the largest (timestamp, counter, node), as `SiblingSet::lww_winner` picks.
#[derive(Default)]
struct LwwWinner(Option<(LwwRank, Option<Range<usize>>)>);

impl LwwWinner {
    fn offer(&mut self, dot: Dot, timestamp_ms: u64, value: Option<Range<usize>>) {
        let rank = (timestamp_ms, dot.counter, dot.node);
        if self.0.as_ref().is_none_or(|(best, _)| rank > *best) {
            self.0 = Some((rank, value));
        }
    }

    /// None: the winner is a tombstone, or there were no siblings.
    fn value(self) -> Option<Range<usize>> {
        self.0.and_then(|(_, value)| value)
    }
}

/// Where the LWW winner's value is in `bytes`, a stored set: what
/// `decode_set(bytes)?.into_lww()` returns, without building the set (a GET's
/// hot path). None: the winner is a tombstone, or there are no siblings.
/// Refuses exactly what [`decode_set`] refuses.
pub(super) fn decode_lww(bytes: &[u8]) -> Result<Option<Range<usize>>, CausalError> {
    let mut winner = LwwWinner::default();
    walk_set(bytes, |dot, timestamp_ms, value| winner.offer(dot, timestamp_ms, value))?;
    Ok(winner.value())
}

/// Whether `bytes`, a stored set, holds a value (a sibling that is not a
/// tombstone): `!decode_set(bytes)?.is_deleted()` without building the set.
/// Refuses exactly what [`decode_set`] refuses.
pub(super) fn holds_value(bytes: &[u8]) -> Result<bool, CausalError> {
    let mut any = false;
    walk_set(bytes, |_, _, value| any |= value.is_some())?;
    Ok(any)
}

/// What a read answers from `bytes`, a stored set, without building the set:
/// the encoded causal context (`encode_context` of its clock) and its live
/// values in dot order (`SiblingSet::values`), or with `lww` the LWW
/// winner's value alone. Refuses exactly what [`decode_set`] refuses.
pub(super) fn decode_read(bytes: &[u8], lww: bool) -> Result<ReadAnswer, CausalError> {
    read_ref(bytes, lww).map(|r| r.to_answer())
}

/// What a read of a stored set answers, borrowed from the set's bytes
/// ([`SiblingSet::read_ref`]): its values and the clock its context is made
/// of, as places in the bytes.
pub struct ReadRef<'a> {
    bytes: &'a [u8],
    clock: Range<usize>,
    values: smallvec::SmallVec<[Range<usize>; 2]>,
}

/// A context's bytes, made on the stack when a clock is short (one or a few
/// nodes).
pub type ContextBytes = smallvec::SmallVec<[u8; 64]>;

impl<'a> ReadRef<'a> {
    /// The values, in the order [`ReadAnswer::values`] has them.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + Clone + '_ {
        let bytes = self.bytes;
        self.values.iter().map(move |r| bytes.get(r.clone()).unwrap_or_default())
    }

    /// The causal context, encoded for the client ([`ReadAnswer::context`]).
    pub fn context(&self) -> ContextBytes {
        let clock = self.bytes.get(self.clock.clone()).unwrap_or_default();
        let mut context = ContextBytes::with_capacity(clock.len().saturating_add(1 + CHECKSUM_BYTES));
        context.push(CONTEXT_VERSION);
        context.extend_from_slice(clock);
        seal(context)
    }

    pub fn to_answer(&self) -> ReadAnswer {
        ReadAnswer { context: self.context().to_vec(), values: self.values().map(<[u8]>::to_vec).collect() }
    }
}

/// [`decode_read`], borrowed: the stored set is checked whole, as
/// [`decode_set`] checks it, and nothing is copied out.
pub(super) fn read_ref(bytes: &[u8], lww: bool) -> Result<ReadRef<'_>, CausalError> {
    let mut winner = LwwWinner::default();
    let mut values = smallvec::SmallVec::new();
    let clock = walk_set(bytes, |dot, timestamp_ms, value| {
        if lww {
            winner.offer(dot, timestamp_ms, value);
        } else if let Some(v) = value {
            values.push(v);
        }
    })?;
    if lww {
        values.extend(winner.value());
    }
    Ok(ReadRef { bytes, clock, values })
}

/// (timestamp_ms, counter, node) of a sibling: the largest wins under LWW.
type LwwRank = (u64, u64, NodeId);

/// The counter of `node` in `clock`, a clock's bytes that
/// [`read_clock_entries`] accepted (0 if absent).
fn clock_counter(clock: &[u8], node: NodeId) -> u64 {
    let mut r = Reader::new(clock);
    let n = r.varint().unwrap_or(0);
    for _ in 0..n {
        let (Ok(at), Ok(counter), Ok(_)) = (r.node(), r.varint(), r.varint()) else { break };
        if at == node {
            return counter;
        }
    }
    0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_canonical() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.varint().unwrap(), v);
            assert!(r.finish().is_ok());
        }
        // Overlong zero, 11-byte, and overflowing 10th byte are refused.
        assert_eq!(Reader::new(&[0x80, 0x00]).varint(), Err(CausalError::BadVarint(0)));
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(Reader::new(&over).varint(), Err(CausalError::BadVarint(0)));
        assert!(matches!(Reader::new(&[0x80]).varint(), Err(CausalError::Truncated { .. })));
    }

    #[test]
    fn structural_errors_are_reported() {
        // Bad bodies, in both forms (version 1's checksum is right).
        assert_eq!(both(&[9], decode_set), Err(CausalError::UnknownVersion(9)));
        // Clock entries out of order.
        assert_eq!(both(&[1, 2, 5, 1, 0, 3, 1, 0, 0], decode_set), Err(CausalError::NotCanonical("clock entries")));
        // Zero counter.
        assert_eq!(both(&[1, 1, 5, 0, 0, 0], decode_set), Err(CausalError::ZeroCounter));
        // Sibling not covered by the clock.
        assert_eq!(
            both(&[1, 1, 5, 1, 0, 1, 5, 2, 0, 0], decode_set),
            Err(CausalError::DotNotCovered(Dot { node: NodeId(5), counter: 2 }))
        );
        // Unknown tag.
        assert_eq!(both(&[1, 1, 5, 1, 0, 1, 5, 1, 0, 7], decode_set), Err(CausalError::InvalidTag(7)));
        // Value longer than the input.
        assert!(matches!(both(&[1, 1, 5, 1, 0, 1, 5, 1, 0, 1, 9, 1], decode_set), Err(CausalError::Truncated { .. })));
        // Trailing garbage.
        assert_eq!(both(&[1, 0, 0, 0], decode_set), Err(CausalError::TrailingBytes(1)));
        // Too many siblings, refused before reading them.
        assert!(matches!(both(&[1, 0, 65], decode_set), Err(CausalError::TooLarge { .. })));
        // Node id over 32 bits.
        assert_eq!(
            both(&[1, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 0, 0], decode_set),
            Err(CausalError::BadNodeId(1 << 32))
        );
        // The empty set.
        assert_eq!(both(&[1, 0, 0], decode_set), Ok(SiblingSet::new()));
    }

    #[test]
    fn lww_decode_refuses_what_decode_refuses_and_finds_the_winner() {
        let winner = |body: &[u8]| both(body, |b| decode_lww(b).map(|r| r.map(|r| b[r].to_vec())));
        // Clock {3: 1, 5: 2}; siblings (3, 1) at t=9 and (5, 2) at t=4: the later timestamp wins.
        let two: &[u8] = &[1, 2, 3, 1, 9, 5, 2, 4, 2, 3, 1, 9, 1, 1, 7, 5, 2, 4, 1, 2, 8, 8];
        assert_eq!(winner(two), Ok(Some(vec![7])));
        // Same timestamps: the larger counter wins, then the larger node.
        let tie: &[u8] = &[1, 2, 3, 1, 4, 5, 2, 4, 2, 3, 1, 4, 1, 1, 7, 5, 2, 4, 1, 2, 8, 8];
        assert_eq!(winner(tie), Ok(Some(vec![8, 8])));
        let tie: &[u8] = &[1, 2, 3, 2, 4, 5, 1, 4, 2, 3, 2, 4, 1, 1, 7, 5, 1, 4, 1, 2, 8, 8];
        assert_eq!(winner(tie), Ok(Some(vec![7])));
        let tie: &[u8] = &[1, 2, 3, 2, 4, 5, 2, 4, 2, 3, 2, 4, 1, 1, 7, 5, 2, 4, 1, 2, 8, 8];
        assert_eq!(winner(tie), Ok(Some(vec![8, 8])));
        // A tombstone wins: no value.
        let gone: &[u8] = &[1, 2, 3, 1, 9, 5, 2, 4, 2, 3, 1, 9, 0, 5, 2, 4, 1, 2, 8, 8];
        assert_eq!(winner(gone), Ok(None));
        let bodies: &[&[u8]] = &[
            &[9],
            &[1, 2, 5, 1, 0, 3, 1, 0, 0],
            &[1, 1, 5, 0, 0, 0],
            &[1, 1, 5, 1, 0, 1, 5, 2, 0, 0],
            // Covered by neither of two clock entries (the second is walked to).
            &[1, 2, 3, 1, 9, 5, 2, 4, 1, 5, 3, 4, 0],
            &[1, 2, 3, 1, 9, 5, 2, 4, 1, 4, 1, 4, 0],
            &[1, 1, 5, 1, 0, 1, 5, 1, 0, 7],
            &[1, 1, 5, 1, 0, 1, 5, 1, 0, 1, 9, 1],
            &[1, 0, 0, 0],
            &[1, 0, 65],
            &[1, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 0, 0],
            // Siblings out of order.
            &[1, 2, 3, 1, 9, 5, 2, 4, 2, 5, 2, 4, 0, 3, 1, 9, 0],
        ];
        for body in bodies {
            for bytes in forms(body) {
                let err = decode_set(&bytes).expect_err("a bad body");
                assert_eq!(decode_lww(&bytes), Err(err), "{body:?}");
            }
        }
        assert_eq!(both(&[1, 0, 0], decode_lww), Ok(None));
        // A version 1 set without its checksum.
        assert!(decode_lww(&[1, 0, 0]).is_err());
    }

    #[test]
    fn holds_value_is_not_deleted_without_building_the_set() {
        let bodies: [&[u8]; 6] = [
            // Two live siblings.
            &[1, 2, 3, 1, 9, 5, 2, 4, 2, 3, 1, 9, 1, 1, 7, 5, 2, 4, 1, 2, 8, 8],
            // A tombstone wins under LWW, but the other sibling holds a value.
            &[1, 2, 3, 1, 9, 5, 2, 4, 2, 3, 1, 9, 0, 5, 2, 4, 1, 2, 8, 8],
            // A tombstone alone.
            &[1, 1, 5, 1, 0, 1, 5, 1, 0, 0],
            // No siblings.
            &[1, 0, 0],
            // Refused: a sibling the clock does not cover, trailing bytes.
            &[1, 1, 5, 1, 0, 1, 5, 2, 0, 0],
            &[1, 0, 0, 0],
        ];
        let want = [Ok(true), Ok(true), Ok(false), Ok(false)];
        for (i, body) in bodies.iter().enumerate() {
            let decoded = both(body, |b| decode_set(b).map(|s| !s.is_deleted()));
            assert_eq!(both(body, holds_value), decoded, "set {i}");
            if let Some(w) = want.get(i) {
                assert_eq!(decoded, *w, "set {i}");
            } else {
                assert!(decoded.is_err(), "set {i}");
            }
        }
        // A version 1 set with a bad checksum.
        assert!(holds_value(&[1, 0, 0, 0, 0, 0, 0]).is_err());
    }

    /// `body`, a set's bytes from its version byte (1) on, in both stored
    /// forms: version 2, and version 1 with its checksum.
    fn forms(body: &[u8]) -> [Vec<u8>; 2] {
        let mut current = body.to_vec();
        if let Some(v) = current.first_mut().filter(|v| **v == SET_VERSION_SEALED) {
            *v = SET_VERSION;
        }
        [current, seal(body.to_vec())]
    }

    /// What `f` makes of both forms of `body`: the same, or this fails.
    fn both<T: PartialEq + std::fmt::Debug>(body: &[u8], f: impl Fn(&[u8]) -> T) -> T {
        let [current, sealed] = forms(body);
        let got = f(&current);
        assert_eq!(f(&sealed), got, "{body:?}");
        got
    }
}
