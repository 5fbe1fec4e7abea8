//! The token ring: every node holds `vnodes` tokens; a token `t` owns the
//! range `(previous token, t]` (wrapping). A key's preference list is the first
//! N distinct nodes met walking clockwise from the first token `>=` the key's
//! token.
//!
//! Invariants: `tokens` is sorted by token and tokens are unique. A node's
//! tokens are picked by `allocate::tokens_for_joiner` when it joins; when it
//! leaves, each of its tokens is handed to another node (`allocate::reassign_for_leaver`).
//!
//! The ring is a function of the *history* of joins and leaves, not of the set
//! of members: membership must gossip the token table ([`Ring::tokens`],
//! [`Ring::from_tokens`]) or the ordered history, so that every node builds the
//! same ring.

use std::collections::BTreeMap;

use super::allocate;
use super::NodeId;

/// Tokens per node unless configured otherwise.
pub const DEFAULT_VNODES: u32 = 256;
/// Most tokens one node may hold.
pub const MAX_VNODES: u32 = 4096;
/// Most tokens on a ring (4096 nodes of 256 vnodes).
pub const MAX_TOKENS: usize = 1 << 20;

/// A token range `(start, end]`, wrapping past `u64::MAX` when `start >= end`.
/// `start == end` denotes the whole ring.
pub type TokenRange = (u64, u64);

