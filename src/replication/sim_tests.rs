//! Seeded, deterministic simulation of quorum coordinators and replicas over a
//! faulty network (virtual time in ms, one `StdRng` per seed).
//!
//! K nodes (3..=5), each with a durable in-memory store ([`MemStore`]), a
//! [`Replica`] and its live [`Coordinator`]s. The network delays (1..=8 ms,
//! sometimes +20..=200 ms, which reorders), drops with probability p, and
//! partitions the nodes into two sides for intervals; nodes crash (losing
//! their coordinators and in-flight messages, keeping their store and their
//! counter lease) and restart. Several clients issue GET / PUT / DELETE on a
//! few keys, with the context of their last read or blind, at random nodes.
//! Every replication message goes through the byte codec.
//!
//! After the client phase the faults stop, every coordinator finishes, one
//! ALL read per key repairs, and the stores are compared and merged.
//!
//! Checked (a failure prints `SIM_SEED=<seed>` to replay it):
//! 1. final anti-entropy merge of every store == exactly the applied writes no
//!    applied write's context covered (so every acknowledged write is present
//!    or superseded; nothing is silently lost, nothing superseded comes back);
//! 2. a successful read with `r + w > n` issued after a write was acknowledged
//!    with `w` sees it (its context contains the write's dot), faults or not;
//! 3. concurrent blind writes become siblings (part of 1, plus a scenario);
//! 4. after the repair reads, the replicas of every key hold equal sets;
//! 5. every coordinator answers by its deadline, and is done right after it;
//!    the event queue drains.
//!
//! Also: one dot is never issued twice for a key, and every sibling a read or
//! the final state holds is an applied write with that value.
//!
//! `SIM_SEED=123 cargo test sim_ -- --nocapture` replays one seed with stats;
//! `SIM_SEEDS=5000` runs more seeds (default 200).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::ring::{NodeId, Ring};

#[derive(Debug, Clone)]
struct Cfg {
    nodes: usize,
    keys: usize,
    clients: usize,
    ops: usize,
    drop_p: f64,
    dup_p: f64,
    store_fail_p: f64,
    timeout_ms: u64,
    crashes: bool,
    partitions: bool,
    random_levels: bool,
}

impl Cfg {
    fn from_rng(rng: &mut StdRng) -> Self {
        Self {
            nodes: rng.gen_range(3..=5),
            keys: rng.gen_range(2..=4),
            clients: rng.gen_range(2..=5),
            ops: 600,
            drop_p: [0.0, 0.01, 0.05, 0.15][rng.gen_range(0..4)],
            dup_p: [0.0, 0.03][rng.gen_range(0..2)],
            store_fail_p: [0.0, 0.0, 0.02][rng.gen_range(0..3)],
            timeout_ms: rng.gen_range(40..=150),
            crashes: rng.gen_bool(0.6),
            partitions: rng.gen_bool(0.6),
            random_levels: rng.gen_bool(0.3),
        }
    }
}

#[derive(Debug, Clone)]
enum ClientOp {
    Get,
    Put { value: Option<Vec<u8>>, ctx: VersionVector },
}

#[derive(Debug, Clone)]
struct ClientReq {
    /// `usize::MAX`: issued by the harness, not a client.
    client: usize,
    seq: u64,
    key: Vec<u8>,
    op: ClientOp,
    level: Option<Consistency>,
    issued_at: u64,
    forwarded: bool,
}

const HARNESS: usize = usize::MAX;

#[derive(Debug)]
enum Ev {
    ClientNext(usize),
    ClientTimeout { client: usize, seq: u64 },
    Arrive { from: Option<NodeId>, to: usize, inc: u64, req: ClientReq },
    Net { from: NodeId, to: usize, inc: u64, bytes: Vec<u8>, reply: bool },
    Local { node: usize, inc: u64, req: ReplicaRequest },
    Timer { node: usize, inc: u64, id: u64 },
    FaultTick,
    Restart(usize),
    PartitionEnd(u64),
    Heal,
}

