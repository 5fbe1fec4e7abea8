//! The quorum coordinator of one client request, sans-IO (quinn-proto style).
//!
//! Inputs: [`Coordinator::handle_reply`] (a [`ReplicaReply`] from a replica)
//! and [`Coordinator::handle_timeout`], each with `now_ms`. Outputs:
//! [`poll_transmit`](Coordinator::poll_transmit) (requests to send, including
//! to this node itself), [`poll_timeout`](Coordinator::poll_timeout) (when to
//! call `handle_timeout`), [`poll_result`](Coordinator::poll_result) (the
//! client's answer, once). No I/O, no clock, no async.
//!
//! **PUT** (only a replica coordinates: the dot is named after the node whose
//! stored copy the update was applied to):
//! 1. not a replica → result `Forward(replicas[0])`, nothing sent;
//! 2. `Update { ctx, value }` to *this node* (the local read-modify-write,
//!    executed by the driver through [`Replica`](super::Replica) like any
//!    other request) → `Updated { dot, set }`: one ack;
//! 3. `Merge { set }` to the other replicas; each `Merged` is an ack;
//! 4. W acks → `Written { dot, context }`; deadline, or too many `Failed`
//!    replies to ever reach W → `QuorumNotReached { got, needed }`; a local
//!    `Failed` → `Rejected(failure)`. A failed write may still have been
//!    applied by some replicas (no rollback, as in Dynamo).
//!
//! **GET**: `Get` to every replica (this node included if it is one). After R
//! `Got` replies the result is their merge. The coordinator keeps listening
//! until every replica answered or the deadline, then read-repairs: `Merge
//! { merged }` to every replica whose reply does not descend the merge of
//! all replies, and to every replica that did not answer (unless the merge is
//! empty). Repair is fire and forget (its `Merged` replies are ignored).
//!
//! The deadline is absolute (`now_ms + timeout_ms` at creation). A result is
//! never produced after it: a reply handled at or past the deadline first
//! times the coordinator out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::ring::NodeId;

use super::messages::{ReplicaFailure, ReplicaReply, ReplicaRequest};
use super::{Dot, SiblingSet, VersionVector};

/// What every coordinator needs to know about its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Request id, unique among this node's live coordinators; carried by
    /// every message so the driver can route replies.
    pub id: u64,
    pub key: Vec<u8>,
    /// The key's replicas (`Plan::replicas`), preference-list order.
    pub replicas: Vec<NodeId>,
    /// The node running this coordinator.
    pub me: NodeId,
    /// R or W (`Plan::required`); clamped to `1..=replicas.len()`.
    pub required: usize,
    pub now_ms: u64,
    pub timeout_ms: u64,
}

