//! The replica side, pure: what a node does with a [`ReplicaRequest`] for a
//! key it stores.
//!
//! - `Get`: answer the stored set (empty if never written).
//! - `Merge`: stored ⊔ incoming; written only if it changes something; refused
//!   (old state kept) if the result breaks a stored-size limit.
//! - `Update` (the coordinator's own read-modify-write): `update_with_floor`
//!   with this node's id and its [`DotCounter`] as floor, then prune the clock
//!   (CAUSALITY.md rules 1–3).
//!
//! [`Replica::handle`] is the core: given the stored set it returns what to
//! write, whether the counter lease must be persisted first, and the reply, so
//! an async driver can do the read and the write itself. [`Replica::apply`]
//! runs it against a synchronous [`ReplicaStore`]. The read-modify-write of a
//! key must not interleave with another one on the same key (thread-per-core:
//! no await between the read and the write, or a per-key lock).

use std::collections::BTreeMap;

use crate::ring::NodeId;

use super::messages::{ReplicaFailure, ReplicaReply, ReplicaRequest};
use super::{CausalError, Dot, PruneConfig, SiblingSet, VersionVector};

/// How far a lease reaches beyond the counter when it is renewed.
pub const LEASE_STEP: u64 = 10_000;

/// A per-node dot counter that never goes backwards, even across restarts
/// and data loss (CAUSALITY.md rule 2, Riak kv679).
///
/// Every dot this node issues is at least [`floor`](Self::floor), and the
/// floor moves past every dot issued. To survive a restart the driver persists
/// a *lease*: a value above every counter handed out. [`Replica::handle`]
/// reports a new lease in [`Step::persist_lease`]; it must be durable before
/// the write it came with, and the driver then confirms it with
/// [`Replica::lease_persisted`] (until confirmed, every update asks again).
/// After a restart, [`DotCounter::restore`] starts from the last persisted lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DotCounter {
    next: u64,
    lease_end: u64,
}

impl DotCounter {
    /// A counter resuming from a persisted lease (0 on a brand-new node).
    pub fn restore(persisted_lease: u64) -> Self {
        Self { next: persisted_lease, lease_end: persisted_lease }
    }

    /// The floor for the next dot.
    pub fn floor(&self) -> u64 {
        self.next
    }

    /// The last lease confirmed durable.
    pub fn lease_end(&self) -> u64 {
        self.lease_end
    }

    /// Records that `counter` was issued; returns a new lease to persist if
    /// the confirmed one does not cover it.
    fn issued(&mut self, counter: u64) -> Option<u64> {
        self.next = self.next.max(counter.saturating_add(1));
        (self.next > self.lease_end).then(|| self.next.saturating_add(LEASE_STEP))
    }
}

/// Synchronous key → sibling-set storage (the owning shard's partition).
pub trait ReplicaStore {
    fn get(&self, key: &[u8]) -> Result<Option<SiblingSet>, ReplicaFailure>;
    fn put(&mut self, key: &[u8], set: &SiblingSet) -> Result<(), ReplicaFailure>;
    /// Makes the dot-counter lease durable (see [`DotCounter`]).
    fn persist_lease(&mut self, lease_end: u64) -> Result<(), ReplicaFailure>;
}

/// An in-memory store (tests, simulation): sets by key and the persisted lease.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemStore {
    pub sets: BTreeMap<Vec<u8>, SiblingSet>,
    pub lease: u64,
}

impl ReplicaStore for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<SiblingSet>, ReplicaFailure> {
        Ok(self.sets.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], set: &SiblingSet) -> Result<(), ReplicaFailure> {
        self.sets.insert(key.to_vec(), set.clone());
        Ok(())
    }

    fn persist_lease(&mut self, lease_end: u64) -> Result<(), ReplicaFailure> {
        self.lease = self.lease.max(lease_end);
        Ok(())
    }
}

/// What to do for one request: persist `persist_lease` (if any) and confirm
/// it with [`Replica::lease_persisted`], then write [`Step::write`] (if any) under the
/// request's key, then send `reply` to the coordinator. If either storage step
/// fails, reply `Failed { failure: Storage }` instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub persist_lease: Option<u64>,
    write: Write,
    pub reply: ReplicaReply,
}

/// What a step stores.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Write {
    Nothing,
    Set(SiblingSet),
    /// The set the `Updated` reply carries (one copy serves both).
    Replied,
}

impl Step {
    fn nothing(reply: ReplicaReply) -> Step {
        Step { persist_lease: None, write: Write::Nothing, reply }
    }

