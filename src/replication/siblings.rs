//! The stored item: a dotted version vector set.
//!
//! `SiblingSet { clock, siblings }`:
//! - `siblings`: the versions no write has superseded yet, each keyed by its
//!   [`Dot`] and holding a value or a tombstone (`None`) and the coordinator's
//!   wall clock (used only by last-write-wins).
//! - `clock`: every dot the set has seen, kept or superseded.
//!
//! Invariants: every sibling's dot is in `clock`; a dot names one write, so two
//! replicas holding the same dot hold the same version.
//!
//! A dot in `clock` that is not a sibling was superseded: `merge` keeps a
//! sibling unless the other side has seen its dot and no longer keeps it.
//! `update` supersedes exactly the siblings the client's context has seen.

use std::collections::BTreeMap;

use crate::ring::NodeId;

use super::version_vector::{Dot, VersionVector};
use super::{codec, CausalError, MAX_SIBLINGS, MAX_TOTAL_VALUE_BYTES, MAX_VALUE_BYTES};

/// One sibling's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Coordinator's wall clock when the write was accepted (ms since the epoch).
    pub timestamp_ms: u64,
    /// `None` is a tombstone (a delete).
    pub value: Option<Vec<u8>>,
}

/// What a GET answers from a stored set ([`SiblingSet::decode_read`]): its
/// causal context, encoded for the client, and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadAnswer {
    pub context: Vec<u8>,
    pub values: Vec<Vec<u8>>,
}

impl ReadAnswer {
    /// The answer for a key never written: the empty set's.
    pub fn empty() -> Self {
        let context = VersionVector::new().encode().unwrap_or_default();
        ReadAnswer { context, values: Vec::new() }
    }
}

/// The concurrent versions of one key and their causal past.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiblingSet {
    clock: VersionVector,
    siblings: BTreeMap<Dot, Version>,
}

impl SiblingSet {
    /// The state of a key never written.
    pub fn new() -> Self {
        Self::default()
    }

    pub(super) fn from_parts(clock: VersionVector, siblings: BTreeMap<Dot, Version>) -> Self {
        let set = Self { clock, siblings };
        set.debug_check();
        set
    }

    fn debug_check(&self) {
        debug_assert!(self.siblings.keys().all(|&d| self.clock.contains(d)), "sibling outside the clock");
    }

    /// Number of siblings, tombstones included.
    pub fn len(&self) -> usize {
        self.siblings.len()
    }

    /// No sibling at all: never written, or every version pruned by a merge.
    pub fn is_empty(&self) -> bool {
        self.siblings.is_empty()
    }

    /// Siblings in dot order.
    pub fn siblings(&self) -> impl Iterator<Item = (&Dot, &Version)> {
        self.siblings.iter()
    }

    /// Live sibling values in dot order (tombstones left out).
    pub fn values(&self) -> Vec<&[u8]> {
        self.siblings.values().filter_map(|v| v.value.as_deref()).collect()
    }

    /// At least one sibling and every sibling a tombstone: the key is deleted
    /// (and the set may be garbage-collected once every replica has it).
    pub fn is_tombstone_only(&self) -> bool {
        !self.siblings.is_empty() && self.siblings.values().all(|v| v.value.is_none())
    }

    /// No live value: a GET answers "not found" (with this context).
    pub fn is_deleted(&self) -> bool {
        self.siblings.values().all(|v| v.value.is_none())
    }

    /// The causal context a GET returns (opaque to the client once encoded).
    pub fn context(&self) -> VersionVector {
        self.clock.clone()
    }

    pub fn context_ref(&self) -> &VersionVector {
        &self.clock
    }

    /// Coordinator write: the new version supersedes exactly the siblings whose
    /// dots `ctx` has seen, and is a sibling of every other one. `value: None`
    /// writes a tombstone. The new dot is `(coordinator, c)` with `c` one more
    /// than the highest counter of `coordinator` in the set or in `ctx`.
    ///
    /// `coordinator` must be a node that stores this set and runs this on its
    /// own copy (the dot counter comes from it). Returns the new dot. Refuses,
    /// leaving the set unchanged, a value over [`MAX_VALUE_BYTES`] or a result
    /// over [`MAX_SIBLINGS`] / [`MAX_TOTAL_VALUE_BYTES`] (the client must then
    /// write with a context that resolves siblings).
    pub fn update(
        &mut self,
        ctx: &VersionVector,
        value: Option<Vec<u8>>,
        coordinator: NodeId,
        now_ms: u64,
    ) -> Result<Dot, CausalError> {
        self.update_with_floor(ctx, value, coordinator, now_ms, 0)
    }

