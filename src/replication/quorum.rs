//! Who replicates a key and how many of them must answer.
//!
//! A key's replicas are the first `n` distinct nodes of its preference list
//! (`Ring::preference_list(token(partition_key), n)`). On a cluster smaller
//! than `n` the list is shorter: `n` is clamped to the node count and the
//! required count to `n`. Pure: the ring and the liveness view are inputs.

use crate::ring::{self, NodeId, Ring};

/// A per-request consistency level (overrides the keyspace's R or W).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// One replica.
    One,
    /// A majority: `n / 2 + 1`.
    Quorum,
    /// Every replica.
    All,
}

impl Consistency {
    /// Replies required out of `n` replicas (at least 1 when `n >= 1`).
    pub fn required(self, n: usize) -> usize {
        match self {
            Self::One => n.min(1),
            Self::Quorum => n / 2 + usize::from(n > 0),
            Self::All => n,
        }
    }
}

/// Read or write (which of the keyspace's R and W applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Read,
    Write,
}

/// A keyspace's replication factor and default read/write quorums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationConfig {
    pub n: usize,
    pub r: usize,
    pub w: usize,
}

impl Default for ReplicationConfig {
    /// N = 3, R = W = 2.
    fn default() -> Self {
        Self { n: 3, r: 2, w: 2 }
    }
}

/// The replicas of one request and how many must answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Preference-list order; the first is the natural coordinator of a write.
    pub replicas: Vec<NodeId>,
    /// In `1..=replicas.len()` (0 only when there is no replica).
    pub required: usize,
}

impl ReplicationConfig {
    /// The replicas of `partition_key` and the required count: the level's
    /// count if given, else R or W; clamped to the replicas the ring has.
    pub fn plan(&self, ring: &Ring, partition_key: &[u8], op: OpKind, level: Option<Consistency>) -> Plan {
        let replicas = ring.preference_list(ring::token(partition_key), self.n);
        let n = replicas.len();
        let default = match op {
            OpKind::Read => self.r,
            OpKind::Write => self.w,
        };
        let required = level.map_or(default, |l| l.required(n)).clamp(n.min(1), n);
        Plan { replicas, required }
    }
}

impl Plan {
    /// Moves the replicas `is_up` reports down to the end (order otherwise
    /// kept), so that a write received by a non-replica is forwarded to the
    /// first *live* replica (`Coordinator::put` forwards to `replicas[0]`).
    pub fn live_first(&mut self, is_up: impl Fn(NodeId) -> bool) {
        let (mut up, down): (Vec<_>, Vec<_>) = self.replicas.iter().partition(|&&n| is_up(n));
        up.extend(down);
        self.replicas = up;
    }

    /// Whether `node` is one of the replicas.
    pub fn is_replica(&self, node: NodeId) -> bool {
        self.replicas.contains(&node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!([1, 2, 3].map(|n| Consistency::One.required(n)), [1, 1, 1]);
        assert_eq!([1, 2, 3, 4, 5].map(|n| Consistency::Quorum.required(n)), [1, 2, 2, 3, 3]);
        assert_eq!([1, 2, 3].map(|n| Consistency::All.required(n)), [1, 2, 3]);
        assert_eq!(Consistency::Quorum.required(0), 0);
    }

    #[test]
    fn plan_uses_defaults_and_overrides() {
        let ring = Ring::build(&(1..=5).map(NodeId).collect::<Vec<_>>(), 16).unwrap();
        let cfg = ReplicationConfig::default();
        let p = cfg.plan(&ring, b"k", OpKind::Read, None);
        assert_eq!(p.replicas, ring.preference_list(ring::token(b"k"), 3));
        assert_eq!(p.required, 2);
        assert_eq!(cfg.plan(&ring, b"k", OpKind::Write, Some(Consistency::All)).required, 3);
        assert_eq!(cfg.plan(&ring, b"k", OpKind::Write, Some(Consistency::One)).required, 1);
        let cfg5 = ReplicationConfig { n: 5, r: 1, w: 4 };
        assert_eq!(cfg5.plan(&ring, b"k", OpKind::Write, None).required, 4);
        assert_eq!(cfg5.plan(&ring, b"k", OpKind::Read, Some(Consistency::Quorum)).required, 3);
    }

    #[test]
    fn small_cluster_clamps_n_and_quorums() {
        let cfg = ReplicationConfig::default();
        let one = Ring::build(&[NodeId(7)], 8).unwrap();
        let p = cfg.plan(&one, b"k", OpKind::Write, None);
        assert_eq!((p.replicas.clone(), p.required), (vec![NodeId(7)], 1));
        assert_eq!(cfg.plan(&one, b"k", OpKind::Read, Some(Consistency::All)).required, 1);
        let two = Ring::build(&[NodeId(1), NodeId(2)], 8).unwrap();
        let p = cfg.plan(&two, b"k", OpKind::Read, None);
        assert_eq!((p.replicas.len(), p.required), (2, 2));
        assert_eq!(cfg.plan(&two, b"k", OpKind::Read, Some(Consistency::Quorum)).required, 2);
        assert_eq!(cfg.plan(&two, b"k", OpKind::Read, Some(Consistency::One)).required, 1);
        let p = cfg.plan(&Ring::new(), b"k", OpKind::Read, None);
        assert_eq!((p.replicas.len(), p.required), (0, 0));
    }

    #[test]
    fn live_first_keeps_order() {
        let mut p = Plan { replicas: vec![NodeId(3), NodeId(1), NodeId(2)], required: 2 };
        p.live_first(|n| n != NodeId(3));
        assert_eq!(p.replicas, vec![NodeId(1), NodeId(2), NodeId(3)]);
        assert!(p.is_replica(NodeId(3)) && !p.is_replica(NodeId(4)));
    }
}
