//! Token allocation on join and token hand-over on leave: pure, deterministic,
//! replication-aware (in the spirit of Cassandra's `allocate_tokens_for_keyspace`).
//!
//! Random tokens (`xxh3(node, i)`) are simple, but at 256 vnodes the most
//! loaded node owns ~1.1-1.2x the mean and the imbalance never heals. Splitting
//! only the most loaded node's widest ranges fixes primary ownership but not
//! replicated ownership: a new token always lands just before a donor's token,
//! so the same pairs of nodes keep replicating each other (measured: 1.38x the
//! mean at 5 nodes, N = 3). So both primary and replicated ownership are scored.
//!
//! **Score.** Each node `n` has a weight `w(n)` = its token count. Its targets
//! are `P*(n) = w(n) / W` of the ring (primary) and `R*(n) = min(RF, nodes) * P*(n)`
//! (replicated with `RF = BALANCE_RF = 3`). The score of a ring is
//! `sum over n of (P(n)/P*(n) - 1)^2 + (R(n)/R*(n) - 1)^2`; lower is better.
//!
//! **Join** of `x` with `v` tokens into a non-empty ring (the first node gets
//! `v` evenly spaced tokens): `x` needs `P*(x)` of the ring. For each of its
//! tokens in turn, `take = (share still needed) / (tokens still to place)`; the
//! candidates are the `PER_DONOR` widest ranges `(a, b]` (width `>= 2`) of each
//! of the `DONORS` nodes most over their primary target, each split at
//! `m = a + min(take, width - 1)` so that `x` gets `(a, m]`. The change of score of each candidate is computed exactly and
//! locally (only the ranges whose first `RF` distinct nodes walk over `m`
//! change), and the candidate that lowers the score most wins (ties: the lower
//! end token). Keys move only to `x`, so join movement is minimal.
//!
//! **Leave** of `x`: each of its tokens, in token order, is handed to the
//! remaining node whose taking it lowers the score most (ties: lowest id), the
//! score counting only the remaining nodes. Only keys whose preference list
//! contained `x` move, as with plain removal, but the shares stay balanced.
//!
//! All choices use the same arithmetic in the same order (IEEE-754 `f64`, no
//! fused operations; exact `u128` for widths), so every node computes the same
//! ring from the same history.

use std::collections::{BTreeMap, BinaryHeap};

use xxhash_rust::xxh3::xxh3_64;

use super::vnodes::{range_width, RingError, RING_SIZE};
use super::NodeId;

/// Replication factor the allocator balances for (ringkv's default N).
pub(super) const BALANCE_RF: usize = 3;
/// For each token of a joining node, the candidates are the `PER_DONOR` widest
/// ranges of each of the `DONORS` nodes with the most primary ownership per target.
const DONORS: usize = 8;
const PER_DONOR: usize = 4;

/// A one-token change of the ring, evaluated before it is made.
#[derive(Clone, Copy)]
enum Edit {
    /// Insert `node` at `token`, splitting the range `(a, b]` (`a` and `b` are
    /// existing tokens, `a < token < b` clockwise).
    Insert { a: u64, b: u64, token: u64, node: NodeId },
    /// Give the existing `token` (owned by `from`) to `to`.
    Reassign { token: u64, from: NodeId, to: NodeId },
}

struct Balancer {
    ring: BTreeMap<u64, NodeId>,
    /// Target fractions (primary) per scored node.
    target: BTreeMap<NodeId, f64>,
    /// Owned fractions, primary and replicated.
    primary: BTreeMap<NodeId, f64>,
    replica: BTreeMap<NodeId, f64>,
    /// `min(RF, scored nodes)`; replication terms are skipped when every node
    /// replicates everything (`nodes <= RF`).
    rf_eff: f64,
    replicas_trivial: bool,
}

