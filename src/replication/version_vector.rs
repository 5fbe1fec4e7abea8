//! Dots and version vectors.
//!
//! A [`Dot`] `(node, counter)` names one write: the `counter`-th write that
//! `node` coordinated on this key. A [`VersionVector`] maps each node to the
//! highest counter seen from it, so it stands for the set of dots
//! `{(n, c) : 1 <= c <= vv[n]}`: everything the holder has seen, whether still
//! a sibling or already superseded. Each entry also keeps the coordinator's
//! wall clock of that latest write, used only to prune old entries.

use std::collections::BTreeMap;
use std::fmt;

use crate::ring::NodeId;

use super::{codec, CausalError};

/// One write: coordinated by `node`, its `counter`-th on this key (counter >= 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dot {
    pub node: NodeId,
    pub counter: u64,
}

impl fmt::Display for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.node, self.counter)
    }
}

/// The latest counter seen from a node, and when that write was coordinated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockEntry {
    pub counter: u64,
    pub timestamp_ms: u64,
}

impl ClockEntry {
    /// The later of two entries for the same node (by counter, then timestamp).
    fn join(self, other: Self) -> Self {
        if (other.counter, other.timestamp_ms) > (self.counter, self.timestamp_ms) {
            other
        } else {
            self
        }
    }
}

/// Node → latest counter seen. Sorted by node (a `BTreeMap`), so its encoding
/// is canonical.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionVector {
    entries: BTreeMap<NodeId, ClockEntry>,
}

impl VersionVector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of node entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Highest counter seen from `node` (0: none).
    pub fn get(&self, node: NodeId) -> u64 {
        self.entries.get(&node).map_or(0, |e| e.counter)
    }

    pub fn entry(&self, node: NodeId) -> Option<ClockEntry> {
        self.entries.get(&node).copied()
    }

    /// Entries in node order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, ClockEntry)> + '_ {
        self.entries.iter().map(|(&n, &e)| (n, e))
    }

    /// Whether the write `dot` is in the causal past this vector stands for.
    pub fn contains(&self, dot: Dot) -> bool {
        self.get(dot.node) >= dot.counter
    }

    /// Records that `dot` (coordinated at `timestamp_ms`) has been seen.
    pub fn add(&mut self, dot: Dot, timestamp_ms: u64) {
        debug_assert!(dot.counter >= 1);
        let new = ClockEntry { counter: dot.counter, timestamp_ms };
        self.entries.entry(dot.node).and_modify(|e| *e = e.join(new)).or_insert(new);
    }

    /// Pointwise maximum (the join of the two causal pasts).
    pub fn merge(&mut self, other: &VersionVector) {
        for (&node, &e) in &other.entries {
            self.entries.entry(node).and_modify(|mine| *mine = mine.join(e)).or_insert(e);
        }
    }

    /// `self` has seen everything `other` has (pointwise `>=` on counters).
    pub fn descends(&self, other: &VersionVector) -> bool {
        other.entries.iter().all(|(&n, e)| self.get(n) >= e.counter)
    }

    /// `self` has seen strictly more than `other`.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        self.descends(other) && !other.descends(self)
    }

    /// Neither has seen everything the other has.
    pub fn concurrent(&self, other: &VersionVector) -> bool {
        !self.descends(other) && !other.descends(self)
    }

    pub(super) fn remove(&mut self, node: NodeId) -> Option<ClockEntry> {
        self.entries.remove(&node)
    }

    /// Inserts an entry as decoded (caller checks order and counters).
    pub(super) fn insert_decoded(&mut self, node: NodeId, entry: ClockEntry) {
        self.entries.insert(node, entry);
    }

    /// The opaque causal context handed to clients: at most
    /// [`MAX_CONTEXT_BYTES`](super::MAX_CONTEXT_BYTES) bytes, checksummed.
    /// Fails only if the vector has more than
    /// [`MAX_CLOCK_ENTRIES`](super::MAX_CLOCK_ENTRIES) entries.
    pub fn encode(&self) -> Result<Vec<u8>, CausalError> {
        codec::encode_context(self)
    }

    /// [`encode`](Self::encode) of the vector of `dot` alone (`add` to an
    /// empty one), built straight from the dot.
    pub fn encode_dot(dot: Dot, timestamp_ms: u64) -> Vec<u8> {
        codec::encode_dot_context(dot, timestamp_ms)
    }

    /// Parses a context from a client. Bad bytes are an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, CausalError> {
        codec::decode_context(bytes)
    }
}