    /// [`update`](Self::update) with the new counter at least `counter_floor`.
    /// Pass a per-node counter that never goes backwards (persisted, e.g. as a
    /// lease, across restarts and data loss) to make dot reuse impossible even
    /// when the coordinator's own clock entry was pruned or its data lost
    /// (Riak's kv679). Counters then jump, which the model allows: a dot only
    /// needs to be new and larger than the coordinator's earlier dots on the key.
    pub fn update_with_floor(
        &mut self,
        ctx: &VersionVector,
        value: Option<Vec<u8>>,
        coordinator: NodeId,
        now_ms: u64,
        counter_floor: u64,
    ) -> Result<Dot, CausalError> {
        if let Some(v) = &value {
            if v.len() > MAX_VALUE_BYTES {
                return Err(CausalError::TooLarge { what: "value bytes", got: v.len(), max: MAX_VALUE_BYTES });
            }
        }
        let kept = self.siblings.iter().filter(|(&d, _)| !ctx.contains(d));
        let (count, bytes) = kept.fold((1usize, value.as_ref().map_or(0, Vec::len)), |(c, b), (_, v)| {
            (c + 1, b + v.value.as_ref().map_or(0, Vec::len))
        });
        if count > MAX_SIBLINGS {
            return Err(CausalError::TooLarge { what: "siblings", got: count, max: MAX_SIBLINGS });
        }
        if bytes > MAX_TOTAL_VALUE_BYTES {
            return Err(CausalError::TooLarge { what: "total value bytes", got: bytes, max: MAX_TOTAL_VALUE_BYTES });
        }
        let known = self.clock.get(coordinator).max(ctx.get(coordinator));
        let counter = known.checked_add(1).ok_or(CausalError::TooLarge {
            what: "dot counter",
            got: usize::MAX,
            max: usize::MAX,
        })?;
        let dot = Dot { node: coordinator, counter: counter.max(counter_floor) };
        self.siblings.retain(|&d, _| !ctx.contains(d));
        self.clock.merge(ctx);
        self.clock.add(dot, now_ms);
        self.siblings.insert(dot, Version { timestamp_ms: now_ms, value });
        self.debug_check();
        Ok(dot)
    }

    /// A write without a client context that supersedes everything this
    /// coordinator's copy has seen (RESP `SET`/`DEL`, last-write-wins keyspaces).
    /// Versions written concurrently elsewhere still become siblings.
    pub fn overwrite(&mut self, value: Option<Vec<u8>>, coordinator: NodeId, now_ms: u64) -> Result<Dot, CausalError> {
        let ctx = self.clock.clone();
        self.update(&ctx, value, coordinator, now_ms)
    }

    /// Replica sync: the join of two states. A sibling survives unless the
    /// other side has seen its dot and superseded it. Idempotent, commutative,
    /// associative. May exceed [`MAX_SIBLINGS`] (each side accepted writes
    /// alone); such a set cannot be encoded until a write resolves it.
    pub fn merge(&mut self, other: &SiblingSet) {
        self.siblings.retain(|d, _| other.siblings.contains_key(d) || !other.clock.contains(*d));
        for (&d, v) in &other.siblings {
            if !self.clock.contains(d) {
                self.siblings.insert(d, v.clone());
            } else {
                debug_assert!(!self.siblings.contains_key(&d) || self.siblings[&d] == *v, "one dot, two versions");
            }
        }
        self.clock.merge(&other.clock);
        self.debug_check();
    }

    /// `a.merge(b)` as a new value.
    pub fn merged(&self, other: &SiblingSet) -> SiblingSet {
        let mut out = self.clone();
        out.merge(other);
        out
    }

    /// `self` already holds everything `other` knows: merging `other` into
    /// `self` changes nothing. Read repair sends the merged set to every
    /// replica whose state the merged set does not equal, i.e. where
    /// `!replica.descends(&merged)`.
    pub fn descends(&self, other: &SiblingSet) -> bool {
        self.clock.descends(&other.clock)
            && self.siblings.keys().all(|d| other.siblings.contains_key(d) || !other.clock.contains(*d))
            && other.clock.iter().all(|(n, e)| {
                self.clock.entry(n).is_some_and(|m| (m.counter, m.timestamp_ms) >= (e.counter, e.timestamp_ms))
            })
    }

    /// `self` descends `other` and knows strictly more.
    pub fn dominates(&self, other: &SiblingSet) -> bool {
        self.descends(other) && self != other
    }

    /// The last-write-wins winner: the sibling with the highest
    /// `(timestamp_ms, counter, node)`, tombstones included. The order is total
    /// and depends only on the siblings, so every replica picks the same winner.
    /// The stored-bytes decoders pick it the same way (`codec::LwwWinner`).
    pub fn lww_winner(&self) -> Option<(Dot, &Version)> {
        self.siblings.iter().max_by_key(|(d, v)| (v.timestamp_ms, d.counter, d.node)).map(|(&d, v)| (d, v))
    }