/// The tokens `node` should take when joining a ring with `tokens` (sorted,
/// unique, not containing `node`). Returned sorted.
pub(super) fn tokens_for_joiner(tokens: &[(u64, NodeId)], node: NodeId, vnodes: u32) -> Result<Vec<u64>, RingError> {
    debug_assert!(tokens.windows(2).all(|w| w[0].0 < w[1].0));
    debug_assert!(vnodes >= 1);
    if tokens.is_empty() {
        return Ok(evenly_spaced(node, vnodes));
    }
    let mut weights = token_counts(tokens);
    weights.insert(node, vnodes as f64);
    let mut b = Balancer::new(tokens, &weights);
    let v = vnodes as u128;
    let mut need = RING_SIZE * v / (tokens.len() as u128 + v);
    // Each donor's ranges, widest first; equal widths ordered by a hash of the
    // end token so that ties do not pick neighbouring ranges.
    let mut ranges: BTreeMap<NodeId, BinaryHeap<(u128, u64, u64)>> = BTreeMap::new();
    let len = tokens.len();
    for i in 0..len {
        // A one-token ring's only range is the whole ring: treat it as 2^64 - 1
        // wide so that `end - width` is exact.
        let (end, owner) = tokens[i];
        let width = range_width(tokens[(i + len - 1) % len].0, end).min(RING_SIZE - 1);
        ranges.entry(owner).or_default().push((width, xxh3_64(&end.to_le_bytes()), end));
    }
    let mut out = Vec::with_capacity(vnodes as usize);
    for placed in 0..v {
        let want = (need / (v - placed)).max(1);
        let mut best: Option<(f64, Edit, u128, NodeId)> = None;
        let mut popped: Vec<(NodeId, (u128, u64, u64))> = Vec::new();
        for donor in b.most_loaded(DONORS, node) {
            let heap = ranges.get_mut(&donor).expect("every donor has ranges");
            for _ in 0..PER_DONOR {
                let Some(r) = heap.pop() else { break };
                popped.push((donor, r));
                let (width, _, end) = r;
                if width < 2 {
                    continue;
                }
                let take = want.min(width - 1);
                let a = end.wrapping_sub(width as u64);
                let edit = Edit::Insert { a, b: end, token: a.wrapping_add(take as u64), node };
                let delta = b.score_delta(edit);
                if best.as_ref().is_none_or(|(d, ..)| delta < *d) {
                    best = Some((delta, edit, take, donor));
                }
            }
        }
        let (_, edit, take, _) = best.ok_or(RingError::NoRoom)?;
        let Edit::Insert { b: chosen_end, token, .. } = edit else { unreachable!("joins only insert") };
        for (donor, (width, h, end)) in popped {
            let width = if end == chosen_end { width - take } else { width };
            ranges.get_mut(&donor).expect("popped from it").push((width, h, end));
        }
        b.apply(edit);
        out.push(token);
        need = need.saturating_sub(take);
    }
    out.sort_unstable();
    Ok(out)
}

/// New owners for the tokens of `node` when it leaves a ring of `tokens`
/// (sorted, unique, containing `node` and at least one other node).
pub(super) fn reassign_for_leaver(tokens: &[(u64, NodeId)], node: NodeId) -> Vec<(u64, NodeId)> {
    let mut weights = token_counts(tokens);
    weights.remove(&node);
    debug_assert!(!weights.is_empty());
    let mut b = Balancer::new(tokens, &weights);
    let mine: Vec<u64> = tokens.iter().filter(|&&(_, n)| n == node).map(|&(t, _)| t).collect();
    let mut out = Vec::with_capacity(mine.len());
    for token in mine {
        let mut best: Option<(f64, Edit, NodeId)> = None;
        for &to in weights.keys() {
            let edit = Edit::Reassign { token, from: node, to };
            let delta = b.score_delta(edit);
            if best.as_ref().is_none_or(|(d, ..)| delta < *d) {
                best = Some((delta, edit, to));
            }
        }
        let (_, edit, to) = best.expect("at least one node remains");
        b.apply(edit);
        out.push((token, to));
    }
    out
}