    fn failed(id: u64, failure: ReplicaFailure) -> Step {
        Step::nothing(ReplicaReply::Failed { id, failure })
    }

    /// The set to store for the key, if any.
    pub fn write(&self) -> Option<&SiblingSet> {
        match (&self.write, &self.reply) {
            (Write::Set(set), _) | (Write::Replied, ReplicaReply::Updated { set, .. }) => Some(set),
            _ => None,
        }
    }
}

/// One node's replica logic: its id (the actor of the dots it issues), its
/// dot counter and the clock-pruning policy applied after each update.
#[derive(Debug, Clone)]
pub struct Replica {
    node: NodeId,
    counter: DotCounter,
    prune: PruneConfig,
}

impl Replica {
    pub fn new(node: NodeId, counter: DotCounter) -> Self {
        Self { node, counter, prune: PruneConfig::default() }
    }

    pub fn with_prune(mut self, prune: PruneConfig) -> Self {
        self.prune = prune;
        self
    }

    pub fn node(&self) -> NodeId {
        self.node
    }

    pub fn counter(&self) -> DotCounter {
        self.counter
    }

    /// Confirms that a lease from [`Step::persist_lease`] is durable.
    pub fn lease_persisted(&mut self, lease_end: u64) {
        self.counter.lease_end = self.counter.lease_end.max(lease_end);
    }

    /// The pure step: `stored` is the current set of `req.key()` (None: never
    /// written), `now_ms` this node's wall clock (the timestamp of a new version).
    pub fn handle(&mut self, stored: Option<SiblingSet>, req: &ReplicaRequest, now_ms: u64) -> Step {
        let id = req.id();
        match req {
            ReplicaRequest::Get { .. } => Step::nothing(ReplicaReply::Got { id, set: stored.unwrap_or_default() }),
            ReplicaRequest::Merge { set: incoming, .. } => {
                let mut set = stored.unwrap_or_default();
                if set.descends(incoming) {
                    return Step::nothing(ReplicaReply::Merged { id });
                }
                set.merge(incoming);
                if set.check_limits().is_err() {
                    // Keep the old state: nothing is dropped until a client
                    // write with a context shrinks the set (CAUSALITY.md rule 5).
                    return Step::failed(id, ReplicaFailure::TooLarge);
                }
                Step { persist_lease: None, write: Write::Set(set), reply: ReplicaReply::Merged { id } }
            }
            ReplicaRequest::Update { ctx, value, .. } => self.update(stored, id, ctx, value.clone(), now_ms),
        }
    }

    /// Whether an update of a key with no stored set and an empty context (a
    /// blind overwrite) issues a dot that the confirmed lease covers, so that
    /// its step asks for no lease write.
    pub fn lease_covers_blind_update(&self) -> bool {
        // Such an update's dot counter is max(1, floor) (`update_with_floor`),
        // and `DotCounter::issued` asks for a lease once the counter after it
        // passes the lease.
        self.counter.floor().max(1) < self.counter.lease_end()
    }

    /// Whether [`update`](Self::update) with context `ctx` (the stored set's,
    /// for a read-modify-write; empty if nothing is stored) issues a dot that
    /// the confirmed lease covers, so that its step asks for no lease write.
    pub fn lease_covers_update(&self, ctx: &VersionVector) -> bool {
        // The update's counter: one past what the context has seen of this
        // node, at least the floor (`SiblingSet::update_with_floor`); the
        // stored clock is the context here. `DotCounter::issued` asks for a
        // lease once the counter after it passes the lease.
        let counter = ctx.get(self.node).saturating_add(1).max(self.counter.floor());
        counter.saturating_add(1).max(self.counter.floor()) <= self.counter.lease_end()
    }

    /// The dot that [`update`](Self::update) of a blind overwrite (no stored
    /// set, an empty context) issues, issued the same way, for a caller that
    /// writes the set itself (`SiblingSet::encode_blind_into`) instead of having
    /// `update` build it. None, and nothing issued, unless the confirmed lease
    /// covers it ([`Self::lease_covers_blind_update`]): else a lease must be
    /// made durable first, which `update` asks for.
    pub fn issue_blind_dot(&mut self) -> Option<Dot> {
        if !self.lease_covers_blind_update() {
            return None;
        }
        let dot = Dot { node: self.node, counter: self.counter.floor().max(1) };
        let lease = self.counter.issued(dot.counter);
        debug_assert!(lease.is_none(), "a covered blind update asked for lease {lease:?}");
        Some(dot)
    }