    /// The value a client that cannot see siblings gets: the LWW winner's
    /// value, `None` if the winner is a tombstone or the set is empty.
    pub fn resolve_lww(&self) -> Option<&[u8]> {
        self.lww_winner().and_then(|(_, v)| v.value.as_deref())
    }

    /// [`resolve_lww`](Self::resolve_lww), moving the value out of the set.
    pub fn into_lww(mut self) -> Option<Vec<u8>> {
        let (winner, _) = self.lww_winner()?;
        self.siblings.remove(&winner)?.value
    }

    /// Keeps only the LWW winner (last-write-wins keyspaces: bounded siblings).
    /// The clock is kept, so the losers count as superseded everywhere.
    pub fn collapse_lww(&mut self) {
        if let Some((winner, _)) = self.lww_winner() {
            self.siblings.retain(|&d, _| d == winner);
        }
    }

    pub(super) fn clock_mut(&mut self) -> &mut VersionVector {
        &mut self.clock
    }

    /// Nodes that coordinated a live sibling (their clock entries are never pruned).
    pub(super) fn sibling_nodes(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self.siblings.keys().map(|d| d.node).collect();
        nodes.dedup();
        nodes
    }

    /// Checks the stored-size limits (what [`encode`](Self::encode) requires).
    pub fn check_limits(&self) -> Result<(), CausalError> {
        if self.siblings.len() > MAX_SIBLINGS {
            return Err(CausalError::TooLarge { what: "siblings", got: self.siblings.len(), max: MAX_SIBLINGS });
        }
        let mut total = 0usize;
        for v in self.siblings.values().filter_map(|v| v.value.as_ref()) {
            if v.len() > MAX_VALUE_BYTES {
                return Err(CausalError::TooLarge { what: "value bytes", got: v.len(), max: MAX_VALUE_BYTES });
            }
            total += v.len();
        }
        if total > MAX_TOTAL_VALUE_BYTES {
            return Err(CausalError::TooLarge { what: "total value bytes", got: total, max: MAX_TOTAL_VALUE_BYTES });
        }
        Ok(())
    }

    /// The stored form of what a blind overwrite writes: the set that
    /// `update` of an empty set with an empty context makes, holding `value`
    /// at `dot` stamped `timestamp_ms`, encoded without being built, into
    /// `out` (cleared first; it keeps its capacity, so a blind SET allocates
    /// nothing for its set).
    pub fn encode_blind_into(
        dot: Dot,
        timestamp_ms: u64,
        value: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> Result<(), CausalError> {
        codec::encode_blind_into(dot, timestamp_ms, value, out)
    }

    /// The stored form (CAUSALITY.md). Fails if a limit is exceeded.
    pub fn encode(&self) -> Result<Vec<u8>, CausalError> {
        codec::encode_set(self)
    }

    /// Parses the stored form. Bad bytes are an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, CausalError> {
        codec::decode_set(bytes)
    }

    /// `decode(bytes)?.into_lww()`, without building the set: the LWW
    /// winner's value, the only bytes copied.
    pub fn decode_lww(bytes: &[u8]) -> Result<Option<Vec<u8>>, CausalError> {
        Ok(Self::lww_ref(bytes)?.map(<[u8]>::to_vec))
    }

    /// What [`decode_lww`](Self::decode_lww) gives, borrowed from `bytes`.
    pub fn lww_ref(bytes: &[u8]) -> Result<Option<&[u8]>, CausalError> {
        Ok(codec::decode_lww(bytes)?.map(|value| bytes.get(value).unwrap_or_default()))
    }

    /// `decode(bytes)` succeeds and the set is not deleted, without building
    /// the set: a key counts as present.
    pub fn holds_value(bytes: &[u8]) -> bool {
        codec::holds_value(bytes).unwrap_or(false)
    }

    /// What a read of the stored set `bytes` answers, without building the
    /// set: `(context().encode(), values())` of `decode(bytes)`, or with
    /// `lww` the LWW winner's value (`resolve_lww`) as the only one.
    pub fn decode_read(bytes: &[u8], lww: bool) -> Result<ReadAnswer, CausalError> {
        codec::decode_read(bytes, lww)
    }

    /// [`decode_read`](Self::decode_read) borrowed from `bytes`: the values
    /// and context a GET answers, to encode straight from where the set is
    /// stored.
    pub fn read_ref(bytes: &[u8], lww: bool) -> Result<codec::ReadRef<'_>, CausalError> {
        codec::read_ref(bytes, lww)
    }
}