fn evenly_spaced(node: NodeId, vnodes: u32) -> Vec<u64> {
    let step = (RING_SIZE / vnodes as u128) as u64;
    let offset = xxh3_64(&node.0.to_le_bytes()) % step.max(1);
    let mut out: Vec<u64> = (0..vnodes as u64).map(|i| offset.wrapping_add(i.wrapping_mul(step))).collect();
    out.sort_unstable();
    out
}

fn token_counts(tokens: &[(u64, NodeId)]) -> BTreeMap<NodeId, f64> {
    let mut counts = BTreeMap::new();
    for &(_, n) in tokens {
        *counts.entry(n).or_insert(0.0) += 1.0;
    }
    counts
}

fn fraction(width: u128) -> f64 {
    width as f64 / RING_SIZE as f64
}

fn sq_dev(value: f64, target: f64) -> f64 {
    let d = value / target - 1.0;
    d * d
}

/// Adds `amount` to `node`'s entry of a small delta list.
fn bump(deltas: &mut Vec<(NodeId, f64, f64)>, node: NodeId, dp: f64, dr: f64) {
    match deltas.iter_mut().find(|(n, ..)| *n == node) {
        Some(d) => {
            d.1 += dp;
            d.2 += dr;
        }
        None => deltas.push((node, dp, dr)),
    }
}

impl Balancer {
    /// `weights`: the nodes to score and their weights (token counts).
    fn new(tokens: &[(u64, NodeId)], weights: &BTreeMap<NodeId, f64>) -> Self {
        let ring: BTreeMap<u64, NodeId> = tokens.iter().copied().collect();
        let total: f64 = weights.values().sum();
        let target = weights.iter().map(|(&n, &w)| (n, w / total)).collect();
        let nodes = weights.len();
        let mut b = Self {
            ring,
            target,
            primary: BTreeMap::new(),
            replica: BTreeMap::new(),
            rf_eff: BALANCE_RF.min(nodes) as f64,
            replicas_trivial: nodes <= BALANCE_RF,
        };
        let len = tokens.len();
        for i in 0..len {
            let (end, owner) = tokens[i];
            let width = fraction(range_width(tokens[(i + len - 1) % len].0, end));
            *b.primary.entry(owner).or_default() += width;
            if !b.replicas_trivial {
                for n in b.walk(end, None, None) {
                    *b.replica.entry(n).or_default() += width;
                }
            }
        }
        b
    }