impl FromIterator<(Dot, u64)> for VersionVector {
    /// Builds a vector from `(dot, timestamp_ms)` pairs.
    fn from_iter<I: IntoIterator<Item = (Dot, u64)>>(iter: I) -> Self {
        let mut vv = Self::new();
        for (dot, ts) in iter {
            vv.add(dot, ts);
        }
        vv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(pairs: &[(u32, u64)]) -> VersionVector {
        pairs.iter().map(|&(n, c)| (Dot { node: NodeId(n), counter: c }, 0)).collect()
    }

    #[test]
    fn a_dot_encodes_as_the_vector_of_it_alone() {
        for (node, counter, ts) in [(0, 1, 0), (1, 127, 1), (7, 128, 1_764_000_000_000), (u32::MAX, u64::MAX, u64::MAX)]
        {
            let dot = Dot { node: NodeId(node), counter };
            let mut v = VersionVector::new();
            v.add(dot, ts);
            assert_eq!(VersionVector::encode_dot(dot, ts), v.encode().unwrap(), "{dot:?} at {ts}");
        }
    }

    #[test]
    fn order_relations() {
        let a = vv(&[(1, 2), (2, 1)]);
        let b = vv(&[(1, 1)]);
        let c = vv(&[(1, 1), (3, 1)]);
        assert!(a.descends(&b) && a.dominates(&b) && !b.descends(&a));
        assert!(a.descends(&a) && !a.dominates(&a));
        assert!(a.concurrent(&c));
        assert!(VersionVector::new().descends(&VersionVector::new()));
        let mut m = a.clone();
        m.merge(&c);
        assert_eq!(m, vv(&[(1, 2), (2, 1), (3, 1)]));
        assert!(m.contains(Dot { node: NodeId(3), counter: 1 }));
        assert!(!m.contains(Dot { node: NodeId(3), counter: 2 }));
    }

    #[test]
    fn context_round_trips_and_rejects_garbage() {
        let mut v = VersionVector::new();
        v.add(Dot { node: NodeId(7), counter: 300 }, 1_700_000_000_000);
        v.add(Dot { node: NodeId(u32::MAX), counter: u64::MAX }, u64::MAX);
        let bytes = v.encode().unwrap();
        assert_eq!(VersionVector::decode(&bytes).unwrap(), v);
        assert!(VersionVector::decode(&[]).is_err());
        for cut in 0..bytes.len() {
            assert!(VersionVector::decode(&bytes[..cut]).is_err(), "prefix {cut}");
        }
        let mut bad = bytes.clone();
        bad[2] ^= 0x40;
        assert!(matches!(VersionVector::decode(&bad), Err(CausalError::ChecksumMismatch { .. })));
    }

    #[test]
    fn context_size_is_bounded() {
        let mut v = VersionVector::new();
        for n in 0..super::super::MAX_CLOCK_ENTRIES as u32 {
            v.add(Dot { node: NodeId(u32::MAX - n), counter: u64::MAX }, u64::MAX);
        }
        let bytes = v.encode().unwrap();
        assert!(bytes.len() <= super::super::MAX_CONTEXT_BYTES, "{}", bytes.len());
        v.add(Dot { node: NodeId(0), counter: 1 }, 0);
        assert!(matches!(v.encode(), Err(CausalError::TooLarge { .. })));
    }
}