struct Item {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    /// Reversed: `BinaryHeap` pops the earliest event first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

struct Pending {
    coord: Coordinator,
    req: ClientReq,
    n: usize,
    timer_at: Option<u64>,
}

struct Node {
    id: NodeId,
    up: bool,
    /// Incarnation: bumped by a crash; messages and timers of an older one are lost.
    inc: u64,
    store: MemStore,
    replica: Replica,
    coords: BTreeMap<u64, Pending>,
}

#[derive(Default)]
struct Client {
    seq: u64,
    waiting: Option<u64>,
    ctx: BTreeMap<Vec<u8>, VersionVector>,
}

struct Applied {
    value: Option<Vec<u8>>,
    ctx: VersionVector,
}

struct Acked {
    key: Vec<u8>,
    dot: Dot,
    w: usize,
    n: usize,
    at: u64,
}

#[derive(Debug, Default, Clone)]
struct Stats {
    steps: u64,
    ops: u64,
    reads_ok: u64,
    writes_ok: u64,
    quorum_not_reached: u64,
    rejected: u64,
    forwards: u64,
    client_timeouts: u64,
    dropped: u64,
    duplicated: u64,
    store_failures: u64,
    crashes: u64,
    partitions: u64,
    read_checks: u64,
    max_read_siblings: usize,
    final_siblings: usize,
    acked_superseded_by_unacked: u64,
    repair_merges: u64,
}

struct Sim {
    cfg: Cfg,
    rng: StdRng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Item>,
    ring: Ring,
    repl: ReplicationConfig,
    nodes: Vec<Node>,
    clients: Vec<Client>,
    keys: Vec<Vec<u8>>,
    /// Side of each node while partitioned, and the partition's generation.
    part: Option<(u64, Vec<bool>)>,
    part_gen: u64,
    calm: bool,
    next_id: u64,
    applied: BTreeMap<(Vec<u8>, Dot), Applied>,
    acked: Vec<Acked>,
    stats: Stats,
}

fn idx(n: NodeId) -> usize {
    n.0 as usize - 1
}

impl Sim {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let cfg = Cfg::from_rng(&mut rng);
        Self::with_cfg(cfg, rng)
    }

    fn with_cfg(cfg: Cfg, rng: StdRng) -> Self {
        let ids: Vec<NodeId> = (1..=cfg.nodes as u32).map(NodeId).collect();
        let ring = Ring::build(&ids, 16).expect("ring");
        let nodes = ids
            .iter()
            .map(|&id| Node {
                id,
                up: true,
                inc: 0,
                store: MemStore::default(),
                replica: Replica::new(id, DotCounter::default()),
                coords: BTreeMap::new(),
            })
            .collect();
        Self {
            keys: (0..cfg.keys).map(|k| format!("key{k}").into_bytes()).collect(),
            clients: (0..cfg.clients).map(|_| Client::default()).collect(),
            cfg,
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            ring,
            repl: ReplicationConfig::default(),
            nodes,
            part: None,
            part_gen: 0,
            calm: false,
            next_id: 1,
            applied: BTreeMap::new(),
            acked: Vec::new(),
            stats: Stats::default(),
        }
    }