    /// First `BALANCE_RF` distinct owners walking clockwise from `start` (an
    /// existing token) once around the ring, with `edit` applied, after `prefix`.
    fn walk(&self, start: u64, edit: Option<Edit>, prefix: Option<NodeId>) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = Vec::with_capacity(BALANCE_RF);
        let push = |n: NodeId, out: &mut Vec<NodeId>| {
            if !out.contains(&n) {
                out.push(n);
            }
            out.len() == BALANCE_RF
        };
        if let Some(p) = prefix {
            push(p, &mut out);
        }
        for (&t, &owner) in self.ring.range(start..).chain(self.ring.range(..start)) {
            let (own, extra) = match edit {
                Some(Edit::Reassign { token, to, .. }) if token == t => (to, None),
                Some(Edit::Insert { a, node, .. }) if a == t => (owner, Some(node)),
                _ => (owner, None),
            };
            if push(own, &mut out) {
                break;
            }
            if let Some(x) = extra {
                if push(x, &mut out) {
                    break;
                }
            }
        }
        out
    }

    fn prev(&self, token: u64) -> (u64, NodeId) {
        let (&t, &n) =
            self.ring.range(..token).next_back().or_else(|| self.ring.iter().next_back()).expect("non-empty");
        (t, n)
    }

    /// Per-node (primary, replicated) changes that `edit` would cause.
    fn deltas(&self, edit: Edit) -> Vec<(NodeId, f64, f64)> {
        let mut deltas = Vec::new();
        // The range at the edit point, and the token where walking backwards starts.
        let (back_start, mid_width, mid_old, mid_new) = match edit {
            Edit::Insert { a, b, token, node } => {
                let w = fraction(token.wrapping_sub(a) as u128);
                let owner_b = self.ring[&b];
                bump(&mut deltas, owner_b, -w, 0.0);
                bump(&mut deltas, node, w, 0.0);
                let old = if self.replicas_trivial { Vec::new() } else { self.walk(b, None, None) };
                let new = if self.replicas_trivial { Vec::new() } else { self.walk(b, Some(edit), Some(node)) };
                (a, w, old, new)
            }
            Edit::Reassign { token, from, to } => {
                let (p, _) = self.prev(token);
                let w = fraction(range_width(p, token));
                bump(&mut deltas, from, -w, 0.0);
                bump(&mut deltas, to, w, 0.0);
                let old = if self.replicas_trivial { Vec::new() } else { self.walk(token, None, None) };
                let new = if self.replicas_trivial { Vec::new() } else { self.walk(token, Some(edit), None) };
                (p, w, old, new)
            }
        };
        if self.replicas_trivial {
            return deltas;
        }
        for &n in &old_minus(&mid_old, &mid_new) {
            bump(&mut deltas, n, 0.0, -mid_width);
        }
        for &n in &old_minus(&mid_new, &mid_old) {
            bump(&mut deltas, n, 0.0, mid_width);
        }
        // Ranges before the edit point whose walk reaches it.
        let mut t = back_start;
        let mut seen: Vec<NodeId> = Vec::new();
        for _ in 0..self.ring.len() {
            let owner = self.ring[&t];
            let owner = match edit {
                Edit::Reassign { token, to, .. } if token == t => to,
                _ => owner,
            };
            if !seen.contains(&owner) {
                seen.push(owner);
            }
            if seen.len() >= BALANCE_RF {
                break; // this walk (and every earlier one) fills up before the edit
            }
            let (p, _) = self.prev(t);
            let w = fraction(range_width(p, t));
            let old = self.walk(t, None, None);
            let new = self.walk(t, Some(edit), None);
            if old != new {
                for &n in &old_minus(&old, &new) {
                    bump(&mut deltas, n, 0.0, -w);
                }
                for &n in &old_minus(&new, &old) {
                    bump(&mut deltas, n, 0.0, w);
                }
            }
            t = p;
        }
        deltas
    }

    /// Up to `count` scored nodes other than `except`, most over their primary
    /// target first (ties: lowest id).
    fn most_loaded(&self, count: usize, except: NodeId) -> Vec<NodeId> {
        let mut nodes: Vec<(f64, NodeId)> = self
            .target
            .iter()
            .filter(|(&n, _)| n != except)
            .map(|(&n, &t)| (self.primary.get(&n).copied().unwrap_or(0.0) / t, n))
            .collect();
        nodes.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        nodes.into_iter().take(count).map(|(_, n)| n).collect()
    }

    fn score_delta(&self, edit: Edit) -> f64 {
        let mut delta = 0.0;
        for (n, dp, dr) in self.deltas(edit) {
            let Some(&target) = self.target.get(&n) else { continue };
            let p = self.primary.get(&n).copied().unwrap_or(0.0);
            delta += sq_dev(p + dp, target) - sq_dev(p, target);
            if !self.replicas_trivial {
                let r = self.replica.get(&n).copied().unwrap_or(0.0);
                let rt = target * self.rf_eff;
                delta += sq_dev(r + dr, rt) - sq_dev(r, rt);
            }
        }
        delta
    }

    fn apply(&mut self, edit: Edit) {
        for (n, dp, dr) in self.deltas(edit) {
            *self.primary.entry(n).or_default() += dp;
            *self.replica.entry(n).or_default() += dr;
        }
        match edit {
            Edit::Insert { token, node, .. } => {
                self.ring.insert(token, node);
            }
            Edit::Reassign { token, to, .. } => {
                self.ring.insert(token, to);
            }
        }
    }
}