    /// What [`handle`](Self::handle) does for an `Update { id, ctx, value }`,
    /// with the value moved in rather than copied (the local write path).
    pub fn update(
        &mut self,
        stored: Option<SiblingSet>,
        id: u64,
        ctx: &VersionVector,
        value: Option<Vec<u8>>,
        now_ms: u64,
    ) -> Step {
        let mut set = stored.unwrap_or_default();
        match set.update_with_floor(ctx, value, self.node, now_ms, self.counter.floor()) {
            Ok(dot) => {
                set.prune(now_ms, &self.prune);
                let persist_lease = self.counter.issued(dot.counter);
                let reply = ReplicaReply::Updated { id, dot, set };
                Step { persist_lease, write: Write::Replied, reply }
            }
            Err(CausalError::TooLarge { what: "dot counter", .. }) => Step::failed(id, ReplicaFailure::BadRequest),
            Err(CausalError::TooLarge { .. }) => Step::failed(id, ReplicaFailure::TooLarge),
            Err(_) => Step::failed(id, ReplicaFailure::BadRequest),
        }
    }

    /// [`handle`](Self::handle) against a synchronous store.
    pub fn apply<S: ReplicaStore>(&mut self, store: &mut S, req: &ReplicaRequest, now_ms: u64) -> ReplicaReply {
        let id = req.id();
        let stored = match store.get(req.key()) {
            Ok(s) => s,
            Err(failure) => return ReplicaReply::Failed { id, failure },
        };
        let step = self.handle(stored, req, now_ms);
        if let Some(lease) = step.persist_lease {
            if let Err(failure) = store.persist_lease(lease) {
                return ReplicaReply::Failed { id, failure };
            }
            self.lease_persisted(lease);
        }
        if let Some(set) = step.write() {
            if let Err(failure) = store.put(req.key(), set) {
                return ReplicaReply::Failed { id, failure };
            }
        }
        step.reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::{Dot, VersionVector};

    fn update(id: u64, ctx: VersionVector, v: &str) -> ReplicaRequest {
        ReplicaRequest::Update { id, key: b"k".to_vec(), ctx, value: Some(v.as_bytes().to_vec()) }
    }

    #[test]
    fn lease_covers_blind_update_says_when_a_blind_update_needs_no_lease() {
        for start in [0, 7, LEASE_STEP] {
            let mut r = Replica::new(NodeId(1), DotCounter::restore(start));
            for _ in 0..3 * LEASE_STEP + 5 {
                let covered = r.lease_covers_blind_update();
                let step = r.update(None, 0, &VersionVector::new(), Some(b"v".to_vec()), 0);
                assert_eq!(step.persist_lease.is_none(), covered);
                if let Some(lease) = step.persist_lease {
                    r.lease_persisted(lease);
                }
            }
        }
    }

    #[test]
    fn lease_covers_update_says_when_an_update_needs_no_lease() {
        for start in [0, 7, LEASE_STEP] {
            let mut r = Replica::new(NodeId(1), DotCounter::restore(start));
            let mut stored: Option<SiblingSet> = None;
            for i in 0..3 * LEASE_STEP + 5 {
                // A read-modify-write of one key (context: what is stored),
                // and now and then a blind write or a write of another node's
                // context, which move the counter differently.
                let ctx = match i % 7 {
                    3 => VersionVector::new(),
                    5 => {
                        let mut c = stored.as_ref().map_or_else(VersionVector::new, SiblingSet::context);
                        // Ahead of this replica's own counter: it must issue past it.
                        c.add(Dot { node: NodeId(1), counter: 2 * i + LEASE_STEP / 2 }, 0);
                        c
                    }
                    _ => stored.as_ref().map_or_else(VersionVector::new, SiblingSet::context),
                };
                let covered = r.lease_covers_update(&ctx);
                let from = if i % 7 == 3 { None } else { stored.take() };
                let step = r.update(from, 0, &ctx, Some(b"v".to_vec()), 0);
                assert_eq!(step.persist_lease.is_none(), covered, "step {i} from {start}");
                if let Some(lease) = step.persist_lease {
                    r.lease_persisted(lease);
                }
                if let ReplicaReply::Updated { set, .. } = step.reply {
                    stored = Some(set);
                }
            }
        }
    }

    #[test]
    fn a_blind_dot_and_encoding_are_what_update_issues_and_writes() {
        let values: [Option<Vec<u8>>; 4] = [None, Some(Vec::new()), Some(vec![7; 100]), Some(vec![1; 300])];
        let mut out = Vec::new();
        for (start, node) in [(0, 1), (7, 2), (LEASE_STEP, 300)] {
            // Two replicas in step: one updates, the other takes the blind path.
            let mut r = Replica::new(NodeId(node), DotCounter::restore(start));
            let mut b = Replica::new(NodeId(node), DotCounter::restore(start));
            for i in 0..3 * LEASE_STEP + 5 {
                let (value, now) = (values[i as usize % 4].clone(), 1_700_000_000_000 + i * 37);
                let blind = b.issue_blind_dot();
                let step = r.update(None, 0, &VersionVector::new(), value.clone(), now);
                assert_eq!(blind.is_some(), step.persist_lease.is_none(), "issued exactly when covered");
                let ReplicaReply::Updated { dot, set, .. } = &step.reply else { panic!("{:?}", step.reply) };
                match blind {
                    Some(d) => {
                        assert_eq!(d, *dot);
                        // Into a buffer that held another set before: cleared first.
                        SiblingSet::encode_blind_into(d, now, value.as_deref(), &mut out).unwrap();
                        assert_eq!(out, set.encode().unwrap());
                    }
                    None => {
                        // Not covered: nothing was issued; the general path asks for a lease.
                        let lease = step.persist_lease.unwrap();
                        b.update(None, 0, &VersionVector::new(), value, now);
                        r.lease_persisted(lease);
                        b.lease_persisted(lease);
                    }
                }
            }
        }
        let too_big = vec![0; crate::replication::MAX_VALUE_BYTES + 1];
        assert!(
            SiblingSet::encode_blind_into(Dot { node: NodeId(1), counter: 1 }, 0, Some(&too_big), &mut out).is_err()
        );
    }

    #[test]
    fn get_merge_update() {
        let mut store = MemStore::default();
        let mut a = Replica::new(NodeId(1), DotCounter::default());
        let get = ReplicaRequest::Get { id: 1, key: b"k".to_vec() };
        assert_eq!(a.apply(&mut store, &get, 0), ReplicaReply::Got { id: 1, set: SiblingSet::new() });
        let ReplicaReply::Updated { dot, set, .. } = a.apply(&mut store, &update(2, VersionVector::new(), "x"), 5)
        else {
            panic!()
        };
        assert_eq!(dot, Dot { node: NodeId(1), counter: 1 });
        assert_eq!(store.sets[&b"k"[..]], set);
        assert_eq!(store.lease, 2 + LEASE_STEP);
        // Another replica merges it; a second merge writes nothing new.
        let mut other = MemStore::default();
        let mut b = Replica::new(NodeId(2), DotCounter::default());
        let merge = ReplicaRequest::Merge { id: 3, key: b"k".to_vec(), set: set.clone() };
        let step = b.handle(None, &merge, 0);
        assert_eq!((step.write(), &step.reply), (Some(&set), &ReplicaReply::Merged { id: 3 }));
        assert_eq!(b.apply(&mut other, &merge, 0), ReplicaReply::Merged { id: 3 });
        assert_eq!(b.handle(Some(set.clone()), &merge, 0).write(), None);
    }

    #[test]
    fn counter_floor_survives_restart_and_data_loss() {
        let mut store = MemStore::default();
        let mut a = Replica::new(NodeId(1), DotCounter::default());
        for i in 0..3 {
            a.apply(&mut store, &update(i, VersionVector::new(), "x"), 0);
        }
        // The node loses the key (disk replaced) and restarts from its lease.
        let lost = store.sets.remove(&b"k"[..]).unwrap();
        let mut a = Replica::new(NodeId(1), DotCounter::restore(store.lease));
        let ReplicaReply::Updated { dot, .. } = a.apply(&mut store, &update(9, VersionVector::new(), "y"), 0) else {
            panic!()
        };
        assert!(dot.counter > lost.context().get(NodeId(1)), "dot reused: {dot}");
    }

    /// Known gap (REPLICATION.md): the floor prevents dot *reuse* after data
    /// loss, but a replica that lost its data must not coordinate under its old
    /// id: its new, higher dot makes its clock claim every earlier dot of that
    /// id, so merging its set drops an acknowledged write another replica
    /// still holds. A fresh node id does not.
    #[test]
    fn wiped_replica_under_its_old_id_drops_an_acked_write() {
        let mut a = Replica::new(NodeId(1), DotCounter::default());
        let (mut sa, mut sb) = (MemStore::default(), MemStore::default());
        let mut b = Replica::new(NodeId(2), DotCounter::default());
        // w1 coordinated by A, merged by B: acknowledged with W = 2.
        let ReplicaReply::Updated { set: w1, dot: d1, .. } =
            a.apply(&mut sa, &update(1, VersionVector::new(), "w1"), 0)
        else {
            panic!()
        };
        b.apply(&mut sb, &ReplicaRequest::Merge { id: 1, key: b"k".to_vec(), set: w1 }, 0);
        // A loses its disk but keeps its lease and id; a blind write follows.
        sa.sets.clear();
        let mut a = Replica::new(NodeId(1), DotCounter::restore(sa.lease));
        let ReplicaReply::Updated { set: w2, dot: d2, .. } =
            a.apply(&mut sa, &update(2, VersionVector::new(), "w2"), 0)
        else {
            panic!()
        };
        assert!(d2.counter > d1.counter, "no dot reuse");
        let mut merged = sb.sets[&b"k"[..]].clone();
        merged.merge(&w2);
        assert_eq!(merged.values(), vec![&b"w2"[..]], "w1 silently dropped");
        // Under a fresh id the blind write is a sibling of w1, as it should be.
        let mut fresh = Replica::new(NodeId(3), DotCounter::default());
        let ReplicaReply::Updated { set: w2, .. } =
            fresh.apply(&mut MemStore::default(), &update(3, VersionVector::new(), "w2"), 0)
        else {
            panic!()
        };
        let mut merged = sb.sets[&b"k"[..]].clone();
        merged.merge(&w2);
        assert_eq!(merged.values(), vec![&b"w1"[..], &b"w2"[..]]);
    }

    /// A store whose lease writes fail.
    struct NoLease(MemStore);

    impl ReplicaStore for NoLease {
        fn get(&self, key: &[u8]) -> Result<Option<SiblingSet>, ReplicaFailure> {
            self.0.get(key)
        }
        fn put(&mut self, key: &[u8], set: &SiblingSet) -> Result<(), ReplicaFailure> {
            self.0.put(key, set)
        }
        fn persist_lease(&mut self, _: u64) -> Result<(), ReplicaFailure> {
            Err(ReplicaFailure::Storage)
        }
    }

    #[test]
    fn failed_lease_persist_fails_the_write_and_is_retried() {
        let mut store = NoLease(MemStore::default());
        let mut a = Replica::new(NodeId(1), DotCounter::default());
        for i in 0..3 {
            let r = a.apply(&mut store, &update(i, VersionVector::new(), "x"), 0);
            assert_eq!(r, ReplicaReply::Failed { id: i, failure: ReplicaFailure::Storage });
        }
        assert!(store.0.sets.is_empty());
        assert_eq!(a.counter().lease_end(), 0);
        // The pure step keeps asking until the driver confirms.
        let step = a.handle(None, &update(7, VersionVector::new(), "x"), 0);
        let lease = step.persist_lease.expect("asks for a lease");
        a.lease_persisted(lease);
        assert_eq!(a.handle(None, &update(8, VersionVector::new(), "x"), 0).persist_lease, None);
    }

    #[test]
    fn too_many_siblings_is_refused_and_state_kept() {
        let mut store = MemStore::default();
        let mut a = Replica::new(NodeId(1), DotCounter::default());
        for i in 0..crate::replication::MAX_SIBLINGS as u64 {
            assert!(matches!(
                a.apply(&mut store, &update(i, VersionVector::new(), "x"), 0),
                ReplicaReply::Updated { .. }
            ));
        }
        let before = store.clone();
        let r = a.apply(&mut store, &update(99, VersionVector::new(), "x"), 0);
        assert_eq!(r, ReplicaReply::Failed { id: 99, failure: ReplicaFailure::TooLarge });
        assert_eq!(store.sets, before.sets);
        // A merge that would exceed the limit is refused too.
        let mut b = Replica::new(NodeId(2), DotCounter::default());
        let mut other = MemStore::default();
        b.apply(&mut other, &update(1, VersionVector::new(), "y"), 0);
        let merge = ReplicaRequest::Merge { id: 5, key: b"k".to_vec(), set: store.sets[&b"k"[..]].clone() };
        assert_eq!(b.apply(&mut other, &merge, 0), ReplicaReply::Failed { id: 5, failure: ReplicaFailure::TooLarge });
    }
}