    fn at(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Item { at, seq: self.seq, ev });
    }

    fn latency(&mut self) -> u64 {
        let base = self.rng.gen_range(1..=8);
        if !self.calm && self.rng.gen_bool(0.08) {
            base + self.rng.gen_range(20..=200)
        } else {
            base
        }
    }

    fn partitioned(&self, a: NodeId, b: NodeId) -> bool {
        self.part.as_ref().is_some_and(|(_, side)| side[idx(a)] != side[idx(b)])
    }

    fn lost(&mut self) -> bool {
        let lost = !self.calm && self.cfg.drop_p > 0.0 && self.rng.gen_bool(self.cfg.drop_p);
        if lost {
            self.stats.dropped += 1;
        }
        lost
    }

    fn send(&mut self, from: NodeId, to: NodeId, bytes: Vec<u8>, reply: bool) {
        if self.lost() {
            return;
        }
        let to = idx(to);
        let inc = self.nodes[to].inc;
        if !self.calm && self.cfg.dup_p > 0.0 && self.rng.gen_bool(self.cfg.dup_p) {
            self.stats.duplicated += 1;
            let lat = self.latency();
            self.at(self.now + lat, Ev::Net { from, to, inc, bytes: bytes.clone(), reply });
        }
        let lat = self.latency();
        self.at(self.now + lat, Ev::Net { from, to, inc, bytes, reply });
    }

    // ---- the run ----

    fn run(&mut self) {
        for c in 0..self.cfg.clients {
            let t = self.rng.gen_range(0..20);
            self.at(t, Ev::ClientNext(c));
        }
        if self.cfg.crashes || self.cfg.partitions {
            let t = self.rng.gen_range(50..400);
            self.at(t, Ev::FaultTick);
        }
        self.drain();
        assert!(self.calm, "client phase never ended");
        for n in &self.nodes {
            assert!(n.coords.is_empty(), "node {} still has coordinators {:?}", n.id, n.coords.keys());
        }
        self.repair_and_check();
    }

    fn drain(&mut self) {
        while let Some(Item { at, ev, .. }) = self.queue.pop() {
            assert!(at >= self.now, "time went backwards");
            self.now = at;
            self.stats.steps += 1;
            assert!(self.stats.steps < 2_000_000, "runaway simulation");
            self.step(ev);
        }
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::ClientNext(c) => self.client_next(c),
            Ev::ClientTimeout { client, seq } => {
                if self.clients[client].waiting == Some(seq) {
                    self.stats.client_timeouts += 1;
                    self.client_done(client);
                }
            }
            Ev::Arrive { from, to, inc, req } => {
                let node = &self.nodes[to];
                if !node.up || node.inc != inc || from.is_some_and(|f| self.partitioned(f, node.id)) {
                    return;
                }
                self.start(to, req);
            }
            Ev::Net { from, to, inc, bytes, reply } => {
                let node = &self.nodes[to];
                if !node.up || node.inc != inc || self.partitioned(from, node.id) {
                    return;
                }
                let me = node.id;
                if reply {
                    let reply = ReplicaReply::decode(&bytes).expect("reply decodes");
                    self.deliver(to, from, reply);
                } else {
                    let req = ReplicaRequest::decode(&bytes).expect("request decodes");
                    let reply = self.apply(to, &req);
                    self.send(me, from, reply.encode().expect("reply encodes"), true);
                }
            }
            Ev::Local { node, inc, req } => {
                let n = &self.nodes[node];
                if !n.up || n.inc != inc {
                    return;
                }
                let me = n.id;
                let reply = self.apply(node, &req);
                self.deliver(node, me, reply);
            }
            Ev::Timer { node, inc, id } => {
                let n = &mut self.nodes[node];
                if !n.up || n.inc != inc {
                    return;
                }
                let Some(p) = n.coords.get_mut(&id) else { return };
                if self.now < p.coord.deadline() {
                    return;
                }
                p.coord.handle_timeout(self.now);
                assert!(p.coord.is_answered(), "coordinator {id} has no result at its deadline");
                assert_eq!(p.coord.poll_timeout(), None, "coordinator {id} still waits after its deadline");
                self.drive(node, id);
                assert!(!self.nodes[node].coords.contains_key(&id), "coordinator {id} not done after its deadline");
            }
            Ev::FaultTick => self.fault(),
            Ev::Restart(i) => self.restart(i),
            Ev::PartitionEnd(gen) => {
                if self.part.as_ref().is_some_and(|(g, _)| *g == gen) {
                    self.part = None;
                }
            }
            Ev::Heal => {
                self.calm = true;
                self.part = None;
                for i in 0..self.nodes.len() {
                    self.restart(i);
                }
            }
        }
    }

    fn fault(&mut self) {
        if self.calm {
            return;
        }
        let crash = self.cfg.crashes && (!self.cfg.partitions || self.rng.gen_bool(0.5));
        if crash {
            let down = self.nodes.iter().filter(|n| !n.up).count();
            let i = self.rng.gen_range(0..self.nodes.len());
            if self.nodes[i].up && down < 2 {
                let n = &mut self.nodes[i];
                n.up = false;
                n.inc += 1;
                n.coords.clear();
                self.stats.crashes += 1;
                let t = self.now + self.rng.gen_range(50..800);
                self.at(t, Ev::Restart(i));
            }
        } else if self.part.is_none() {
            let k = self.nodes.len();
            let mut side: Vec<bool> = (0..k).map(|_| self.rng.gen_bool(0.5)).collect();
            if side.iter().all(|&s| s) || side.iter().all(|&s| !s) {
                let j = self.rng.gen_range(0..k);
                side[j] = !side[j];
            }
            self.part_gen += 1;
            self.part = Some((self.part_gen, side));
            self.stats.partitions += 1;
            let t = self.now + self.rng.gen_range(50..1000);
            self.at(t, Ev::PartitionEnd(self.part_gen));
        }
        let t = self.now + self.rng.gen_range(100..1200);
        self.at(t, Ev::FaultTick);
    }

    fn restart(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if n.up {
            return;
        }
        n.up = true;
        // The store is durable; the counter resumes from the persisted lease.
        n.replica = Replica::new(n.id, DotCounter::restore(n.store.lease));
    }

    // ---- clients ----

    fn client_next(&mut self, c: usize) {
        if self.stats.ops >= self.cfg.ops as u64 {
            if !self.calm && self.clients.iter().all(|c| c.waiting.is_none()) {
                self.at(self.now, Ev::Heal);
            }
            return;
        }
        self.stats.ops += 1;
        let key = self.keys[self.rng.gen_range(0..self.keys.len())].clone();
        let client = &mut self.clients[c];
        client.seq += 1;
        let seq = client.seq;
        let ctx = client.ctx.get(&key).cloned().unwrap_or_default();
        let value = Some(format!("c{c}-{seq}").into_bytes());
        let op = match self.rng.gen_range(0..100) {
            0..=34 => ClientOp::Get,
            35..=64 => ClientOp::Put { value, ctx },
            65..=84 => ClientOp::Put { value, ctx: VersionVector::new() },
            85..=94 => ClientOp::Put { value: None, ctx },
            _ => ClientOp::Put { value: None, ctx: VersionVector::new() },
        };
        let level = self
            .cfg
            .random_levels
            .then(|| [Consistency::One, Consistency::Quorum, Consistency::All][self.rng.gen_range(0..3)]);
        self.clients[c].waiting = Some(seq);
        let req = ClientReq { client: c, seq, key, op, level, issued_at: self.now, forwarded: false };
        let to = self.rng.gen_range(0..self.nodes.len());
        let inc = self.nodes[to].inc;
        let t = self.now + self.rng.gen_range(1..=3);
        self.at(t, Ev::Arrive { from: None, to, inc, req });
        // Long enough for a forward plus a full coordinator timeout.
        let t = self.now + 3 * self.cfg.timeout_ms + 500;
        self.at(t, Ev::ClientTimeout { client: c, seq });
    }

    fn client_done(&mut self, c: usize) {
        self.clients[c].waiting = None;
        let t = self.now + self.rng.gen_range(0..30);
        self.at(t, Ev::ClientNext(c));
    }

    // ---- a node's driver ----

    fn start(&mut self, i: usize, req: ClientReq) {
        let kind = if matches!(req.op, ClientOp::Get) { OpKind::Read } else { OpKind::Write };
        let mut plan = self.repl.plan(&self.ring, &req.key, kind, req.level);
        let up: Vec<bool> = self.nodes.iter().map(|n| n.up).collect();
        plan.live_first(|n| up[idx(n)]);
        let id = self.next_id;
        self.next_id += 1;
        let n = plan.replicas.len();
        let params = Params {
            id,
            key: req.key.clone(),
            replicas: plan.replicas,
            me: self.nodes[i].id,
            required: plan.required,
            now_ms: self.now,
            timeout_ms: self.cfg.timeout_ms,
        };
        let coord = match &req.op {
            ClientOp::Get => Coordinator::get(params),
            ClientOp::Put { value, ctx } => Coordinator::put(params, value.clone(), ctx.clone()),
        };
        self.nodes[i].coords.insert(id, Pending { coord, req, n, timer_at: None });
        self.drive(i, id);
    }

    fn apply(&mut self, i: usize, req: &ReplicaRequest) -> ReplicaReply {
        let now = self.now;
        let p = if self.calm { 0.0 } else { self.cfg.store_fail_p };
        let fail = [(); 3].map(|_| p > 0.0 && self.rng.gen_bool(p));
        let node = &mut self.nodes[i];
        let mut store = Flaky { inner: &mut node.store, fail };
        let reply = node.replica.apply(&mut store, req, now);
        if matches!(reply, ReplicaReply::Failed { failure: ReplicaFailure::Storage, .. }) {
            self.stats.store_failures += 1;
        }
        if let (ReplicaRequest::Update { key, ctx, value, .. }, ReplicaReply::Updated { dot, .. }) = (req, &reply) {
            assert!(dot.counter < node.store.lease, "dot {dot} not covered by the persisted lease");
            let prev = self.applied.insert((key.clone(), *dot), Applied { value: value.clone(), ctx: ctx.clone() });
            assert!(prev.is_none(), "dot {dot} issued twice on {key:?}");
        }
        reply
    }

    fn deliver(&mut self, i: usize, from: NodeId, reply: ReplicaReply) {
        let id = reply.id();
        let now = self.now;
        if let Some(p) = self.nodes[i].coords.get_mut(&id) {
            p.coord.handle_reply(from, reply, now);
            self.drive(i, id);
        }
    }

    fn drive(&mut self, i: usize, id: u64) {
        let Some(mut p) = self.nodes[i].coords.remove(&id) else { return };
        let (me, inc) = (self.nodes[i].id, self.nodes[i].inc);
        while let Some((to, req)) = p.coord.poll_transmit() {
            if to == me {
                self.at(self.now, Ev::Local { node: i, inc, req });
            } else {
                if p.coord.is_answered() && matches!(p.req.op, ClientOp::Get) {
                    self.stats.repair_merges += 1;
                }
                self.send(me, to, req.encode().expect("request encodes"), false);
            }
        }
        if let Some(res) = p.coord.poll_result() {
            assert!(self.now <= p.coord.deadline(), "result after the deadline");
            self.on_result(i, &p, res);
        }
        if p.coord.is_done() {
            return;
        }
        let t = p.coord.poll_timeout().expect("a coordinator that is not done has a deadline");
        if p.timer_at != Some(t) {
            p.timer_at = Some(t);
            self.at(t, Ev::Timer { node: i, inc, id });
        }
        self.nodes[i].coords.insert(id, p);
    }

    fn on_result(&mut self, i: usize, p: &Pending, res: Result<Outcome, QuorumError>) {
        let req = &p.req;
        match res {
            Ok(Outcome::Forward(target)) => {
                self.stats.forwards += 1;
                assert!(!req.forwarded, "forwarded twice");
                let mut fwd = req.clone();
                fwd.forwarded = true;
                if !self.lost() {
                    let t = self.now + self.latency();
                    let to = idx(target);
                    let inc = self.nodes[to].inc;
                    self.at(t, Ev::Arrive { from: Some(self.nodes[i].id), to, inc, req: fwd });
                }
                return;
            }
            Ok(Outcome::Written { dot, context }) => {
                self.stats.writes_ok += 1;
                let applied = self.applied.get(&(req.key.clone(), dot)).expect("acked dot was applied");
                if let ClientOp::Put { value, ctx } = &req.op {
                    assert_eq!((&applied.value, &applied.ctx), (value, ctx), "acked dot names another write");
                }
                assert!(context.contains(dot));
                self.acked.push(Acked { key: req.key.clone(), dot, w: p.coord.required(), n: p.n, at: self.now });
                if req.client != HARNESS && self.rng.gen_bool(0.5) {
                    self.clients[req.client].ctx.insert(req.key.clone(), context);
                }
            }
            Ok(Outcome::Read(set)) => {
                self.stats.reads_ok += 1;
                self.check_siblings(&req.key, &set, "read");
                self.stats.max_read_siblings = self.stats.max_read_siblings.max(set.len());
                let r = p.coord.required();
                for a in self.acked.iter().filter(|a| a.key == req.key && a.at < req.issued_at && a.w + r > a.n) {
                    self.stats.read_checks += 1;
                    assert!(
                        set.context().contains(a.dot),
                        "read (r={r}) issued at {} misses write {} acked (w={}) at {}",
                        req.issued_at,
                        a.dot,
                        a.w,
                        a.at
                    );
                }
                if req.client != HARNESS {
                    self.clients[req.client].ctx.insert(req.key.clone(), set.context());
                }
            }
            Err(QuorumError::QuorumNotReached { got, needed }) => {
                assert!(got < needed);
                self.stats.quorum_not_reached += 1;
            }
            Err(QuorumError::Rejected(_)) => self.stats.rejected += 1,
            Err(e) => panic!("unexpected {e}"),
        }
        if req.client != HARNESS && self.clients[req.client].waiting == Some(req.seq) {
            self.client_done(req.client);
        }
    }

    /// Every sibling is an applied write of this key, with its value.
    fn check_siblings(&self, key: &[u8], set: &SiblingSet, what: &str) {
        for (dot, v) in set.siblings() {
            let a = self.applied.get(&(key.to_vec(), *dot)).unwrap_or_else(|| panic!("{what}: phantom sibling {dot}"));
            assert_eq!(a.value, v.value, "{what}: sibling {dot} has another value");
        }
    }

    // ---- the end: repair reads, convergence, anti-entropy ----

    fn repair_and_check(&mut self) {
        for k in 0..self.keys.len() {
            let key = self.keys[k].clone();
            let i = self.rng.gen_range(0..self.nodes.len());
            let req = ClientReq {
                client: HARNESS,
                seq: 0,
                key,
                op: ClientOp::Get,
                level: Some(Consistency::All),
                issued_at: self.now,
                forwarded: false,
            };
            let reads_before = self.stats.reads_ok;
            self.start(i, req);
            self.drain();
            assert_eq!(self.stats.reads_ok, reads_before + 1, "repair read of key {k} failed");
        }
        for key in self.keys.clone() {
            // 4. Convergence: every replica of the key holds the same set.
            let replicas = self.ring.preference_list(crate::ring::token(&key), self.repl.n);
            let sets: Vec<SiblingSet> = replicas
                .iter()
                .map(|&r| self.nodes[idx(r)].store.sets.get(&key).cloned().unwrap_or_default())
                .collect();
            for (r, s) in replicas.iter().zip(&sets) {
                assert_eq!(s, &sets[0], "replica {r} of {key:?} diverges after read repair");
            }
            for n in self.nodes.iter().filter(|n| !replicas.contains(&n.id)) {
                assert!(!n.store.sets.contains_key(&key), "non-replica {} stores {key:?}", n.id);
            }
            // 1. Anti-entropy merge of everything == the writes nobody superseded.
            let mut all = SiblingSet::new();
            for n in &self.nodes {
                if let Some(s) = n.store.sets.get(&key) {
                    all.merge(s);
                }
            }
            assert_eq!(all, sets[0], "read repair did not reach the full merge");
            self.check_siblings(&key, &all, "final");
            let writes: Vec<(Dot, &Applied)> =
                self.applied.iter().filter(|((k, _), _)| *k == key).map(|((_, d), a)| (*d, a)).collect();
            let covered = |d: Dot| writes.iter().any(|(_, a)| a.ctx.contains(d));
            let expected: Vec<Dot> = writes.iter().map(|(d, _)| *d).filter(|&d| !covered(d)).collect();
            let got: Vec<Dot> = all.siblings().map(|(d, _)| *d).collect();
            assert_eq!(got, expected, "final siblings of {key:?} != writes no context covered");
            self.stats.final_siblings = self.stats.final_siblings.max(got.len());
            for a in self.acked.iter().filter(|a| a.key == key) {
                let kept = all.siblings().any(|(d, _)| *d == a.dot);
                let acked_cover =
                    self.acked.iter().any(|b| b.key == key && self.applied[&(key.clone(), b.dot)].ctx.contains(a.dot));
                assert!(kept || covered(a.dot), "acknowledged write {} on {key:?} lost", a.dot);
                if !kept && !acked_cover {
                    self.stats.acked_superseded_by_unacked += 1;
                }
            }
        }
    }
}