/// Elements of `a` not in `b`.
fn old_minus(a: &[NodeId], b: &[NodeId]) -> Vec<NodeId> {
    a.iter().copied().filter(|n| !b.contains(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_node_is_evenly_spaced() {
        let t = tokens_for_joiner(&[], NodeId(7), 4).unwrap();
        assert_eq!(t.len(), 4);
        let gaps: Vec<u64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| g == 1 << 62), "{gaps:?}");
    }

    #[test]
    fn second_node_takes_half_from_a_single_token() {
        let tokens = vec![(1000u64, NodeId(0))];
        let t = tokens_for_joiner(&tokens, NodeId(1), 1).unwrap();
        // Takes half of the ring. (The whole-ring range is treated as 2^64 - 1
        // wide, starting at 1001.)
        assert_eq!(t, vec![1001u64.wrapping_add(1 << 63)]);
    }

    #[test]
    fn crowded_ring_splits_the_wide_range() {
        // 3 ranges of width 1 (unsplittable) and one of width 2^64 - 3.
        let tokens: Vec<(u64, NodeId)> = (0..4u64).map(|i| (i, NodeId(0))).collect();
        let t = tokens_for_joiner(&tokens, NodeId(1), 3).unwrap();
        assert_eq!(t.len(), 3);
        assert!(t.iter().all(|&x| x > 3));
    }

    #[test]
    fn score_deltas_match_recomputed_ownership() {
        // The local delta of an edit must equal the change of the full recount.
        let ring = crate::ring::Ring::build(&(0..6).map(NodeId).collect::<Vec<_>>(), 16).unwrap();
        let tokens = ring.tokens().to_vec();
        let mut weights = token_counts(&tokens);
        weights.insert(NodeId(9), 16.0);
        let b = Balancer::new(&tokens, &weights);
        let (a, b_tok) = (tokens[3].0, tokens[4].0);
        let edit = Edit::Insert { a, b: b_tok, token: a + (b_tok - a) / 3, node: NodeId(9) };
        let deltas = b.deltas(edit);
        let mut after = tokens.clone();
        after.push((a + (b_tok - a) / 3, NodeId(9)));
        let after = crate::ring::Ring::from_tokens(after).unwrap();
        let (p0, r0) = (ring.ownership(1), ring.ownership(BALANCE_RF));
        let (p1, r1) = (after.ownership(1), after.ownership(BALANCE_RF));
        for n in (0..6).map(NodeId).chain([NodeId(9)]) {
            let (dp, dr) = deltas.iter().find(|d| d.0 == n).map(|d| (d.1, d.2)).unwrap_or((0.0, 0.0));
            let get = |m: &BTreeMap<NodeId, f64>| m.get(&n).copied().unwrap_or(0.0);
            assert!((get(&p1) - get(&p0) - dp).abs() < 1e-9, "primary {n}");
            assert!((get(&r1) - get(&r0) - dr).abs() < 1e-9, "replica {n}");
        }
        // Same for a reassignment.
        let t = tokens[5].0;
        let from = tokens[5].1;
        let to = NodeId((from.0 + 2) % 6);
        let deltas = b.deltas(Edit::Reassign { token: t, from, to });
        let moved: Vec<(u64, NodeId)> = tokens.iter().map(|&(x, n)| if x == t { (x, to) } else { (x, n) }).collect();
        let after = crate::ring::Ring::from_tokens(moved).unwrap();
        let (p1, r1) = (after.ownership(1), after.ownership(BALANCE_RF));
        for n in (0..6).map(NodeId) {
            let (dp, dr) = deltas.iter().find(|d| d.0 == n).map(|d| (d.1, d.2)).unwrap_or((0.0, 0.0));
            let get = |m: &BTreeMap<NodeId, f64>| m.get(&n).copied().unwrap_or(0.0);
            assert!((get(&p1) - get(&p0) - dp).abs() < 1e-9, "primary {n}");
            assert!((get(&r1) - get(&r0) - dr).abs() < 1e-9, "replica {n}");
        }
    }
}