/// Whether `token` lies in `(start, end]` (wrapping; `start == end` is the whole ring).
pub fn range_contains(range: TokenRange, token: u64) -> bool {
    let (start, end) = range;
    match start.cmp(&end) {
        std::cmp::Ordering::Equal => true,
        std::cmp::Ordering::Less => start < token && token <= end,
        std::cmp::Ordering::Greater => token > start || token <= end,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RingError {
    #[error("node {0} is already on the ring")]
    AlreadyMember(NodeId),
    #[error("node {0} is not on the ring")]
    NotMember(NodeId),
    #[error("vnodes must be in 1..={max}, got {got}")]
    BadVnodes { got: u32, max: u32 },
    #[error("the ring would hold {got} tokens, the limit is {max}")]
    TooManyTokens { got: usize, max: usize },
    #[error("token {0:#018x} appears twice")]
    DuplicateToken(u64),
    #[error("no token range is wide enough to split")]
    NoRoom,
}

/// Sorted `(token, node)` table. Cheap to clone for a few hundred nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ring {
    tokens: Vec<(u64, NodeId)>,
}

impl Ring {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// The ring obtained by joining `members` one after another, in that order,
    /// each with `vnodes` tokens. Deterministic: the same list gives the same ring.
    pub fn build(members: &[NodeId], vnodes: u32) -> Result<Self, RingError> {
        let mut ring = Self::new();
        for &node in members {
            ring.join(node, vnodes)?;
        }
        Ok(ring)
    }

    /// A ring from a gossiped token table (any order; tokens must be unique).
    pub fn from_tokens(mut tokens: Vec<(u64, NodeId)>) -> Result<Self, RingError> {
        if tokens.len() > MAX_TOKENS {
            return Err(RingError::TooManyTokens { got: tokens.len(), max: MAX_TOKENS });
        }
        tokens.sort_unstable();
        if let Some(w) = tokens.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(RingError::DuplicateToken(w[0].0));
        }
        Ok(Self { tokens })
    }

    /// The sorted token table (what membership gossips).
    pub fn tokens(&self) -> &[(u64, NodeId)] {
        &self.tokens
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Distinct members, sorted by id.
    pub fn nodes(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self.tokens.iter().map(|&(_, n)| n).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    pub fn contains(&self, node: NodeId) -> bool {
        self.tokens.iter().any(|&(_, n)| n == node)
    }

    /// Adds `node` with `vnodes` tokens chosen by the balancing allocator
    /// (see `allocate.rs`). Returns the new tokens.
    pub fn join(&mut self, node: NodeId, vnodes: u32) -> Result<Vec<u64>, RingError> {
        if !(1..=MAX_VNODES).contains(&vnodes) {
            return Err(RingError::BadVnodes { got: vnodes, max: MAX_VNODES });
        }
        if self.contains(node) {
            return Err(RingError::AlreadyMember(node));
        }
        let total = self.tokens.len() + vnodes as usize;
        if total > MAX_TOKENS {
            return Err(RingError::TooManyTokens { got: total, max: MAX_TOKENS });
        }
        let new = allocate::tokens_for_joiner(&self.tokens, node, vnodes)?;
        self.tokens.extend(new.iter().map(|&t| (t, node)));
        self.tokens.sort_unstable();
        debug_assert!(self.tokens.windows(2).all(|w| w[0].0 < w[1].0), "allocator produced a duplicate token");
        Ok(new)
    }

    /// Removes `node`: each of its tokens is handed to the remaining node that
    /// keeps ownership most balanced (see `allocate.rs`). Only keys whose
    /// preference list contained `node` move. Returns the `(token, new owner)` pairs.
    pub fn leave(&mut self, node: NodeId) -> Result<Vec<(u64, NodeId)>, RingError> {
        if !self.contains(node) {
            return Err(RingError::NotMember(node));
        }
        if self.tokens.iter().all(|&(_, n)| n == node) {
            self.tokens.clear();
            return Ok(Vec::new());
        }
        let moves = allocate::reassign_for_leaver(&self.tokens, node);
        for &(token, to) in &moves {
            let i = self.tokens.binary_search_by_key(&token, |&(t, _)| t).expect("token of the leaver");
            self.tokens[i].1 = to;
        }
        debug_assert!(!self.contains(node));
        Ok(moves)
    }

    /// Removes `node`'s tokens without handing them over: its ranges fall to
    /// the clockwise successors (Cassandra-style). Simpler, less balanced.
    pub fn remove_tokens_of(&mut self, node: NodeId) -> Result<(), RingError> {
        if !self.contains(node) {
            return Err(RingError::NotMember(node));
        }
        self.tokens.retain(|&(_, n)| n != node);
        Ok(())
    }

    /// Index of the first token `>= token`, wrapping to 0. Ring must not be empty.
    fn start_index(&self, token: u64) -> usize {
        let i = self.tokens.partition_point(|&(t, _)| t < token);
        if i == self.tokens.len() {
            0
        } else {
            i
        }
    }

    /// Nodes in ring order starting at token index `start`, each node once.
    fn distinct_from(&self, start: usize) -> impl Iterator<Item = NodeId> + '_ {
        let len = self.tokens.len();
        let mut seen: Vec<NodeId> = Vec::new();
        (0..len).filter_map(move |k| {
            let node = self.tokens[(start + k) % len].1;
            if seen.contains(&node) {
                None
            } else {
                seen.push(node);
                Some(node)
            }
        })
    }

    /// The node owning `token` (first on its preference list).
    pub fn owner(&self, token: u64) -> Option<NodeId> {
        if self.is_empty() {
            return None;
        }
        Some(self.tokens[self.start_index(token)].1)
    }

    /// The first `n` distinct nodes clockwise from `token` (fewer if the ring
    /// has fewer members). The first is the natural coordinator.
    pub fn preference_list(&self, token: u64, n: usize) -> Vec<NodeId> {
        if self.is_empty() || n == 0 {
            return Vec::new();
        }
        self.distinct_from(self.start_index(token)).take(n).collect()
    }

    /// Sloppy quorum: the first `n` distinct nodes are the intended replicas.
    /// Returns the intended replicas that are up (ring order), and for each one
    /// that is down, in ring order, a fallback: the next distinct node beyond the
    /// first `n` that is up, paired as `(fallback, intended)` so the fallback
    /// can keep a hint for `intended`. Fewer fallbacks if too few nodes are up.
    pub fn preference_list_with_fallbacks(
        &self,
        token: u64,
        n: usize,
        is_up: impl Fn(&NodeId) -> bool,
    ) -> (Vec<NodeId>, Vec<(NodeId, NodeId)>) {
        let mut up = Vec::new();
        let mut hinted = Vec::new();
        if self.is_empty() || n == 0 {
            return (up, hinted);
        }
        let mut down = std::collections::VecDeque::new();
        for (i, node) in self.distinct_from(self.start_index(token)).enumerate() {
            if i < n {
                if is_up(&node) {
                    up.push(node);
                } else {
                    down.push_back(node);
                }
            } else if down.is_empty() {
                break;
            } else if is_up(&node) {
                let intended = down.pop_front().expect("checked non-empty");
                hinted.push((node, intended));
            }
        }
        (up, hinted)
    }

    /// The token ranges for which `node` is on the preference list of length
    /// `n`, as `(start exclusive, end inclusive]`, adjacent ranges merged, in
    /// ring order. A single `(t, t)` means the whole ring. Empty if `node` is
    /// not on the ring.
    pub fn ranges_of(&self, node: NodeId, n: usize) -> Vec<TokenRange> {
        let len = self.tokens.len();
        let mut out: Vec<TokenRange> = Vec::new();
        if n == 0 || !self.contains(node) {
            return out;
        }
        for i in 0..len {
            if !self.distinct_from(i).take(n).any(|m| m == node) {
                continue;
            }
            let start = self.tokens[(i + len - 1) % len].0;
            let end = self.tokens[i].0;
            match out.last_mut() {
                Some(last) if last.1 == start => last.1 = end,
                _ => out.push((start, end)),
            }
        }
        // The last range may run into the first one across index 0.
        if out.len() > 1 {
            let last = out[out.len() - 1];
            if last.1 == out[0].0 {
                out[0].0 = last.0;
                out.pop();
            }
        }
        out
    }

    /// Fraction of the token space each node replicates with replication
    /// factor `n` (`n = 1`: primary ownership). Sums to `min(n, nodes)`.
    pub fn ownership(&self, n: usize) -> BTreeMap<NodeId, f64> {
        let len = self.tokens.len();
        let mut owned: BTreeMap<NodeId, u128> = self.nodes().into_iter().map(|m| (m, 0)).collect();
        for i in 0..len {
            let width = range_width(self.tokens[(i + len - 1) % len].0, self.tokens[i].0);
            for m in self.distinct_from(i).take(n) {
                *owned.entry(m).or_default() += width;
            }
        }
        owned.into_iter().map(|(m, w)| (m, w as f64 / RING_SIZE as f64)).collect()
    }
}

/// 2^64: the size of the token space.
pub(super) const RING_SIZE: u128 = 1 << 64;

/// Width of `(start, end]`; `start == end` is the whole ring.
pub(super) fn range_width(start: u64, end: u64) -> u128 {
    if start == end {
        RING_SIZE
    } else {
        end.wrapping_sub(start) as u128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u32]) -> Vec<NodeId> {
        v.iter().map(|&i| NodeId(i)).collect()
    }

    fn toy() -> Ring {
        // 10 -> a, 20 -> b, 30 -> a, 40 -> c
        Ring::from_tokens(vec![(30, NodeId(1)), (10, NodeId(1)), (20, NodeId(2)), (40, NodeId(3))]).unwrap()
    }

    #[test]
    fn preference_list_walks_clockwise_and_skips_repeats() {
        let r = toy();
        assert_eq!(r.preference_list(15, 2), ids(&[2, 1]));
        assert_eq!(r.preference_list(20, 3), ids(&[2, 1, 3]));
        assert_eq!(r.preference_list(25, 3), ids(&[1, 3, 2]));
        // Past the last token wraps to the first.
        assert_eq!(r.preference_list(41, 2), ids(&[1, 2]));
        assert_eq!(r.preference_list(u64::MAX, 1), ids(&[1]));
        assert_eq!(r.preference_list(0, 1), ids(&[1]));
        // Asking for more nodes than exist returns all of them.
        assert_eq!(r.preference_list(5, 10), ids(&[1, 2, 3]));
        assert!(Ring::new().preference_list(5, 3).is_empty());
        assert_eq!(r.owner(35), Some(NodeId(3)));
    }

    #[test]
    fn fallbacks_replace_down_nodes_in_order() {
        let r = Ring::from_tokens((0..6u64).map(|i| (i * 100, NodeId(i as u32))).collect()).unwrap();
        let up = |n: &NodeId| n.0 != 1 && n.0 != 3;
        // Intended 1,2,3 -> 2 up; 1 and 3 down; walk on: 4 (up) for 1, 5 (up) for 3.
        let (primaries, hints) = r.preference_list_with_fallbacks(50, 3, up);
        assert_eq!(primaries, ids(&[2]));
        assert_eq!(hints, vec![(NodeId(4), NodeId(1)), (NodeId(5), NodeId(3))]);
        // Everyone up: no hints.
        let (primaries, hints) = r.preference_list_with_fallbacks(50, 3, |_| true);
        assert_eq!(primaries, ids(&[1, 2, 3]));
        assert!(hints.is_empty());
        // Too few nodes up: as many fallbacks as exist.
        let (primaries, hints) = r.preference_list_with_fallbacks(50, 3, |n| n.0 == 0);
        assert!(primaries.is_empty());
        assert_eq!(hints, vec![(NodeId(0), NodeId(1))]);
    }

    #[test]
    fn ranges_of_matches_preference_lists() {
        let r = Ring::build(&ids(&[0, 1, 2, 3, 4]), 8).unwrap();
        for node in r.nodes() {
            for n in 1..=3 {
                let ranges = r.ranges_of(node, n);
                for k in 0..2_000u32 {
                    let t = crate::ring::token(&k.to_le_bytes());
                    let in_list = r.preference_list(t, n).contains(&node);
                    let in_ranges = ranges.iter().any(|&rg| range_contains(rg, t));
                    assert_eq!(in_list, in_ranges, "node {node} n {n} token {t:#x}");
                }
                // Boundaries: each range end is owned, the start is not.
                for &(s, e) in &ranges {
                    assert!(r.preference_list(e, n).contains(&node));
                    if s != e {
                        assert!(!r.preference_list(s, n).contains(&node));
                    }
                }
            }
        }
        // With n >= members every node replicates the whole ring.
        let whole = r.ranges_of(NodeId(2), 5);
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].0, whole[0].1);
        assert!(r.ranges_of(NodeId(9), 3).is_empty());
    }

    #[test]
    fn range_contains_wraps() {
        assert!(range_contains((10, 20), 20));
        assert!(!range_contains((10, 20), 10));
        assert!(range_contains((u64::MAX - 1, 5), 0));
        assert!(range_contains((u64::MAX - 1, 5), u64::MAX));
        assert!(!range_contains((u64::MAX - 1, 5), 6));
        assert!(range_contains((7, 7), 123));
    }

    #[test]
    fn build_is_deterministic_and_join_leave_validate() {
        let members = ids(&[5, 1, 9]);
        assert_eq!(Ring::build(&members, 64).unwrap(), Ring::build(&members, 64).unwrap());
        let mut r = Ring::build(&members, 64).unwrap();
        assert_eq!(r.tokens().len(), 192);
        assert_eq!(r.join(NodeId(1), 64), Err(RingError::AlreadyMember(NodeId(1))));
        assert_eq!(r.join(NodeId(2), 0), Err(RingError::BadVnodes { got: 0, max: MAX_VNODES }));
        assert_eq!(r.leave(NodeId(2)), Err(RingError::NotMember(NodeId(2))));
        r.leave(NodeId(1)).unwrap();
        assert_eq!(r.nodes(), ids(&[5, 9]));
        assert_eq!(Ring::from_tokens(vec![(1, NodeId(0)), (1, NodeId(1))]), Err(RingError::DuplicateToken(1)));
        let rebuilt = Ring::from_tokens(r.tokens().to_vec()).unwrap();
        assert_eq!(rebuilt, r);
    }

    #[test]
    fn single_node_and_ownership_sums() {
        let r = Ring::build(&ids(&[3]), 4).unwrap();
        assert_eq!(r.ranges_of(NodeId(3), 1).len(), 1);
        let own = r.ownership(1);
        assert!((own[&NodeId(3)] - 1.0).abs() < 1e-9);
        let r = Ring::build(&ids(&[0, 1, 2, 3]), 16).unwrap();
        for n in 1..=5 {
            let sum: f64 = r.ownership(n).values().sum();
            assert!((sum - n.min(4) as f64).abs() < 1e-9, "n {n} sum {sum}");
        }
    }

    #[test]
    fn heterogeneous_vnodes_get_proportional_share() {
        let mut r = Ring::new();
        r.join(NodeId(0), 128).unwrap();
        r.join(NodeId(1), 256).unwrap();
        r.join(NodeId(2), 128).unwrap();
        let own = r.ownership(1);
        assert!((own[&NodeId(1)] - 0.5).abs() < 0.02, "{own:?}");
        assert!((own[&NodeId(0)] - 0.25).abs() < 0.02, "{own:?}");
    }
}