/// A successful result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// GET: the merge of at least R replies. `set.values()` are the live
    /// siblings, `set.context()` the causal context to hand back to the client
    /// (also when `set.is_deleted()`: not found, but a later write with this
    /// context supersedes the tombstones).
    Read(SiblingSet),
    /// PUT/DELETE acknowledged by W replicas: the write's dot and the context
    /// of the resulting set at the coordinator.
    Written { dot: Dot, context: VersionVector },
    /// PUT received by a node that is not a replica: the driver sends the
    /// whole client request to this node, which coordinates it. A request
    /// that arrived forwarded must not be forwarded again (ring views
    /// disagree: fail it and let the client retry).
    Forward(NodeId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuorumError {
    #[error("quorum not reached: {got} of {needed} replicas answered")]
    QuorumNotReached { got: usize, needed: usize },
    #[error("the coordinating replica refused the write: {0:?}")]
    Rejected(ReplicaFailure),
    #[error("no replica for this key")]
    NoReplicas,
}

#[derive(Debug)]
enum Op {
    Get {
        replies: BTreeMap<NodeId, SiblingSet>,
        failed: BTreeSet<NodeId>,
    },
    Put {
        /// `None` until the local update answered.
        written: Option<(Dot, VersionVector)>,
        acks: BTreeSet<NodeId>,
        failed: BTreeSet<NodeId>,
    },
}

/// One client request's coordinator. See the module docs.
#[derive(Debug)]
pub struct Coordinator {
    id: u64,
    key: Vec<u8>,
    replicas: Vec<NodeId>,
    me: NodeId,
    required: usize,
    deadline: u64,
    op: Op,
    outbox: VecDeque<(NodeId, ReplicaRequest)>,
    result: Option<Result<Outcome, QuorumError>>,
    /// A result was produced (it may have been polled already).
    answered: bool,
    /// No more input is expected (repair queued or nothing to wait for).
    finished: bool,
}

impl Coordinator {
    fn new(p: Params, op: Op) -> Self {
        let mut replicas = p.replicas;
        let mut seen = BTreeSet::new();
        replicas.retain(|n| seen.insert(*n));
        let required = p.required.clamp(replicas.len().min(1), replicas.len());
        let mut c = Self {
            id: p.id,
            key: p.key,
            replicas,
            me: p.me,
            required,
            deadline: p.now_ms.saturating_add(p.timeout_ms),
            op,
            outbox: VecDeque::new(),
            result: None,
            answered: false,
            finished: false,
        };
        if c.replicas.is_empty() {
            c.answer(Err(QuorumError::NoReplicas));
            c.finished = true;
        }
        c
    }

    /// A GET coordinator: queues `Get` to every replica.
    pub fn get(p: Params) -> Self {
        let mut c = Self::new(p, Op::Get { replies: BTreeMap::new(), failed: BTreeSet::new() });
        if !c.finished {
            for &n in &c.replicas {
                c.outbox.push_back((n, ReplicaRequest::Get { id: c.id, key: c.key.clone() }));
            }
        }
        c
    }

    /// A PUT (`value: Some`) or DELETE (`value: None`) coordinator with the
    /// client's context (empty for a blind write). Queues the local `Update`
    /// to `me`, or answers `Forward` if `me` is not a replica.
    pub fn put(p: Params, value: Option<Vec<u8>>, ctx: VersionVector) -> Self {
        let op = Op::Put { written: None, acks: BTreeSet::new(), failed: BTreeSet::new() };
        let mut c = Self::new(p, op);
        if c.finished {
            return c;
        }
        if !c.replicas.contains(&c.me) {
            c.answer(Ok(Outcome::Forward(c.replicas[0])));
            c.finished = true;
            return c;
        }
        c.outbox.push_back((c.me, ReplicaRequest::Update { id: c.id, key: c.key.clone(), ctx, value }));
        c
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The absolute deadline (ms).
    pub fn deadline(&self) -> u64 {
        self.deadline
    }

    /// R or W after clamping.
    pub fn required(&self) -> usize {
        self.required
    }

    /// A reply from `from`. Replies from non-replicas, of the wrong kind or
    /// id, and duplicates are ignored. At or past the deadline the
    /// coordinator times out instead.
    pub fn handle_reply(&mut self, from: NodeId, reply: ReplicaReply, now_ms: u64) {
        if self.finished || reply.id() != self.id || !self.replicas.contains(&from) {
            return;
        }
        if now_ms >= self.deadline {
            self.handle_timeout(now_ms);
            return;
        }
        let (me, id, required) = (self.me, self.id, self.required);
        match &mut self.op {
            Op::Get { replies, failed } => {
                if replies.contains_key(&from) || failed.contains(&from) {
                    return;
                }
                match reply {
                    ReplicaReply::Got { set, .. } => {
                        replies.insert(from, set);
                    }
                    ReplicaReply::Failed { .. } => {
                        failed.insert(from);
                    }
                    _ => return,
                }
                self.progress_get();
            }
            Op::Put { written, acks, failed } => {
                if acks.contains(&from) || failed.contains(&from) {
                    return;
                }
                match (reply, written.is_some()) {
                    (ReplicaReply::Updated { dot, set, .. }, false) if from == me => {
                        *written = Some((dot, set.context()));
                        acks.insert(me);
                        for &n in self.replicas.iter().filter(|&&n| n != me) {
                            let key = self.key.clone();
                            self.outbox.push_back((n, ReplicaRequest::Merge { id, key, set: set.clone() }));
                        }
                    }
                    (ReplicaReply::Failed { failure, .. }, false) if from == me => {
                        self.answer(Err(QuorumError::Rejected(failure)));
                        self.finished = true;
                        return;
                    }
                    (ReplicaReply::Merged { .. }, true) if from != me => {
                        acks.insert(from);
                    }
                    (ReplicaReply::Failed { .. }, true) if from != me => {
                        failed.insert(from);
                    }
                    _ => return,
                }
                let (got, failed_n) = (acks.len(), failed.len());
                if got >= required {
                    let (dot, context) = written.clone().expect("acks include the local update");
                    self.answer(Ok(Outcome::Written { dot, context }));
                    self.finished = true;
                } else if self.replicas.len() - failed_n < required {
                    self.answer(Err(QuorumError::QuorumNotReached { got, needed: required }));
                    self.finished = true;
                }
            }
        }
    }

    fn progress_get(&mut self) {
        let Op::Get { replies, failed } = &self.op else { return };
        let (got, failed_n, n) = (replies.len(), failed.len(), self.replicas.len());
        if !self.answered {
            if got >= self.required {
                let merged = merge_all(replies.values());
                self.answer(Ok(Outcome::Read(merged)));
            } else if n - failed_n < self.required {
                self.answer(Err(QuorumError::QuorumNotReached { got, needed: self.required }));
            }
        }
        if got + failed_n == n {
            self.repair();
        }
    }

    /// Queues read repair and finishes the GET.
    fn repair(&mut self) {
        let Op::Get { replies, .. } = &self.op else { return };
        self.finished = true;
        let merged = merge_all(replies.values());
        for &n in &self.replicas {
            let stale = match replies.get(&n) {
                Some(s) => !s.descends(&merged),
                None => !merged.context_ref().is_empty(),
            };
            if stale {
                self.outbox
                    .push_back((n, ReplicaRequest::Merge { id: self.id, key: self.key.clone(), set: merged.clone() }));
            }
        }
    }

    /// Call when `now_ms >= poll_timeout()`: an unanswered request fails with
    /// `QuorumNotReached`; a GET then read-repairs with what it has.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.finished || now_ms < self.deadline {
            return;
        }
        let (got, needed) = match &self.op {
            Op::Get { replies, .. } => (replies.len(), self.required),
            Op::Put { acks, .. } => (acks.len(), self.required),
        };
        if !self.answered {
            self.answer(Err(QuorumError::QuorumNotReached { got, needed }));
        }
        match self.op {
            Op::Get { .. } => self.repair(),
            Op::Put { .. } => self.finished = true,
        }
    }

    fn answer(&mut self, r: Result<Outcome, QuorumError>) {
        debug_assert!(!self.answered);
        self.answered = true;
        self.result = Some(r);
    }

    /// The next request to send: `(destination, request)`. The destination
    /// may be this node (`me`): the driver applies it to local storage and
    /// feeds the reply back through `handle_reply(me, ..)`.
    pub fn poll_transmit(&mut self) -> Option<(NodeId, ReplicaRequest)> {
        self.outbox.pop_front()
    }

    /// When to call `handle_timeout` (None once nothing is awaited).
    pub fn poll_timeout(&self) -> Option<u64> {
        (!self.finished).then_some(self.deadline)
    }

    /// The client's answer, returned once.
    pub fn poll_result(&mut self) -> Option<Result<Outcome, QuorumError>> {
        self.result.take()
    }

    /// A result was produced (maybe already polled).
    pub fn is_answered(&self) -> bool {
        self.answered
    }

    /// Result polled, repair queued and polled: the driver may drop it.
    pub fn is_done(&self) -> bool {
        self.finished && self.answered && self.result.is_none() && self.outbox.is_empty()
    }
}