/// A store whose get / put / lease write fail when told to.
struct Flaky<'a> {
    inner: &'a mut MemStore,
    fail: [bool; 3],
}

impl ReplicaStore for Flaky<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<SiblingSet>, ReplicaFailure> {
        if self.fail[0] {
            return Err(ReplicaFailure::Storage);
        }
        self.inner.get(key)
    }

    fn put(&mut self, key: &[u8], set: &SiblingSet) -> Result<(), ReplicaFailure> {
        if self.fail[1] {
            return Err(ReplicaFailure::Storage);
        }
        self.inner.put(key, set)
    }

    fn persist_lease(&mut self, lease_end: u64) -> Result<(), ReplicaFailure> {
        if self.fail[2] {
            return Err(ReplicaFailure::Storage);
        }
        self.inner.persist_lease(lease_end)
    }
}

/// Prints the seed if the simulation panics.
struct SeedGuard(u64);

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("\n*** simulation failed: replay with SIM_SEED={} cargo test sim_ -- --nocapture\n", self.0);
        }
    }
}

fn run_seed(seed: u64) -> Stats {
    let _guard = SeedGuard(seed);
    let mut sim = Sim::new(seed);
    sim.run();
    sim.stats
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs seeds `part, part + parts, ...` below `SIM_SEEDS` (default 200), or
/// only `SIM_SEED` (with stats) if set.
fn run_seeds(part: u64, parts: u64) {
    if let Some(seed) = env_u64("SIM_SEED") {
        if seed % parts == part {
            let cfg = Cfg::from_rng(&mut StdRng::seed_from_u64(seed));
            println!("seed {seed}: {cfg:?}");
            println!("{:#?}", run_seed(seed));
        }
        return;
    }
    let count = env_u64("SIM_SEEDS").unwrap_or(200);
    let mut total = Stats::default();
    for seed in (part..count).step_by(parts as usize) {
        let s = run_seed(seed);
        if std::env::var_os("SIM_VERBOSE").is_some() {
            println!("seed {seed}: {s:?}");
        }
        total.steps += s.steps;
        total.ops += s.ops;
        total.dropped += s.dropped;
        total.duplicated += s.duplicated;
        total.store_failures += s.store_failures;
        total.crashes += s.crashes;
        total.partitions += s.partitions;
        total.client_timeouts += s.client_timeouts;
        total.repair_merges += s.repair_merges;
        total.final_siblings = total.final_siblings.max(s.final_siblings);
        total.writes_ok += s.writes_ok;
        total.reads_ok += s.reads_ok;
        total.quorum_not_reached += s.quorum_not_reached;
        total.read_checks += s.read_checks;
        total.forwards += s.forwards;
        total.acked_superseded_by_unacked += s.acked_superseded_by_unacked;
        total.max_read_siblings = total.max_read_siblings.max(s.max_read_siblings);
    }
    println!("seeds {part}..{count} step {parts}: {total:?}");
}

#[test]
fn sim_seeds_even() {
    run_seeds(0, 2);
}

#[test]
fn sim_seeds_odd() {
    run_seeds(1, 2);
}

/// Scenario: two blind writes through different coordinators, at the same
/// time, both acknowledged, become siblings that a quorum read returns.
#[test]
fn sim_concurrent_blind_writes_become_siblings() {
    let cfg = Cfg {
        nodes: 3,
        keys: 1,
        clients: 0,
        ops: 0,
        drop_p: 0.0,
        dup_p: 0.0,
        store_fail_p: 0.0,
        timeout_ms: 100,
        crashes: false,
        partitions: false,
        random_levels: false,
    };
    let mut sim = Sim::with_cfg(cfg, StdRng::seed_from_u64(0));
    sim.calm = true;
    for (i, v) in [(0usize, "left"), (1, "right")] {
        let req = ClientReq {
            client: HARNESS,
            seq: 0,
            key: b"key0".to_vec(),
            op: ClientOp::Put { value: Some(v.as_bytes().to_vec()), ctx: VersionVector::new() },
            level: None,
            issued_at: 0,
            forwarded: false,
        };
        sim.start(i, req);
    }
    sim.drain();
    assert_eq!(sim.stats.writes_ok, 2);
    sim.repair_and_check();
    let set = sim.nodes[2].store.sets[&b"key0"[..]].clone();
    assert_eq!(set.values(), vec![&b"left"[..], &b"right"[..]]);
}

// Regression seeds: kept because they exercise something rare (the stats
// assertions say what). Changing the simulator changes what a seed does: if
// one of these assertions fails after such a change, pick a new seed with
// `SIM_VERBOSE=1 cargo test sim_seeds -- --nocapture`.

/// Killed the mutations "ack before W", "no read repair", "read merges one
/// reply", "update ignores the context": drops, storage failures, forwards.
#[test]
fn regression_seed_0() {
    let s = run_seed(0);
    assert!(s.dropped > 0 && s.store_failures > 0 && s.forwards > 0 && s.repair_merges > 0, "{s:?}");
}

/// Many concurrent blind writes under partitions: 29 siblings survive to the end.
#[test]
fn regression_seed_12() {
    let s = run_seed(12);
    assert!(s.final_siblings >= 10 && s.partitions > 0, "{s:?}");
}

/// Lease writes fail: caught a counter lease advanced in memory although its
/// persist failed (a dot beyond the durable lease, reusable after a restart).
#[test]
fn regression_seed_15() {
    let s = run_seed(15);
    assert!(s.store_failures > 0, "{s:?}");
}

/// Acknowledged writes later superseded by writes that themselves failed
/// (QuorumNotReached but applied on their coordinator), with crashes.
#[test]
fn regression_seed_67() {
    let s = run_seed(67);
    assert!(s.acked_superseded_by_unacked > 0 && s.crashes > 0, "{s:?}");
}

/// The most QuorumNotReached of the first 200 seeds: partitions, storage
/// failures and forwards together.
#[test]
fn regression_seed_116() {
    let s = run_seed(116);
    assert!(s.quorum_not_reached > 100 && s.forwards > 0 && s.store_failures > 0, "{s:?}");
}
