//! The cluster layer of a shard: who the members are, the ring, connections
//! to peer nodes, and the driver that runs a `replication::Coordinator` for
//! each client request (the thin I/O shell around the pure state machine).
//!
//! Membership (first version): a node starts with its seeds' addresses and
//! gossips member lists (name, address) with every member and seed it knows,
//! every half second. The ring is rebuilt from the member names in sorted
//! order, so every node that knows the same members computes the same ring.
//! Data does not move when membership changes yet (read repair fixes what a
//! read touches); join/decommission streaming and hinted handoff come next.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::channels::local_channel;

use crate::client::AsyncClient;
use crate::keys;
use crate::protocol::{Member, ReplicaFrame, Request, Response};
use crate::replication::{
    Consistency, Coordinator, OpKind, Outcome, Params, QuorumError, ReadRef, ReplicaFailure, ReplicaReply,
    ReplicaRequest, ReplicationConfig, SiblingSet, VersionVector,
};
use crate::ring::{self, NodeId, Ring};
use crate::server::mesh::{Mesh, Started};
use crate::server::shard_op::{now_ms, FailKind, RmwOp, RmwResult, Shard, ShardOp, ShardReply};
use crate::server::Shutdown;
use crate::storage::{memtable, Prefetch, Touch};

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub node_name: String,
    /// The address other nodes use to reach this node (its client port).
    pub advertise: String,
    pub seeds: Vec<String>,
    pub replication: ReplicationConfig,
    pub vnodes: u32,
    pub request_timeout_ms: u64,
    /// Last-writer-wins for every write (opt-in): PUT supersedes everything.
    pub lww: bool,
}

/// A node's id on the ring and in causal clocks, derived from its name.
pub fn node_id_of(name: &str) -> NodeId {
    NodeId((xxhash_rust::xxh3::xxh3_64(name.as_bytes()) as u32).max(1))
}

/// Why a coordinated operation failed.
#[derive(Debug)]
pub enum OpError {
    Quorum(QuorumError),
    Failed(FailKind, String),
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Quorum(q) => write!(f, "{q}"),
            OpError::Failed(_, m) => f.write_str(m),
        }
    }
}

/// What one replica message came back as.
enum Sent {
    Reply(ReplicaReply, Option<RmwResult>),
    /// The local read-modify-write decided not to write.
    Skipped(RmwResult),
    /// The local shard failed in a way the replica protocol has no word for.
    Error(FailKind, String),
}

/// The result of a coordinated write.
pub enum Written {
    Done { context: VersionVector, rmw: Option<RmwResult> },
    Skipped(RmwResult),
}

/// The member table of the node, shared by its shards (so a membership
/// change reaches every shard at once and all compute the same ring).
pub struct SharedMembers {
    version: std::sync::atomic::AtomicU64,
    map: std::sync::Mutex<BTreeMap<String, String>>,
    /// Whether this data dir has ever been part of a cluster (the marker
    /// file exists). Until then no stored version can carry another node's
    /// dot, which is what makes blind overwrites sound (`RmwOp::Blind`).
    clustered: std::sync::atomic::AtomicBool,
    marker: std::path::PathBuf,
}

/// Created in the data dir the first time the node has a peer; never removed.
pub const CLUSTERED_MARKER: &str = "CLUSTERED";

impl SharedMembers {
    pub fn open(data_dir: &std::path::Path) -> Self {
        let marker = data_dir.join(CLUSTERED_MARKER);
        SharedMembers {
            version: Default::default(),
            map: Default::default(),
            clustered: std::sync::atomic::AtomicBool::new(marker.exists()),
            marker,
        }
    }

