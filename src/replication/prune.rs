//! Bounding the clock: Riak's `small_vclock` / `big_vclock` / `young_vclock` /
//! `old_vclock`, simplified.
//!
//! Every node that ever coordinated a write on a key leaves an entry in its
//! clock. Pruning drops entries, oldest (by the entry's timestamp) first:
//! - never an entry of a node that coordinated a live sibling (the sibling's
//!   dot must stay covered);
//! - while there are more than `big` entries, regardless of age (hard cap);
//! - then, while there are more than `small`: stop at the first entry younger
//!   than `young_ms`; drop it if it is older than `old_ms`; otherwise stop.
//!
//! The trade-off: a dropped entry forgets that the node's old writes were
//! superseded. If a stale replica later sends one of them, it comes back as a
//! *false sibling* (a resolved conflict resurfaces), never the other way round:
//! pruning only makes the set claim to know less, so it can only keep more
//! siblings, never drop a write. The dot-reuse hazard (a node whose own entry
//! was pruned issuing an old counter again) is closed by
//! [`SiblingSet::update_with_floor`]; see CAUSALITY.md.
//!
//! Prune at the coordinator after `update`, never inside `merge` (merge must
//! stay a join: idempotent, commutative, associative).

use super::siblings::SiblingSet;

/// Clock-pruning thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneConfig {
    /// Never prune at or below this many entries.
    pub small: usize,
    /// Always prune down to this many entries (except protected ones).
    pub big: usize,
    /// Entries younger than this are kept (unless over `big`).
    pub young_ms: u64,
    /// Entries older than this are dropped while over `small`.
    pub old_ms: u64,
}

impl Default for PruneConfig {
    fn default() -> Self {
        Self { small: 10, big: 32, young_ms: 20_000, old_ms: 86_400_000 }
    }
}

impl SiblingSet {
    /// Drops old clock entries per `cfg`; returns how many were dropped.
    pub fn prune(&mut self, now_ms: u64, cfg: &PruneConfig) -> usize {
        debug_assert!(cfg.small <= cfg.big);
        let protected = self.sibling_nodes();
        let clock = self.clock_mut();
        if clock.len() <= cfg.small {
            return 0;
        }
        let mut candidates: Vec<_> = clock.iter().filter(|(n, _)| !protected.contains(n)).collect();
        candidates.sort_by_key(|&(n, e)| (e.timestamp_ms, n));
        let mut dropped = 0;
        for (node, entry) in candidates {
            let len = clock.len();
            let age = now_ms.saturating_sub(entry.timestamp_ms);
            let drop = len > cfg.big || (len > cfg.small && age >= cfg.young_ms && age > cfg.old_ms);
            if !drop {
                break;
            }
            clock.remove(node);
            dropped += 1;
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::VersionVector;
    use crate::ring::NodeId;

    fn set_with_writers(n: u32, ts_step: u64) -> SiblingSet {
        // Each node writes with the previous context: one sibling, n entries.
        let mut s = SiblingSet::new();
        for i in 0..n {
            let ctx = s.context();
            s.update(&ctx, Some(vec![i as u8]), NodeId(i), u64::from(i) * ts_step).unwrap();
        }
        s
    }

    #[test]
    fn small_clocks_are_untouched() {
        let mut s = set_with_writers(10, 0);
        assert_eq!(s.prune(u64::MAX, &PruneConfig::default()), 0);
        assert_eq!(s.context().len(), 10);
    }

    #[test]
    fn big_is_a_hard_cap_and_live_writers_are_kept() {
        let mut s = set_with_writers(40, 1);
        // All young: only the hard cap applies.
        assert_eq!(s.prune(40, &PruneConfig::default()), 8);
        let ctx = s.context();
        assert_eq!(ctx.len(), 32);
        // Oldest went first; the writer of the live sibling (node 39) stays.
        assert_eq!(ctx.get(NodeId(0)), 0);
        assert_eq!(ctx.get(NodeId(39)), 1);
        assert_eq!(s.values(), vec![&[39u8][..]]);
    }

    #[test]
    fn old_entries_go_down_to_small() {
        let day = 86_400_000;
        let mut s = set_with_writers(20, 1);
        assert_eq!(s.prune(2 * day, &PruneConfig::default()), 10);
        assert_eq!(s.context().len(), 10);
        // Middle-aged entries (older than young, younger than old) stay.
        let mut s = set_with_writers(20, 1);
        assert_eq!(s.prune(60_000, &PruneConfig::default()), 0);
    }

    #[test]
    fn pruning_creates_false_siblings_not_lost_writes() {
        // Replica A and B both have write w1 (n0); A supersedes it with w2 (n1).
        let mut a = SiblingSet::new();
        a.update(&VersionVector::new(), Some(b"w1".to_vec()), NodeId(0), 0).unwrap();
        let b = a.clone();
        let ctx = a.context();
        a.update(&ctx, Some(b"w2".to_vec()), NodeId(1), 1).unwrap();
        // A forgets n0's entry (aggressive config).
        let cfg = PruneConfig { small: 0, big: 0, young_ms: 0, old_ms: 0 };
        assert_eq!(a.prune(10, &cfg), 1);
        // Stale B sends w1 again: it resurfaces as a sibling of w2 (false sibling).
        a.merge(&b);
        assert_eq!(a.values(), vec![&b"w1"[..], &b"w2"[..]]);
    }
}