fn merge_all<'a>(sets: impl Iterator<Item = &'a SiblingSet>) -> SiblingSet {
    let mut out = SiblingSet::new();
    for s in sets {
        out.merge(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::quorum::{Consistency, OpKind, ReplicationConfig};
    use crate::replication::replica::{DotCounter, MemStore, Replica};
    use crate::ring::Ring;

    const A: NodeId = NodeId(1);
    const B: NodeId = NodeId(2);
    const C: NodeId = NodeId(3);

    fn params(required: usize) -> Params {
        Params { id: 42, key: b"k".to_vec(), replicas: vec![A, B, C], me: A, required, now_ms: 1000, timeout_ms: 100 }
    }

    fn drain(c: &mut Coordinator) -> Vec<(NodeId, ReplicaRequest)> {
        std::iter::from_fn(|| c.poll_transmit()).collect()
    }

    fn set(writes: &[(NodeId, &str)]) -> SiblingSet {
        let mut s = SiblingSet::new();
        for &(n, v) in writes {
            let ctx = s.context();
            s.update(&ctx, Some(v.as_bytes().to_vec()), n, 0).unwrap();
        }
        s
    }

    /// Runs the local update step the way a driver does.
    fn local_update(c: &mut Coordinator, replica: &mut Replica, store: &mut MemStore) -> SiblingSet {
        let out = drain(c);
        assert_eq!(out.len(), 1);
        let (to, req) = out.into_iter().next().unwrap();
        assert_eq!(to, A);
        assert!(matches!(req, ReplicaRequest::Update { id: 42, .. }));
        let reply = replica.apply(store, &req, 1001);
        let ReplicaReply::Updated { set, .. } = &reply else { panic!("{reply:?}") };
        let set = set.clone();
        c.handle_reply(A, reply, 1001);
        set
    }

    #[test]
    fn put_succeeds_after_w_acks_counting_its_own() {
        let mut store = MemStore::default();
        let mut replica = Replica::new(A, DotCounter::default());
        let mut c = Coordinator::put(params(2), Some(b"v".to_vec()), VersionVector::new());
        let s = local_update(&mut c, &mut replica, &mut store);
        let out = drain(&mut c);
        assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), vec![B, C]);
        assert!(out.iter().all(|(_, r)| *r == ReplicaRequest::Merge { id: 42, key: b"k".to_vec(), set: s.clone() }));
        assert_eq!(c.poll_result(), None);
        // Wrong id, non-replica and a duplicate of our own ack are ignored.
        c.handle_reply(B, ReplicaReply::Merged { id: 41 }, 1002);
        c.handle_reply(NodeId(9), ReplicaReply::Merged { id: 42 }, 1002);
        c.handle_reply(A, ReplicaReply::Merged { id: 42 }, 1002);
        assert!(!c.is_answered());
        c.handle_reply(C, ReplicaReply::Merged { id: 42 }, 1003);
        let Some(Ok(Outcome::Written { dot, context })) = c.poll_result() else { panic!() };
        assert_eq!(dot, Dot { node: A, counter: 1 });
        assert_eq!(context, s.context());
        assert!(c.is_done() && c.poll_timeout().is_none() && c.poll_result().is_none());
    }

    #[test]
    fn put_times_out_with_quorum_not_reached() {
        let mut c = Coordinator::put(params(3), Some(b"v".to_vec()), VersionVector::new());
        let mut store = MemStore::default();
        local_update(&mut c, &mut Replica::new(A, DotCounter::default()), &mut store);
        drain(&mut c);
        c.handle_reply(B, ReplicaReply::Merged { id: 42 }, 1050);
        assert_eq!(c.poll_timeout(), Some(1100));
        c.handle_timeout(1099);
        assert!(!c.is_answered());
        c.handle_timeout(1100);
        assert_eq!(c.poll_result(), Some(Err(QuorumError::QuorumNotReached { got: 2, needed: 3 })));
        assert!(c.is_done());
        // Nothing after the deadline.
        c.handle_reply(C, ReplicaReply::Merged { id: 42 }, 1101);
        assert_eq!(c.poll_result(), None);
    }

    #[test]
    fn put_without_local_ack_reports_zero_and_late_reply_times_out() {
        let mut c = Coordinator::put(params(2), None, VersionVector::new());
        drain(&mut c);
        // The local reply arrives exactly at the deadline: too late.
        c.handle_reply(A, ReplicaReply::Updated { id: 42, dot: Dot { node: A, counter: 1 }, set: set(&[]) }, 1100);
        assert_eq!(c.poll_result(), Some(Err(QuorumError::QuorumNotReached { got: 0, needed: 2 })));
        assert!(c.is_done() && drain(&mut c).is_empty());
    }

    #[test]
    fn put_fails_early_when_quorum_is_impossible_or_rejected() {
        let mut c = Coordinator::put(params(3), Some(b"v".to_vec()), VersionVector::new());
        let mut store = MemStore::default();
        local_update(&mut c, &mut Replica::new(A, DotCounter::default()), &mut store);
        c.handle_reply(B, ReplicaReply::Failed { id: 42, failure: ReplicaFailure::TooLarge }, 1010);
        assert_eq!(c.poll_result(), Some(Err(QuorumError::QuorumNotReached { got: 1, needed: 3 })));
        let mut c = Coordinator::put(params(2), Some(b"v".to_vec()), VersionVector::new());
        drain(&mut c);
        c.handle_reply(A, ReplicaReply::Failed { id: 42, failure: ReplicaFailure::TooLarge }, 1010);
        assert_eq!(c.poll_result(), Some(Err(QuorumError::Rejected(ReplicaFailure::TooLarge))));
        assert!(c.is_done());
    }

    #[test]
    fn put_forwards_when_not_a_replica() {
        let p = Params { me: NodeId(9), ..params(2) };
        let mut c = Coordinator::put(p, Some(b"v".to_vec()), VersionVector::new());
        assert!(drain(&mut c).is_empty());
        assert_eq!(c.poll_result(), Some(Ok(Outcome::Forward(A))));
        assert!(c.is_done() && c.poll_timeout().is_none());
        // A GET on a non-replica is coordinated there.
        let mut g = Coordinator::get(Params { me: NodeId(9), ..params(2) });
        assert_eq!(drain(&mut g).len(), 3);
    }

    #[test]
    fn get_answers_after_r_and_repairs_exactly_the_stale() {
        let mut c = Coordinator::get(params(2));
        let out = drain(&mut c);
        assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), vec![A, B, C]);
        assert!(out.iter().all(|(_, r)| *r == ReplicaRequest::Get { id: 42, key: b"k".to_vec() }));
        let old = set(&[(A, "v1")]);
        let mut new = old.clone();
        let ctx = new.context();
        new.update(&ctx, Some(b"v2".to_vec()), B, 5).unwrap();
        c.handle_reply(A, ReplicaReply::Got { id: 42, set: new.clone() }, 1001);
        assert_eq!(c.poll_result(), None);
        c.handle_reply(B, ReplicaReply::Got { id: 42, set: new.clone() }, 1002);
        assert_eq!(c.poll_result(), Some(Ok(Outcome::Read(new.clone()))));
        // Still listening for C; no repair yet (A and B agree).
        assert!(drain(&mut c).is_empty() && !c.is_done() && c.poll_timeout() == Some(1100));
        c.handle_reply(C, ReplicaReply::Got { id: 42, set: old }, 1003);
        let repair = drain(&mut c);
        assert_eq!(repair, vec![(C, ReplicaRequest::Merge { id: 42, key: b"k".to_vec(), set: new })]);
        assert!(c.is_done());
    }

    #[test]
    fn get_repairs_siblings_everywhere_and_missing_replicas_on_timeout() {
        let mut c = Coordinator::get(params(2));
        drain(&mut c);
        let a = set(&[(A, "a")]);
        let b = set(&[(B, "b")]);
        c.handle_reply(A, ReplicaReply::Got { id: 42, set: a.clone() }, 1001);
        c.handle_reply(B, ReplicaReply::Got { id: 42, set: b.clone() }, 1002);
        let Some(Ok(Outcome::Read(merged))) = c.poll_result() else { panic!() };
        assert_eq!(merged.values(), vec![&b"a"[..], &b"b"[..]]);
        c.handle_timeout(1100);
        let targets: Vec<NodeId> = drain(&mut c).into_iter().map(|(n, _)| n).collect();
        assert_eq!(targets, vec![A, B, C]);
        assert!(c.is_done());
    }

    #[test]
    fn get_not_found_returns_context_and_no_repair_of_empty() {
        let mut c = Coordinator::get(params(2));
        drain(&mut c);
        let mut tomb = set(&[(A, "x")]);
        let ctx = tomb.context();
        tomb.update(&ctx, None, A, 3).unwrap();
        c.handle_reply(A, ReplicaReply::Got { id: 42, set: tomb.clone() }, 1001);
        c.handle_reply(B, ReplicaReply::Got { id: 42, set: tomb.clone() }, 1001);
        let Some(Ok(Outcome::Read(s))) = c.poll_result() else { panic!() };
        assert!(s.is_deleted() && s.values().is_empty() && s.context().get(A) == 2);
        // Never-written key: nothing to repair even with a missing replica.
        let mut c = Coordinator::get(params(1));
        drain(&mut c);
        c.handle_reply(B, ReplicaReply::Got { id: 42, set: SiblingSet::new() }, 1001);
        assert!(matches!(c.poll_result(), Some(Ok(Outcome::Read(s))) if s.is_empty()));
        c.handle_timeout(2000);
        assert!(drain(&mut c).is_empty() && c.is_done());
    }

    #[test]
    fn get_timeout_and_failures() {
        let mut c = Coordinator::get(params(3));
        drain(&mut c);
        c.handle_reply(A, ReplicaReply::Got { id: 42, set: set(&[(A, "x")]) }, 1001);
        c.handle_timeout(1100);
        assert_eq!(c.poll_result(), Some(Err(QuorumError::QuorumNotReached { got: 1, needed: 3 })));
        // B and C did not answer: both get the repair.
        assert_eq!(drain(&mut c).len(), 2);
        let mut c = Coordinator::get(params(3));
        drain(&mut c);
        c.handle_reply(B, ReplicaReply::Failed { id: 42, failure: ReplicaFailure::Storage }, 1001);
        assert_eq!(c.poll_result(), Some(Err(QuorumError::QuorumNotReached { got: 0, needed: 3 })));
        assert!(!c.is_done(), "still listening for repair");
    }

    #[test]
    fn consistency_levels_count() {
        let ring = Ring::build(&[A, B, C], 8).unwrap();
        let cfg = ReplicationConfig::default();
        for (level, need) in [(Consistency::One, 1), (Consistency::Quorum, 2), (Consistency::All, 3)] {
            let plan = cfg.plan(&ring, b"k", OpKind::Read, Some(level));
            let mut c =
                Coordinator::get(Params { replicas: plan.replicas.clone(), required: plan.required, ..params(0) });
            drain(&mut c);
            for (i, &n) in plan.replicas.iter().enumerate() {
                assert_eq!(c.is_answered(), i >= need, "{level:?} after {i}");
                c.handle_reply(n, ReplicaReply::Got { id: 42, set: SiblingSet::new() }, 1001);
            }
            assert!(c.is_answered());
            // Writes: W acks with the local one first.
            let plan = cfg.plan(&ring, b"k", OpKind::Write, Some(level));
            let me = plan.replicas[0];
            let p = Params { replicas: plan.replicas.clone(), required: plan.required, me, ..params(0) };
            let mut c = Coordinator::put(p, Some(b"v".to_vec()), VersionVector::new());
            let (_, req) = drain(&mut c).pop().unwrap();
            let mut store = MemStore::default();
            c.handle_reply(me, Replica::new(me, DotCounter::default()).apply(&mut store, &req, 0), 1001);
            for (i, &n) in plan.replicas.iter().enumerate().skip(1) {
                assert_eq!(c.is_answered(), i >= need, "{level:?} after {i}");
                c.handle_reply(n, ReplicaReply::Merged { id: 42 }, 1002);
            }
            assert!(matches!(c.poll_result(), Some(Ok(Outcome::Written { .. }))));
        }
    }

    #[test]
    fn small_cluster_clamps() {
        // One node: N = 1, W = 1, the local update alone acknowledges.
        let ring = Ring::build(&[A], 8).unwrap();
        let plan = ReplicationConfig::default().plan(&ring, b"k", OpKind::Write, None);
        assert_eq!((plan.replicas.len(), plan.required), (1, 1));
        let mut c = Coordinator::put(
            Params { replicas: plan.replicas, required: 5, ..params(0) },
            Some(b"v".to_vec()),
            VersionVector::new(),
        );
        assert_eq!(c.required(), 1);
        let mut store = MemStore::default();
        local_update(&mut c, &mut Replica::new(A, DotCounter::default()), &mut store);
        assert!(drain(&mut c).is_empty());
        assert!(matches!(c.poll_result(), Some(Ok(Outcome::Written { .. }))));
        // No replica at all.
        let mut c = Coordinator::get(Params { replicas: vec![], ..params(2) });
        assert_eq!(c.poll_result(), Some(Err(QuorumError::NoReplicas)));
        assert!(c.is_done());
    }
}