    /// True while no peer has ever been seen by this data dir.
    pub fn never_clustered(&self) -> bool {
        !self.clustered.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Record, durably and before any peer's data is taken in, that this
    /// node is (or was) part of a cluster. A one-off blocking write.
    pub fn mark_clustered(&self) {
        if self.clustered.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let write = || -> std::io::Result<()> {
            std::fs::File::create(&self.marker)?.sync_all()?;
            if let Some(dir) = self.marker.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        if let Err(e) = write() {
            // In memory the flag is set, so this process stays safe; a restart
            // without the marker would allow blind overwrites again.
            tracing::error!(error = %e, path = %self.marker.display(), "cannot write the cluster marker");
        }
    }
}

pub struct Cluster {
    cfg: ClusterConfig,
    me: NodeId,
    mesh: Rc<Mesh>,
    shared: std::sync::Arc<SharedMembers>,
    /// The version of `shared` the ring below was built from.
    seen_version: Cell<u64>,
    members: RefCell<BTreeMap<String, String>>,
    ring: RefCell<Rc<Ring>>,
    addrs: RefCell<HashMap<NodeId, String>>,
    peers: RefCell<HashMap<NodeId, Rc<AsyncClient>>>,
    down_until: RefCell<HashMap<NodeId, Instant>>,
    next_id: Cell<u64>,
}

impl Cluster {
    pub fn new(cfg: ClusterConfig, mesh: Rc<Mesh>, shared: std::sync::Arc<SharedMembers>) -> Rc<Self> {
        let me = node_id_of(&cfg.node_name);
        let c = Rc::new(Cluster {
            me,
            mesh,
            shared,
            seen_version: Cell::new(u64::MAX),
            members: RefCell::new(BTreeMap::new()),
            ring: RefCell::new(Rc::new(Ring::new())),
            addrs: RefCell::new(HashMap::new()),
            peers: RefCell::new(HashMap::new()),
            down_until: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
            cfg,
        });
        c.merge_members(&[Member { name: c.cfg.node_name.clone(), addr: c.cfg.advertise.clone() }]);
        c.refresh();
        c
    }

    /// Rebuild the ring if the node's member table changed since we last looked.
    fn refresh(&self) {
        let v = self.shared.version.load(std::sync::atomic::Ordering::Acquire);
        if v == self.seen_version.get() {
            return;
        }
        let map = match self.shared.map.lock() {
            Ok(m) => m.clone(),
            Err(p) => p.into_inner().clone(),
        };
        *self.members.borrow_mut() = map;
        self.seen_version.set(v);
        self.rebuild_ring();
    }

    pub fn me(&self) -> NodeId {
        self.me
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.cfg
    }

    /// A peer has talked to this node (see `SharedMembers::mark_clustered`).
    pub fn mark_clustered(&self) {
        self.shared.mark_clustered();
    }

    pub fn members(&self) -> Vec<Member> {
        self.refresh();
        self.members.borrow().iter().map(|(n, a)| Member { name: n.clone(), addr: a.clone() }).collect()
    }

    /// Add what `list` knows to the node's member table.
    pub fn merge_members(&self, list: &[Member]) {
        let mut m = match self.shared.map.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let mut changed = false;
        for x in list.iter().filter(|x| !x.name.is_empty() && !x.addr.is_empty()) {
            if m.get(&x.name) != Some(&x.addr) {
                m.insert(x.name.clone(), x.addr.clone());
                changed = true;
            }
        }
        if changed {
            self.shared.version.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        let has_peer = m.len() > 1;
        drop(m);
        if has_peer {
            self.shared.mark_clustered();
        }
        self.refresh();
    }

    fn rebuild_ring(&self) {
        let members = self.members.borrow();
        let ids: Vec<NodeId> = members.keys().map(|n| node_id_of(n)).collect();
        match Ring::build(&ids, self.cfg.vnodes) {
            Ok(r) => *self.ring.borrow_mut() = Rc::new(r),
            Err(e) => tracing::error!(error = %e, "cannot build the ring"),
        }
        *self.addrs.borrow_mut() = members.iter().map(|(n, a)| (node_id_of(n), a.clone())).collect();
        if self.mesh.shard() == 0 {
            tracing::info!(members = ?members.keys().collect::<Vec<_>>(), "ring rebuilt");
        }
    }

    fn is_up(&self, node: NodeId) -> bool {
        node == self.me || self.down_until.borrow().get(&node).is_none_or(|t| Instant::now() >= *t)
    }

    /// Exchange member lists with every seed and member, forever.
    pub async fn gossip_loop(self: Rc<Self>, shutdown: std::sync::Arc<Shutdown>) {
        let mut period = Duration::from_millis(200);
        while !shutdown.is_requested() {
            let mut targets: Vec<String> = self.cfg.seeds.clone();
            targets.extend(self.members.borrow().values().filter(|a| **a != self.cfg.advertise).cloned());
            targets.sort();
            targets.dedup();
            for addr in targets {
                let limit = Duration::from_secs(1);
                let Ok(c) = within(limit, crate::client::AsyncConn::connect(&addr)).await else { continue };
                if let Ok(Response::Members(list)) = within(limit, c.call(&Request::Members(self.members()))).await {
                    self.merge_members(&list);
                }
                c.close();
            }
            glommio::timer::sleep(period).await;
            period = (period * 2).min(Duration::from_secs(2));
        }
    }

    async fn peer(&self, node: NodeId) -> Option<Rc<AsyncClient>> {
        if let Some(p) = self.peers.borrow().get(&node) {
            if !p.is_closed() {
                return Some(p.clone());
            }
        }
        let addr = self.addrs.borrow().get(&node).cloned()?;
        let limit = Duration::from_millis(self.cfg.request_timeout_ms);
        match within(limit, AsyncClient::connect(&addr)).await {
            Ok(c) => {
                let c = Rc::new(c);
                self.peers.borrow_mut().insert(node, c.clone());
                self.down_until.borrow_mut().remove(&node);
                Some(c)
            }
            Err(e) => {
                tracing::debug!(node = %node, addr = %addr, error = %e, "cannot connect to peer");
                self.down_until.borrow_mut().insert(node, Instant::now() + Duration::from_millis(500));
                None
            }
        }
    }

    /// Deliver one replica message to `node` (this node: its owning shard).
    async fn send(&self, node: NodeId, partition: &[u8], req: ReplicaRequest, rmw: Option<RmwOp>) -> Sent {
        let id = req.id();
        let unreachable = || Sent::Reply(ReplicaReply::Failed { id, failure: ReplicaFailure::Storage }, None);
        if node == self.me {
            let started = self.start_local(partition, req, rmw).await;
            return match self.mesh.finish(started).await {
                ShardReply::Replica(r, x) => Sent::Reply(r, x),
                ShardReply::RmwSkipped(x) => Sent::Skipped(x),
                ShardReply::Failed(k, m) => Sent::Error(k, m),
                other => Sent::Error(FailKind::Internal, format!("unexpected {other:?}")),
            };
        }
        if !self.is_up(node) {
            return unreachable();
        }
        let Some(peer) = self.peer(node).await else {
            tracing::debug!(node = %node, "peer unreachable");
            return unreachable();
        };
        let Ok(message) = req.encode() else {
            return Sent::Reply(ReplicaReply::Failed { id, failure: ReplicaFailure::TooLarge }, None);
        };
        let frame = Request::Replica(ReplicaFrame { partition: partition.to_vec(), message });
        match peer.call(partition, &frame).await {
            Ok(Response::Replica(bytes)) => match ReplicaReply::decode(&bytes) {
                Ok(r) => Sent::Reply(r, None),
                Err(_) => unreachable(),
            },
            other => {
                tracing::debug!(node = %node, result = ?other.map(|r| r.opcode()), "replica message to peer failed");
                self.peers.borrow_mut().remove(&node);
                self.down_until.borrow_mut().insert(node, Instant::now() + Duration::from_millis(200));
                unreachable()
            }
        }
    }

    /// A hint that a point read or write of (partition, sort) is coming: if
    /// this thread's shard owns the partition, start loading the memtable
    /// slots it will touch (`Engine::prefetch`'s first stage) and return the
    /// key's hash for [`Cluster::prefetch_entry`], so that the key is hashed
    /// once for both stages. `touch`: what the operation reads.
    pub fn prefetch_slot(&self, partition: &[u8], sort: &[u8], touch: Touch) -> Option<u64> {
        let token = self.local_token(partition)?;
        let hash = keys::with_encoded(token, partition, sort, memtable::key_hash);
        self.mesh.engine().prefetch(hash, Prefetch::Slot, touch);
        Some(hash)
    }

    /// The second stage, some work after [`Cluster::prefetch_slot`] returned `hash`.
    pub fn prefetch_entry(&self, hash: u64, touch: Touch) {
        self.mesh.engine().prefetch(hash, Prefetch::Entry, touch);
    }

    /// The ring token of `partition` if this thread's shard owns it.
    fn local_token(&self, partition: &[u8]) -> Option<u64> {
        let token = ring::token(partition);
        (ring::shard_of(token, self.mesh.shards()) == self.mesh.shard()).then_some(token)
    }

    /// The ordered part of a replica message to this node's shard that owns
    /// `partition`; `Mesh::finish` does the rest.
    async fn start_local(&self, partition: &[u8], req: ReplicaRequest, rmw: Option<RmwOp>) -> Started {
        let shard = ring::shard_of(ring::token(partition), self.mesh.shards());
        self.mesh.start(shard, ShardOp::Replica { req, rmw }).await
    }

    /// [`start_blind`](Self::start_blind)'s ordered part done at once, if
    /// this node is alone and never was clustered, this thread's shard owns
    /// `partition`, and nothing makes the write wait (`Shard::blind_write_now`).
    /// Else None. Borrows the key and value: a SET parsed from a connection's
    /// buffer is written from there. `key_hash`: what
    /// [`prefetch_slot`](Self::prefetch_slot) returned for this key, if the
    /// caller has it (else it is computed here).
    pub fn blind_write_now(
        &self,
        partition: &[u8],
        sort: &[u8],
        value: Option<&[u8]>,
        key_hash: Option<u64>,
    ) -> Option<Started> {
        if !(self.alone() && self.shared.never_clustered()) {
            return None;
        }
        let token = self.local_token(partition)?;
        let pending = keys::with_encoded(token, partition, sort, |key| {
            let hash = key_hash.unwrap_or_else(|| memtable::key_hash(key));
            self.mesh.local().blind_write_now(key, hash, value)
        })?;
        Some(Started::Local(pending))
    }

    /// The ordered part of a blind overwrite of `partition` (see
    /// `RmwOp::Blind`), if this node is alone and never was clustered (else
    /// the value back, for the general path). The rest, `Mesh::finish` then
    /// [`local_write_outcome`], holds no lock: the caller may leave it for
    /// later, after starting more ops.
    pub async fn start_blind(
        &self,
        partition: &[u8],
        sort: &[u8],
        value: Option<Vec<u8>>,
    ) -> Result<Started, Option<Vec<u8>>> {
        if let Some(started) = self.blind_write_now(partition, sort, value.as_deref(), None) {
            return Ok(started);
        }
        self.start_blind_not_now(partition, sort, value).await
    }

    /// [`start_blind`](Self::start_blind) of a write that
    /// [`blind_write_now`](Self::blind_write_now) has just found it cannot do
    /// at once (another shard's key, or one that must wait), without trying
    /// that again: its ordered part goes through the mesh.
    pub async fn start_blind_not_now(
        &self,
        partition: &[u8],
        sort: &[u8],
        value: Option<Vec<u8>>,
    ) -> Result<Started, Option<Vec<u8>>> {
        if !(self.alone() && self.shared.never_clustered()) {
            return Err(value);
        }
        let key = keys::encode(partition, sort);
        let shard = ring::shard_of(ring::token(partition), self.mesh.shards());
        let req = ReplicaRequest::Update { id: 0, key, ctx: VersionVector::new(), value: None };
        Ok(self.mesh.start(shard, ShardOp::Replica { req, rmw: Some(RmwOp::Blind(value)) }).await)
    }

    /// The ordered part of a read-modify-write of `partition` if this node is
    /// alone (else the op back, for the general path, which coordinates
    /// replicas). The rest, `Mesh::finish` then [`local_write_outcome`],
    /// holds no lock, as for [`start_blind`](Self::start_blind).
    pub async fn start_rmw(&self, partition: &[u8], op: RmwOp) -> Result<Started, RmwOp> {
        if !self.alone() || matches!(op, RmwOp::Blind(_)) {
            return Err(op);
        }
        let mut key = keys::encode(partition, b"");
        let mut op = op;
        let shard = ring::shard_of(ring::token(partition), self.mesh.shards());
        if shard == self.mesh.shard() {
            // Most often nothing makes it wait: done here, without `start`'s futures.
            match self.mesh.local().rmw_now(key, op, self.shared.never_clustered()) {
                Ok(p) => return Ok(Started::Local(p)),
                Err((k, o)) => (key, op) = (k, o),
            }
        }
        let req = ReplicaRequest::Update { id: 0, key, ctx: VersionVector::new(), value: None };
        Ok(self.mesh.start(shard, ShardOp::Replica { req, rmw: Some(op) }).await)
    }

    /// The ordered part of a RESP read of `partition` (`ShardOp::GetLww`,
    /// on whichever shard owns it) if this node is alone; None: call
    /// [`read`](Self::read). For the reads `read_lww_now` cannot answer at
    /// once: another shard's key, or one that must wait. The rest is
    /// `Mesh::finish`, as for [`start_blind`](Self::start_blind).
    pub async fn start_read_lww(&self, partition: &[u8]) -> Option<Started> {
        if !self.alone() {
            return None;
        }
        let shard = ring::shard_of(ring::token(partition), self.mesh.shards());
        Some(self.mesh.start(shard, ShardOp::GetLww { key: keys::encode(partition, b"") }).await)
    }

    fn params(&self, key: Vec<u8>, partition: &[u8], op: OpKind, level: Option<Consistency>) -> Params {
        self.refresh();
        let ring = self.ring.borrow().clone();
        let mut plan = self.cfg.replication.plan(&ring, partition, op, level);
        plan.live_first(|n| self.is_up(n));
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        Params {
            id,
            key,
            replicas: plan.replicas,
            me: self.me,
            required: plan.required,
            now_ms: now_ms(),
            timeout_ms: self.cfg.request_timeout_ms,
        }
    }

    /// A cluster of one: no coordinator needed (N clamps to 1), just the
    /// local replica. Same semantics, none of the message machinery.
    pub fn alone(&self) -> bool {
        self.refresh();
        self.members.borrow().len() == 1
    }

    /// Quorum read of one key: the merged sibling set.
    pub async fn read(
        self: &Rc<Self>,
        partition: &[u8],
        sort: &[u8],
        level: Option<Consistency>,
    ) -> Result<SiblingSet, OpError> {
        if self.alone() {
            let req = ReplicaRequest::Get { id: 0, key: keys::encode(partition, sort) };
            return match self.send(self.me, partition, req, None).await {
                Sent::Reply(ReplicaReply::Got { set, .. }, _) => Ok(set),
                Sent::Reply(ReplicaReply::Failed { failure, .. }, _) => Err(rejected(failure)),
                Sent::Error(k, m) => Err(OpError::Failed(k, m)),
                _ => Err(OpError::Failed(FailKind::Internal, "unexpected reply to a read".into())),
            };
        }
        let c = Coordinator::get(self.params(keys::encode(partition, sort), partition, OpKind::Read, level));
        match self.drive(c, partition.to_vec(), None).await? {
            Driven::Outcome(Outcome::Read(set), _) => Ok(set),
            _ => Err(OpError::Failed(FailKind::Internal, "unexpected outcome of a read".into())),
        }
    }

    /// What a GET of (partition, sort) answers, if it is answered at once:
    /// this node is alone, this thread's shard owns the key, and the shard
    /// can answer without waiting (`Shard::read_now`). None: call
    /// [`read`](Self::read). Spares the caller a task and the general path's
    /// futures. The answer (the causal context and the values, with `lww`
    /// the LWW winner's only, as `get_reply` of the set gives them) is
    /// handed to `answer` borrowed from where the set is stored. `Ok(None)`:
    /// no value is stored (the answer is `ReadAnswer::empty`).
    pub fn read_answer_now_with<T>(
        &self,
        partition: &[u8],
        sort: &[u8],
        lww: bool,
        answer: impl FnOnce(ReadRef<'_>) -> T,
    ) -> Option<Result<Option<T>, OpError>> {
        self.local_now(partition, sort, |shard, key| shard.read_answer_now_with(key, lww, answer))
    }

    /// [`read_answer_now_with`](Self::read_answer_now_with) of the LWW winner's
    /// value only (`SiblingSet::into_lww` of the set): what each key of a
    /// RESP MGET answers.
    pub fn read_lww_now(&self, partition: &[u8], sort: &[u8]) -> Option<Result<Option<Vec<u8>>, OpError>> {
        self.local_now(partition, sort, |shard, key| shard.read_lww_now(key))
    }

    /// [`read_lww_now`](Self::read_lww_now) with the value handed to
    /// `answer` borrowed from where it is stored (`Shard::read_lww_now_with`):
    /// a RESP GET's reply is encoded from it, and EXISTS, STRLEN, TYPE and TTL
    /// take its length.
    pub fn read_lww_now_with<T>(
        &self,
        partition: &[u8],
        sort: &[u8],
        answer: impl FnOnce(&[u8]) -> T,
    ) -> Option<Result<Option<T>, OpError>> {
        self.local_now(partition, sort, |shard, key| shard.read_lww_now_with(key, answer))
    }

    /// `read(shard, engine key)` when this node is alone and this thread's
    /// shard owns (partition, sort); None otherwise, or if `read` is.
    fn local_now<T>(
        &self,
        partition: &[u8],
        sort: &[u8],
        read: impl FnOnce(&Shard, &[u8]) -> Option<Result<T, ReplicaFailure>>,
    ) -> Option<Result<T, OpError>> {
        let token = self.local_token(partition).filter(|_| self.alone())?;
        let got = keys::with_encoded(token, partition, sort, |key| read(self.mesh.local(), key))?;
        Some(got.map_err(rejected))
    }

    /// Quorum write. `ctx`: the causal context the client read (None: supersede
    /// everything the coordinating replica holds, last-writer-wins).
    /// `Err(Forward)` is returned as `Ok(Forwarded(node))` for the caller to relay.
    pub async fn write(
        self: &Rc<Self>,
        partition: &[u8],
        sort: &[u8],
        value: Option<Vec<u8>>,
        ctx: Option<VersionVector>,
        level: Option<Consistency>,
    ) -> Result<WriteOutcome, OpError> {
        let (ctx, rmw) = match ctx {
            Some(ctx) if !self.cfg.lww => (ctx, None),
            _ => (VersionVector::new(), Some(RmwOp::Blind(value.clone()))),
        };
        self.write_op(partition, sort, value, ctx, rmw, level).await
    }

    /// A read-modify-write coordinated from this node: the new value is
    /// computed by this node's replica from what it stores (atomic there) and
    /// replicated like a write. Needs this node to be a replica of the key.
    pub async fn rmw(
        self: &Rc<Self>,
        partition: &[u8],
        op: RmwOp,
        level: Option<Consistency>,
    ) -> Result<WriteOutcome, OpError> {
        self.write_op(partition, b"", None, VersionVector::new(), Some(op), level).await
    }

    async fn write_op(
        self: &Rc<Self>,
        partition: &[u8],
        sort: &[u8],
        value: Option<Vec<u8>>,
        ctx: VersionVector,
        mut rmw: Option<RmwOp>,
        level: Option<Consistency>,
    ) -> Result<WriteOutcome, OpError> {
        let alone = self.alone();
        if let Some(RmwOp::Blind(v)) = &mut rmw {
            if !(alone && self.shared.never_clustered()) {
                rmw = Some(RmwOp::Overwrite(v.take()));
            }
        }
        if alone {
            let req = ReplicaRequest::Update { id: 0, key: keys::encode(partition, sort), ctx, value };
            let started = self.start_local(partition, req, rmw).await;
            return local_write_outcome(self.mesh.finish(started).await);
        }
        let c =
            Coordinator::put(self.params(keys::encode(partition, sort), partition, OpKind::Write, level), value, ctx);
        Ok(match self.drive(c, partition.to_vec(), rmw).await? {
            Driven::Outcome(Outcome::Written { context, .. }, rmw) => {
                WriteOutcome::Written(Written::Done { context, rmw })
            }
            Driven::Outcome(Outcome::Forward(node), _) => {
                WriteOutcome::Forward(self.addrs.borrow().get(&node).cloned().unwrap_or_default())
            }
            Driven::Skipped(r) => WriteOutcome::Written(Written::Skipped(r)),
            Driven::Outcome(Outcome::Read(_), _) => {
                return Err(OpError::Failed(FailKind::Internal, "unexpected outcome of a write".into()))
            }
        })
    }

    /// Run a coordinator until it has a result; keep it running in the
    /// background afterwards if it still has work (read repair).
    async fn drive(
        self: &Rc<Self>,
        mut c: Coordinator,
        partition: Vec<u8>,
        mut rmw: Option<RmwOp>,
    ) -> Result<Driven, OpError> {
        let (tx, rx) = local_channel::new_unbounded::<(NodeId, Sent)>();
        let tx = Rc::new(tx);
        let mut rmw_result = None;
        loop {
            while let Some((node, req)) = c.poll_transmit() {
                let this_rmw =
                    if node == self.me && matches!(req, ReplicaRequest::Update { .. }) { rmw.take() } else { None };
                let (me, tx, partition) = (self.clone(), tx.clone(), partition.clone());
                glommio::spawn_local(async move {
                    let sent = me.send(node, &partition, req, this_rmw).await;
                    let _ = tx.send((node, sent)).await;
                })
                .detach();
            }
            if let Some(res) = c.poll_result() {
                if !c.is_done() {
                    let me = self.clone();
                    glommio::spawn_local(async move { me.finish_in_background(c, rx, partition).await }).detach();
                }
                return match res {
                    Ok(o) => Ok(Driven::Outcome(o, rmw_result)),
                    Err(e) => Err(OpError::Quorum(e)),
                };
            }
            let wait_ms = c.poll_timeout().map_or(1000, |t| t.saturating_sub(now_ms()).max(1));
            let next = glommio::timer::timeout(Duration::from_millis(wait_ms), async { Ok(rx.recv().await) }).await;
            match next {
                Ok(Some((node, Sent::Reply(reply, x)))) => {
                    if x.is_some() {
                        rmw_result = x;
                    }
                    c.handle_reply(node, reply, now_ms());
                }
                Ok(Some((_, Sent::Skipped(r)))) => return Ok(Driven::Skipped(r)),
                Ok(Some((_, Sent::Error(k, m)))) => return Err(OpError::Failed(k, m)),
                Ok(None) | Err(_) => c.handle_timeout(now_ms()),
            }
        }
    }

    async fn finish_in_background(
        self: Rc<Self>,
        mut c: Coordinator,
        rx: local_channel::LocalReceiver<(NodeId, Sent)>,
        partition: Vec<u8>,
    ) {
        while !c.is_done() {
            while let Some((node, req)) = c.poll_transmit() {
                let (me, partition) = (self.clone(), partition.clone());
                // Repair writes: nobody waits for their answers.
                glommio::spawn_local(async move {
                    let _ = me.send(node, &partition, req, None).await;
                })
                .detach();
            }
            if c.is_done() {
                break;
            }
            let wait_ms = c.poll_timeout().map_or(1000, |t| t.saturating_sub(now_ms()).max(1));
            let next = glommio::timer::timeout(Duration::from_millis(wait_ms), async { Ok(rx.recv().await) }).await;
            match next {
                Ok(Some((node, Sent::Reply(reply, _)))) => c.handle_reply(node, reply, now_ms()),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => c.handle_timeout(now_ms()),
            }
        }
    }
}

/// `fut`, unless it fails or takes longer than `limit`.
async fn within<T, E: std::fmt::Display>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    let run = async { fut.await.map_err(|e| e.to_string()) };
    let expire = async {
        glommio::timer::sleep(limit).await;
        Err(format!("no answer within {limit:?}"))
    };
    futures_lite::future::or(run, expire).await
}

enum Driven {
    Outcome(Outcome, Option<RmwResult>),
    Skipped(RmwResult),
}

/// A coordinated write: done here, or to be relayed to the node at this address.
pub enum WriteOutcome {
    Written(Written),
    Forward(String),
}

/// What a write on this node alone came to, from its shard's reply.
pub fn local_write_outcome(reply: ShardReply) -> Result<WriteOutcome, OpError> {
    match reply {
        ShardReply::Replica(ReplicaReply::Updated { set, .. }, rmw) => {
            Ok(WriteOutcome::Written(Written::Done { context: set.context(), rmw }))
        }
        ShardReply::Overwritten { dot, timestamp_ms, result } => {
            let mut context = VersionVector::new();
            context.add(dot, timestamp_ms);
            Ok(WriteOutcome::Written(Written::Done { context, rmw: Some(result) }))
        }
        ShardReply::Replica(ReplicaReply::Failed { failure, .. }, _) => Err(rejected(failure)),
        ShardReply::RmwSkipped(r) => Ok(WriteOutcome::Written(Written::Skipped(r))),
        ShardReply::Failed(k, m) => Err(OpError::Failed(k, m)),
        other => Err(OpError::Failed(FailKind::Internal, format!("unexpected reply to a write: {other:?}"))),
    }
}

/// What a read started by [`Cluster::start_read_lww`] came to, from its shard's reply.
pub fn local_read_outcome(reply: ShardReply) -> Result<Option<Vec<u8>>, OpError> {
    match reply {
        ShardReply::Lww(value) => Ok(value),
        ShardReply::Replica(ReplicaReply::Failed { failure, .. }, _) => Err(rejected(failure)),
        ShardReply::Failed(k, m) => Err(OpError::Failed(k, m)),
        other => Err(OpError::Failed(FailKind::Internal, format!("unexpected reply to a read: {other:?}"))),
    }
}

/// A replica's refusal, as an op's error.
fn rejected(failure: ReplicaFailure) -> OpError {
    OpError::Quorum(QuorumError::Rejected(failure))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::{DotCounter, Replica};

    /// A blind overwrite done at once (`ShardReply::Overwritten`) answers the
    /// causal context that the general path's `Updated` set would have.
    #[test]
    fn an_overwrite_done_at_once_answers_the_context_update_would() {
        let mut r = Replica::new(NodeId(3), DotCounter::restore(1000));
        let step = r.update(None, 0, &VersionVector::new(), Some(b"v".to_vec()), 1_700_000_000_123);
        let ReplicaReply::Updated { dot, set, .. } = step.reply else { panic!() };
        let context = |reply| match local_write_outcome(reply) {
            Ok(WriteOutcome::Written(Written::Done { context, rmw })) => (context, rmw),
            _ => panic!("not written"),
        };
        let rmw = || Some(RmwResult::Old { applied: true, old: None });
        let general = context(ShardReply::Replica(ReplicaReply::Updated { id: 0, dot, set }, rmw()));
        let result = RmwResult::Old { applied: true, old: None };
        let at_once = context(ShardReply::Overwritten { dot, timestamp_ms: 1_700_000_000_123, result });
        assert_eq!(at_once.0, general.0);
        assert!(matches!(at_once.1, Some(RmwResult::Old { applied: true, old: None })));
    }
}
