//! What one shard can be asked to do, and how: the unit of work that crosses
//! the cross-core mesh (so: owned, `Send`).
//!
//! A stored value is a [`SiblingSet`] (docs/CAUSALITY.md): every client write
//! goes through the replication layer (`replication::Replica`), even on a
//! single node, so the format never changes when a node joins a cluster.
//!
//! Every op runs in two phases. [`start`] is the *ordered* part: ops take
//! their key lock; writes are paced, read the stored set, and are applied to
//! the engine (`write_start`); reads read. Ops started one after another on a
//! key take effect in that order, even when one of them has to wait.
//! [`finish`] is the part that may overlap with later ops: waiting for the
//! group commit, or a scan.

use std::cell::{Cell, RefCell};
use std::ops::Bound;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashSet;

use crate::keys;
use crate::replication::{
    CausalError, Dot, DotCounter, ReadRef, Replica, ReplicaFailure, ReplicaReply, ReplicaRequest, SiblingSet, Step,
    VersionVector,
};
use crate::ring::NodeId;
use crate::storage::notify::Notify;
use crate::storage::{memtable, DmaDisk, Engine, Error as StorageError, Latest, SeqNo, Stats, ValueKind, WriteBatch};

/// Where the shard keeps its dot-counter lease. Shorter than any user key
/// (those start with a 10-byte token + length prefix), so never one of them.
const LEASE_KEY: &[u8] = b"\xffdot-lease";

#[derive(Debug)]
pub enum ShardOp {
    /// One replication message for a key of this shard; with `rmw`, an
    /// `Update` whose value is computed here from the stored set (and whose
    /// context is the stored set's: it supersedes what is stored).
    Replica {
        req: ReplicaRequest,
        rmw: Option<RmwOp>,
    },
    /// Live items with `start <= key < end` (no end: to the end), at most `limit`.
    Scan {
        start: Vec<u8>,
        end: Option<Vec<u8>>,
        limit: usize,
    },
    /// Keys without a sort key (as partition keys) from token `from` on:
    /// about `count` of them, always every key of the last token returned.
    /// Reply `Keys`; `next` is the token to go on from, None when the shard is done.
    ScanPartitions {
        from: u64,
        count: usize,
    },
    /// Number of live keys without a sort key (`Shard::count_keys`).
    CountPartitions {
        /// A count taken a while ago will do (INFO); otherwise exact (DBSIZE).
        stale_ok: bool,
    },
    /// A plain read of `key` (as `ReplicaRequest::Get`) answering only what
    /// a client that cannot see siblings gets: `ShardReply::Lww`, the
    /// last-writer-wins value (`SiblingSet::into_lww` of the stored set).
    GetLww {
        key: Vec<u8>,
    },
    /// Delete every key of the shard (node-local).
    DeleteAll,
    Stats,
    /// `Shard::resp`, as `ShardReply::Resp`.
    RespCounters,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetWhen {
    Always,
    IfMissing,
    IfExists,
}

/// Read-modify-write on the value a RESP client sees (the LWW winner).
#[derive(Debug)]
pub enum RmwOp {
    /// Result `Old { applied, old }`.
    Set { value: Vec<u8>, when: SetWhen },
    /// Delete; result `Old { applied: existed, old }`.
    Take,
    /// Add to an integer value; result `Int(new)`.
    IncrBy(i64),
    /// Append; result `Int(new length)`; fails past `max_len`.
    Append { value: Vec<u8>, max_len: usize },
    /// Write (a value, or a deletion) superseding everything stored; result
    /// `Old { applied: existed, old }`. Last-writer-wins for this write.
    Overwrite(Option<Vec<u8>>),
    /// `Overwrite` whose caller needs no result (SET, MSET, a native PUT
    /// with the overwrite flag), so the shard does not read what is stored:
    /// the new set's fresh dot from this node's counter supersedes every
    /// version this node ever wrote. Sound only on a node that has never had
    /// a peer (`SharedMembers::never_clustered`): only then can no stored
    /// version carry another node's dot. `Cluster` turns it into `Overwrite`
    /// otherwise. Result `Old { applied: true, old: None }`.
    Blind(Option<Vec<u8>>),
}

#[derive(Debug)]
pub enum RmwResult {
    Old { applied: bool, old: Option<Vec<u8>> },
    Int(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// The engine refuses writes (failed sync, failed background job).
    ReadOnly,
    /// Bad argument (limits, not an integer, ...).
    BadRequest,
    /// Shutting down or closed.
    Unavailable,
    Internal,
}

/// One scanned item: the key and its stored set (never deleted-only).
pub type ScanRow = (Vec<u8>, SiblingSet);

#[derive(Debug)]
pub enum ShardReply {
    Replica(ReplicaReply, Option<RmwResult>),
    /// A blind overwrite done by [`Shard::blind_write_now`], or a
    /// read-modify-write that [`Shard::rmw_now`] wrote as one: the key now
    /// holds one version, at `dot` and stamped `timestamp_ms`, under a clock
    /// of that dot alone (the set `Replica::update` would have built, and
    /// replied with, as `Updated`). `result` is the op's (a plain overwrite's
    /// is `Old { applied: true, old: None }`).
    Overwritten {
        dot: Dot,
        timestamp_ms: u64,
        result: RmwResult,
    },
    /// An `rmw` that decided not to write (e.g. SET NX on an existing key).
    RmwSkipped(RmwResult),
    Rows(Vec<ScanRow>),
    Int(i64),
    Keys {
        keys: Vec<Vec<u8>>,
        next: Option<u64>,
    },
    Stats(Box<Stats>),
    Resp(RespCounters),
    /// The answer to `GetLww`: the value, None if the key has none.
    Lww(Option<Vec<u8>>),
    Done,
    Failed(FailKind, String),
}

fn failed(e: StorageError) -> ShardReply {
    let kind = match &e {
        StorageError::ReadOnly(_) => FailKind::ReadOnly,
        StorageError::InvalidArgument(_) => FailKind::BadRequest,
        StorageError::Closed => FailKind::Unavailable,
        _ => FailKind::Internal,
    };
    ShardReply::Failed(kind, e.to_string())
}

/// One shard's state beyond its engine: the replica (dot counter) and key locks.
pub struct Shard {
    pub engine: Rc<Engine<DmaDisk>>,
    replica: RefCell<Replica>,
    /// Keys with an op in its ordered part, by 64-bit hash: two keys that
    /// share a hash only wait for each other, which is harmless.
    locked: RefCell<FxHashSet<u64>>,
    unlocked: Notify,
    /// What this shard's RESP connections did (INFO sums every shard's:
    /// `ShardOp::RespCounters`).
    pub resp: RespCells,
    /// The last count of `CountPartitions`, and what it was as of.
    key_count: Cell<Option<KeyCount>>,
    /// Where a blind write encodes its set ([`Shard::write_blind`]), kept
    /// from one to the next.
    blind_set: RefCell<Vec<u8>>,
}

/// [`Shard::blind_set`]'s capacity kept after a write of a large value.
const BLIND_SET_KEEP_BYTES: usize = 64 << 10;

/// A shard's RESP counters, as INFO reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RespCounters {
    /// Commands handled (`total_commands_processed`).
    pub commands: u64,
    /// Connections open now (`connected_clients`).
    pub connected: u64,
    /// Connections accepted since start (`total_connections_received`).
    pub accepted: u64,
}

/// [`RespCounters`] as a shard keeps them.
#[derive(Default)]
pub struct RespCells {
    commands: Cell<u64>,
    connected: Cell<u64>,
    accepted: Cell<u64>,
}

impl RespCells {
    pub fn get(&self) -> RespCounters {
        RespCounters { commands: self.commands.get(), connected: self.connected.get(), accepted: self.accepted.get() }
    }

    /// Count a command handled.
    pub fn command(&self) {
        self.commands.set(self.commands.get() + 1);
    }

    /// Count a connection accepted; it counts as connected until the guard drops.
    pub fn connect(&self) -> Connected<'_> {
        self.accepted.set(self.accepted.get() + 1);
        self.connected.set(self.connected.get() + 1);
        Connected(self)
    }
}

/// A connection [`RespCells::connect`] counted, until dropped.
pub struct Connected<'a>(&'a RespCells);

impl Drop for Connected<'_> {
    fn drop(&mut self) {
        self.0.connected.set(self.0.connected.get().saturating_sub(1));
    }
}

/// A count of the shard's RESP keys (a walk over all of them).
#[derive(Clone, Copy)]
struct KeyCount {
    n: i64,
    /// Every write up to here is counted.
    as_of: SeqNo,
    done: Instant,
    took: Duration,
}

/// A count that may be stale is taken again only once this many times its
/// own length has passed since it was: INFO polled in a loop spends at most
/// ~1/20 of the shard's time counting, on any number of keys.
const RECOUNT_AFTER_TIMES_TOOK: u32 = 20;

impl KeyCount {
    /// Whether this count answers at `now`, with `last_seq` the shard's last
    /// write: exactly, if nothing was written since; with `stale_ok`, while
    /// it is younger than [`RECOUNT_AFTER_TIMES_TOOK`] times its own length.
    fn answers(&self, last_seq: SeqNo, now: Instant, stale_ok: bool) -> bool {
        let young = now.saturating_duration_since(self.done) < self.took.saturating_mul(RECOUNT_AFTER_TIMES_TOOK);
        self.as_of == last_seq || (stale_ok && young)
    }
}

/// Holds a key locked; unlocks on drop.
struct KeyGuard<'a> {
    shard: &'a Shard,
    hash: u64,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        self.shard.locked.borrow_mut().remove(&self.hash);
        self.shard.unlocked.notify_all();
    }
}

/// The key of `Shard::locked`: the memtable's hash of the key, which a
/// blind write has already (`Shard::blind_write_now`).
fn lock_hash(key: &[u8]) -> u64 {
    memtable::key_hash(key)
}

/// This node's wall clock in milliseconds, read from `CLOCK_REALTIME_COARSE`:
/// one kernel tick of resolution (1–4 ms) for ~3 ns a read, where the exact
/// clock costs ~21 ns in a VM (1.5% of a SET, which reads it once). What it
/// stamps needs no finer: a version's timestamp only breaks ties between
/// concurrent siblings and ages clock entries for pruning, and timeouts are
/// whole milliseconds.
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we pass, which we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } != 0 {
        return std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    }
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

impl Shard {
    /// Wait until the write of `seq` is as durable as the sync mode
    /// promises, as [`finish`] of a `Pending::Durable` does; its failure
    /// otherwise.
    pub async fn wait_durable(&self, seq: SeqNo) -> Result<(), ShardReply> {
        self.engine.wait_durable(seq).await.map_err(failed)
    }

    /// Load the dot-counter lease and make the shard's replica.
    pub async fn open(engine: Rc<Engine<DmaDisk>>, node: NodeId) -> Result<Self, StorageError> {
        let lease = match engine.get(LEASE_KEY).await? {
            Some(v) if v.len() == 8 => u64::from_le_bytes(v.try_into().unwrap_or([0; 8])),
            _ => 0,
        };
        let replica = Replica::new(node, DotCounter::restore(lease));
        Ok(Shard {
            engine,
            replica: RefCell::new(replica),
            locked: RefCell::new(FxHashSet::default()),
            unlocked: Notify::default(),
            resp: RespCells::default(),
            key_count: Cell::new(None),
            blind_set: RefCell::new(Vec::new()),
        })
    }

    /// Live keys without a sort key: the last count if it still answers
    /// (`KeyCount::answers`), else a new one.
    async fn count_keys(&self, stale_ok: bool) -> Result<i64, StorageError> {
        if let Some(c) = self.key_count.get().filter(|c| c.answers(self.engine.last_seq(), Instant::now(), stale_ok)) {
            return Ok(c.n);
        }
        let as_of = self.engine.last_seq();
        let started = Instant::now();
        let n = self
            .engine
            .count(Bound::Unbounded, Bound::Unbounded, |k, v| partition_only(k).is_some() && SiblingSet::holds_value(v))
            .await?;
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.key_count.set(Some(KeyCount { n, as_of, done: Instant::now(), took: started.elapsed() }));
        Ok(n)
    }

    /// Wait until no other op holds `key`, then hold it. Reads lock too: an
    /// op whose ordered part waits (a dot-counter lease sync, pacing, a read
    /// from disk) must not be overtaken by ops started after it on the key.
    async fn lock(&self, key: &[u8]) -> KeyGuard<'_> {
        let hash = lock_hash(key);
        loop {
            let wait = self.unlocked.wait();
            if self.locked.borrow_mut().insert(hash) {
                return KeyGuard { shard: self, hash };
            }
            wait.await;
        }
    }

    /// Whether an op holds `key` (see `lock`).
    fn is_locked(&self, key: &[u8]) -> bool {
        self.is_locked_hashed(lock_hash(key))
    }

    /// [`is_locked`](Self::is_locked) of the key whose [`lock_hash`] is `hash`.
    fn is_locked_hashed(&self, hash: u64) -> bool {
        self.locked.borrow().contains(&hash)
    }

    /// The stored set of `key` (None if never written), even if not durable yet.
    /// A failure to read or decode it is logged here and is a storage failure.
    async fn load(&self, key: &[u8]) -> Result<Option<SiblingSet>, ReplicaFailure> {
        stored_set(self.engine.get_latest(key).await)
    }

    /// The ordered part of a blind overwrite of `key` (`RmwOp::Blind` of an
    /// `Update` with id 0, as `Cluster::start_blind` sends), done at once if
    /// nothing would make it wait: no op holds the key, writes are not being
    /// paced, and the confirmed dot-counter lease covers its dot. Else None,
    /// for the general path. Borrows the key and value: it copies them only
    /// where they are stored. `key_hash`: `memtable::key_hash(key)`, which
    /// the caller has (its prefetch hint's): it serves the key lock and the
    /// memtable alike.
    pub fn blind_write_now(&self, key: &[u8], key_hash: u64, value: Option<&[u8]>) -> Option<Pending> {
        if self.is_locked_hashed(key_hash) || !self.engine.pace_now() {
            return None;
        }
        let dot = self.replica.borrow_mut().issue_blind_dot()?;
        Some(self.write_blind(key, key_hash, dot, value, RmwResult::Old { applied: true, old: None }))
    }

    /// Write `value` (None: a tombstone) to `key` as one version at `dot`, an
    /// issued blind dot, under a clock of that dot alone: the set `update`
    /// would build, encoded straight away, with no set built and dropped.
    /// Replies `Overwritten` with `result` once durable.
    fn write_blind(&self, key: &[u8], key_hash: u64, dot: Dot, value: Option<&[u8]>, result: RmwResult) -> Pending {
        let timestamp_ms = now_ms();
        let mut set = self.blind_set.borrow_mut();
        let pending = match SiblingSet::encode_blind_into(dot, timestamp_ms, value, &mut set) {
            Ok(()) => put_set(self, key, key_hash, &set, ShardReply::Overwritten { dot, timestamp_ms, result }),
            Err(_) => replica_failed(0, ReplicaFailure::TooLarge),
        };
        if set.capacity() > BLIND_SET_KEEP_BYTES {
            *set = Vec::new();
        }
        pending
    }

    /// The ordered part of a read-modify-write of `key` (an `Update` with id
    /// 0 and an `RmwOp`, as the general path runs it), done at once if
    /// nothing would make it wait: no op holds the key, writes are not being
    /// paced, what is stored is in memory, and the confirmed dot-counter
    /// lease covers the dot the update issues. Else the key and op back.
    ///
    /// `blind`: the node has never had a peer, so every stored version is
    /// this node's and a fresh dot supersedes them all: the new value is then
    /// written as a blind overwrite (see `RmwOp::Blind`), and only the LWW
    /// winner is decoded. The stored set ends the same but for its clock,
    /// which holds only the new dot instead of also this node's older ones.
    // The Err is the op handed back unchanged (see `finish_now`).
    #[allow(clippy::result_large_err)]
    pub fn rmw_now(&self, key: Vec<u8>, op: RmwOp, blind: bool) -> Result<Pending, (Vec<u8>, RmwOp)> {
        if self.is_locked(&key) || !self.engine.pace_now() {
            return Err((key, op));
        }
        let Some(read) = self.engine.get_latest_now(&key) else { return Err((key, op)) };
        if blind {
            if !self.replica.borrow().lease_covers_blind_update() {
                return Err((key, op));
            }
            let current = match stored(read, SiblingSet::decode_lww) {
                Ok(v) => v.flatten(),
                Err(failure) => return Ok(replica_failed(0, failure)),
            };
            // Deleting what is not there writes nothing (as GETDEL): on a
            // node never in a cluster, no replica holds a value unseen here.
            let op = match op {
                RmwOp::Overwrite(None) if current.is_none() => RmwOp::Take,
                op => op,
            };
            let (value, result) = match compute(op, current.as_deref()) {
                Ok(x) => x,
                Err(reply) => return Ok(unwritten(self, reply)),
            };
            let Some(dot) = self.replica.borrow_mut().issue_blind_dot() else {
                return Ok(Pending::Ready(ShardReply::Failed(FailKind::Internal, "blind dot not covered".into())));
            };
            return Ok(self.write_blind(&key, memtable::key_hash(&key), dot, value.as_deref(), result));
        }
        let stored = match stored_set(read) {
            Ok(s) => s,
            Err(failure) => return Ok(replica_failed(0, failure)),
        };
        let ctx = stored.as_ref().map_or_else(VersionVector::new, SiblingSet::context);
        if !self.replica.borrow().lease_covers_update(&ctx) {
            return Err((key, op));
        }
        let current = stored.as_ref().and_then(|s| s.resolve_lww());
        let (value, result) = match compute(op, current) {
            Ok(x) => x,
            Err(reply) => return Ok(unwritten(self, reply)),
        };
        let step = self.replica.borrow_mut().update(stored, 0, &ctx, value, now_ms());
        debug_assert!(step.persist_lease.is_none(), "a covered update asked for a lease");
        Ok(write_step(self, key, 0, step, Some(result)))
    }

    /// What a plain read of `key` (`ReplicaRequest::Get`) answers, if it can
    /// be answered at once: everything written so far is as durable as the
    /// sync mode promises (so is what the read sees), no op holds the key,
    /// and no disk read is needed. None: take the general path, which waits.
    pub fn read_now(&self, key: &[u8]) -> Option<Result<Option<SiblingSet>, ReplicaFailure>> {
        self.read_now_with(key, SiblingSet::decode)
    }

    /// [`read_now`](Self::read_now) of what a client that cannot see
    /// siblings gets (`SiblingSet::into_lww`), decoding only that.
    pub fn read_lww_now(&self, key: &[u8]) -> Option<Result<Option<Vec<u8>>, ReplicaFailure>> {
        self.read_lww_now_with(key, <[u8]>::to_vec)
    }

    /// [`read_lww_now`](Self::read_lww_now) with the value handed to
    /// `answer` borrowed from where the set is stored (None, and `answer`
    /// not called: no value).
    pub fn read_lww_now_with<T>(
        &self,
        key: &[u8],
        answer: impl FnOnce(&[u8]) -> T,
    ) -> Option<Result<Option<T>, ReplicaFailure>> {
        Some(self.read_now_with(key, |bytes| Ok(SiblingSet::lww_ref(bytes)?.map(answer)))?.map(Option::flatten))
    }

    /// [`read_now`](Self::read_now) of what a GET answers: the context and
    /// the values (`SiblingSet::read_ref`), decoding only that, handed to
    /// `answer` borrowed from where the set is stored.
    pub fn read_answer_now_with<T>(
        &self,
        key: &[u8],
        lww: bool,
        answer: impl FnOnce(ReadRef<'_>) -> T,
    ) -> Option<Result<Option<T>, ReplicaFailure>> {
        self.read_now_with(key, |bytes| SiblingSet::read_ref(bytes, lww).map(answer))
    }

    /// A read decoded by `decode` from the stored set in place (in the
    /// memtable or the cached block).
    fn read_now_with<T>(
        &self,
        key: &[u8],
        decode: impl FnOnce(&[u8]) -> Result<T, CausalError>,
    ) -> Option<Result<Option<T>, ReplicaFailure>> {
        if !self.engine.durable_now(self.engine.last_seq()) || self.is_locked(key) {
            return None;
        }
        let read =
            self.engine.get_latest_now_with(key, |_, kind, bytes| (kind == ValueKind::Value).then(|| decode(bytes)))?;
        Some(decoded(read.map(Option::flatten)))
    }
}

/// A stored set from what the engine read (see `Shard::load`).
fn stored_set(read: Result<Latest, StorageError>) -> Result<Option<SiblingSet>, ReplicaFailure> {
    stored(read, SiblingSet::decode)
}

/// What the engine read, decoded by `decode`; a failure to read or decode
/// it is logged here and is a storage failure.
fn stored<T>(
    read: Result<Latest, StorageError>,
    decode: impl FnOnce(&[u8]) -> Result<T, CausalError>,
) -> Result<Option<T>, ReplicaFailure> {
    decoded(read.map(|latest| latest.and_then(|(_, bytes)| bytes).map(|b| decode(&b))))
}

/// A stored set's decoding, or why there is none: a failure to read or
/// decode is logged here and is a storage failure.
fn decoded<T>(read: Result<Option<Result<T, CausalError>>, StorageError>) -> Result<Option<T>, ReplicaFailure> {
    let stored = match read.map_err(|e| e.to_string()) {
        Ok(Some(d)) => d.map(Some).map_err(|e| format!("stored set: {e}")),
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    stored.map_err(|e| {
        tracing::error!(error = %e, "cannot read stored set");
        ReplicaFailure::Storage
    })
}

/// The rest of an op after its ordered part.
pub enum Pending {
    Ready(ShardReply),
    /// Reply once `seq` is durable.
    Durable(SeqNo, ShardReply),
    /// A read, done entirely in `finish`.
    Read(ShardOp),
}

/// [`start`] of `op` if nothing would make it wait, else `op` back: a plain
/// read the shard answers at once (`Shard::read_now`), or a blind overwrite as
/// `Cluster::start_blind` sends it (`Shard::blind_write_now`). Spares a shard
/// that receives `op` over the mesh `start`'s futures.
#[allow(clippy::result_large_err)] // the op handed back unchanged, as `finish_now`
pub fn start_now(shard: &Shard, op: ShardOp) -> Result<Pending, ShardOp> {
    match op {
        ShardOp::Replica { req: ReplicaRequest::Get { id, key }, rmw: None } => match shard.read_now(&key) {
            Some(Ok(stored)) => {
                Ok(Pending::Ready(ShardReply::Replica(ReplicaReply::Got { id, set: stored.unwrap_or_default() }, None)))
            }
            Some(Err(failure)) => Ok(replica_failed(id, failure)),
            None => Err(ShardOp::Replica { req: ReplicaRequest::Get { id, key }, rmw: None }),
        },
        ShardOp::Replica {
            req: ReplicaRequest::Update { id: 0, key, ctx, value: None },
            rmw: Some(RmwOp::Blind(v)),
        } if ctx.is_empty() => {
            shard.blind_write_now(&key, memtable::key_hash(&key), v.as_deref()).ok_or(ShardOp::Replica {
                req: ReplicaRequest::Update { id: 0, key, ctx, value: None },
                rmw: Some(RmwOp::Blind(v)),
            })
        }
        ShardOp::GetLww { key } => match shard.read_lww_now(&key) {
            Some(Ok(value)) => Ok(Pending::Ready(ShardReply::Lww(value))),
            Some(Err(failure)) => Ok(replica_failed(0, failure)),
            None => Err(ShardOp::GetLww { key }),
        },
        op => Err(op),
    }
}

/// The ordered part of `op`.
pub async fn start(shard: &Shard, op: ShardOp) -> Pending {
    match op {
        ShardOp::Replica { req, rmw } => replica_op(shard, req, rmw).await,
        // The general path of a plain read (it waits for the key's lock and
        // for durability), answered as `start_now` answers it.
        ShardOp::GetLww { key } => match replica_op(shard, ReplicaRequest::Get { id: 0, key }, None).await {
            Pending::Durable(seq, ShardReply::Replica(ReplicaReply::Got { set, .. }, _)) => {
                Pending::Durable(seq, ShardReply::Lww(set.into_lww()))
            }
            p => p,
        },
        ShardOp::DeleteAll => delete_all(shard).await.unwrap_or_else(|e| Pending::Ready(failed(e))),
        ShardOp::RespCounters => Pending::Ready(ShardReply::Resp(shard.resp.get())),
        read => Pending::Read(read),
    }
}

/// The part of `op` that may overlap with later ops.
pub async fn finish(shard: &Shard, p: Pending) -> ShardReply {
    match p {
        Pending::Ready(r) => r,
        Pending::Durable(seq, r) => shard.wait_durable(seq).await.map_or_else(|failure| failure, |()| r),
        Pending::Read(op) => read(shard, op).await.unwrap_or_else(failed),
    }
}

impl Pending {
    /// The seq of a blind overwrite that waits only for that write to be
    /// durable and then replies `Overwritten`. Such writes of one WAL group
    /// (`Engine::wal_group`) may share one wait for the last of them
    /// ([`Shard::wait_durable`]): they become durable together or fail
    /// together.
    pub fn durable_overwrite(&self) -> Option<SeqNo> {
        match self {
            Pending::Durable(seq, ShardReply::Overwritten { .. }) => Some(*seq),
            _ => None,
        }
    }
}

/// `finish` of `p` if it needs no wait (most often: the write is already as
/// durable as the sync mode promises), else `p` back. Spares the caller
/// `finish`'s future, which is kilobytes.
// The Err is the op handed back unchanged; boxing it would cost an allocation
// per write, where this saves a future.
#[allow(clippy::result_large_err)]
pub fn finish_now(shard: &Shard, p: Pending) -> Result<ShardReply, Pending> {
    match p {
        Pending::Ready(r) => Ok(r),
        Pending::Durable(seq, r) if shard.engine.durable_now(seq) => Ok(r),
        p => Err(p),
    }
}

/// The reply of an RMW that writes nothing (`compute`'s skip or refusal). It
/// still answers from what it read, which may be a write not yet durable, so
/// it waits as a read does: a crash must not take back what it reported
/// (SETNX's 0, say, after an unacknowledged SET is lost).
fn unwritten(shard: &Shard, reply: ShardReply) -> Pending {
    Pending::Durable(shard.engine.last_seq(), reply)
}

fn replica_failed(id: u64, failure: ReplicaFailure) -> Pending {
    Pending::Ready(ShardReply::Replica(ReplicaReply::Failed { id, failure }, None))
}

/// What an RMW writes (None: a tombstone) and its result, from the value a
/// RESP client sees; or the reply that ends it unwritten (a refusal, or
/// `RmwSkipped` when it decides to write nothing, e.g. SET NX on an
/// existing key).
fn compute(op: RmwOp, current: Option<&[u8]>) -> Result<(Option<Vec<u8>>, RmwResult), ShardReply> {
    // A copy of the old value only for the ops that answer with it.
    let old = || current.map(<[u8]>::to_vec);
    // The write: None to write nothing, Some(None) a tombstone.
    let (write, result) = match op {
        RmwOp::Set { value, when } => {
            let apply = match when {
                SetWhen::Always => true,
                SetWhen::IfMissing => current.is_none(),
                SetWhen::IfExists => current.is_some(),
            };
            (apply.then_some(Some(value)), RmwResult::Old { applied: apply, old: old() })
        }
        RmwOp::Take => {
            let existed = current.is_some();
            (existed.then_some(None), RmwResult::Old { applied: existed, old: old() })
        }
        RmwOp::Overwrite(value) => {
            let existed = current.is_some();
            (Some(value), RmwResult::Old { applied: existed, old: old() })
        }
        RmwOp::Blind(value) => (Some(value), RmwResult::Old { applied: true, old: None }),
        RmwOp::IncrBy(delta) => match crate::resp::incr_value(current, delta) {
            Ok(n) => (Some(Some(n.to_string().into_bytes())), RmwResult::Int(n)),
            Err(e) => return Err(ShardReply::Failed(FailKind::BadRequest, e.message)),
        },
        RmwOp::Append { value, max_len } => {
            let mut v = old().unwrap_or_default();
            if v.len() + value.len() > max_len {
                let msg = crate::resp::ERR_STRING_TOO_LONG.to_string();
                return Err(ShardReply::Failed(FailKind::BadRequest, msg));
            }
            v.extend_from_slice(&value);
            let n = v.len() as i64;
            (Some(Some(v)), RmwResult::Int(n))
        }
    };
    match write {
        Some(value) => Ok((value, result)),
        None => Err(ShardReply::RmwSkipped(result)),
    }
}

async fn replica_op(shard: &Shard, mut req: ReplicaRequest, rmw: Option<RmwOp>) -> Pending {
    if let (ReplicaRequest::Get { id, key }, None) = (&req, &rmw) {
        // A plain read: what `Replica::handle` answers for a Get, without its
        // bookkeeping (clock, dot counter).
        let id = *id;
        let _guard = shard.lock(key).await;
        return match shard.load(key).await {
            Ok(stored) => {
                let reply = ShardReply::Replica(ReplicaReply::Got { id, set: stored.unwrap_or_default() }, None);
                // What it saw must be durable before it is reported.
                Pending::Durable(shard.engine.last_seq(), reply)
            }
            Err(failure) => replica_failed(id, failure),
        };
    }
    // `Replica::handle` does not read the key: it moves out, to the batch.
    let id = req.id();
    let key = req.take_key();
    // The lock first (taken at once when free): ops on one key keep the order
    // they were started in, even if pacing makes one of them wait.
    let _guard = shard.lock(&key).await;
    if !matches!(req, ReplicaRequest::Get { .. }) {
        if let Err(e) = shard.engine.pace().await {
            return Pending::Ready(failed(e));
        }
    }
    // A blind overwrite replaces whatever is stored without looking at it.
    let blind = matches!(rmw, Some(RmwOp::Blind(_)));
    let stored = if blind { Ok(None) } else { shard.load(&key).await };
    let stored = match stored {
        Ok(s) => s,
        Err(failure) => return replica_failed(id, failure),
    };
    let mut rmw_result = None;
    let step = if let Some(op) = rmw {
        let current = stored.as_ref().and_then(|s| s.resolve_lww());
        let (value, result) = match compute(op, current) {
            Ok(x) => x,
            Err(reply) => return unwritten(shard, reply),
        };
        let ctx = stored.as_ref().map_or_else(VersionVector::new, SiblingSet::context);
        rmw_result = Some(result);
        shard.replica.borrow_mut().update(stored, id, &ctx, value, now_ms())
    } else {
        shard.replica.borrow_mut().handle(stored, &req, now_ms())
    };
    if let Some(lease) = step.persist_lease {
        let mut b = WriteBatch::new();
        b.put(LEASE_KEY, &lease.to_le_bytes());
        let r = match shard.engine.write_start(&b) {
            Ok(seq) => shard.engine.wait_durable(seq).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "cannot persist the dot-counter lease");
            return replica_failed(id, ReplicaFailure::Storage);
        }
        shard.replica.borrow_mut().lease_persisted(lease);
    }
    write_step(shard, key, id, step, rmw_result)
}

/// Store what `step` writes for `key` (the rest of a replica op's ordered
/// part); its reply waits for that to be durable.
fn write_step(shard: &Shard, key: Vec<u8>, id: u64, step: Step, rmw_result: Option<RmwResult>) -> Pending {
    let Some(set) = step.write() else {
        // A read: what it saw must be durable before it is reported.
        return Pending::Durable(shard.engine.last_seq(), ShardReply::Replica(step.reply, rmw_result));
    };
    match set.encode() {
        Ok(bytes) => {
            put_set(shard, &key, memtable::key_hash(&key), &bytes, ShardReply::Replica(step.reply, rmw_result))
        }
        Err(_) => replica_failed(id, ReplicaFailure::TooLarge),
    }
}

/// Write the encoded set `bytes` for `key`; `reply` once that is durable.
fn put_set(shard: &Shard, key: &[u8], key_hash: u64, bytes: &[u8], reply: ShardReply) -> Pending {
    match shard.engine.write_start_put(key, key_hash, bytes) {
        Ok(seq) => Pending::Durable(seq, reply),
        Err(e) => Pending::Ready(failed(e)),
    }
}

async fn delete_all(shard: &Shard) -> Result<Pending, StorageError> {
    let mut after: Option<Vec<u8>> = None;
    let mut last = shard.engine.last_seq();
    loop {
        let start = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let rows = shard.engine.scan(start, Bound::Unbounded, 1000).await?;
        let Some((k, _)) = rows.last() else { break };
        after = Some(k.clone());
        let mut b = WriteBatch::new();
        // Only user keys: the dot-counter lease must survive.
        for (k, _) in rows.iter().filter(|(k, _)| keys::decode(k).is_some()) {
            b.delete(k);
        }
        if !b.is_empty() {
            shard.engine.pace().await?;
            last = shard.engine.write_start(&b)?;
        }
    }
    Ok(Pending::Durable(last, ShardReply::Done))
}

/// A key of the RESP keyspace: a partition with no sort key.
fn partition_only(engine_key: &[u8]) -> Option<&[u8]> {
    keys::decode(engine_key).filter(|(_, _, sk)| sk.is_empty()).map(|(_, pk, _)| pk)
}

/// The stored set, unless it is absent, unreadable or holds only deletions.
fn live_set(bytes: &[u8]) -> Option<SiblingSet> {
    SiblingSet::decode(bytes).ok().filter(|s| !s.is_deleted())
}

async fn read(shard: &Shard, op: ShardOp) -> Result<ShardReply, StorageError> {
    let engine = &shard.engine;
    Ok(match op {
        ShardOp::Scan { start, end, limit } => {
            let end = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let mut out = Vec::new();
            let mut lo = Bound::Included(start);
            // Deleted items still occupy rows: read on until `limit` live ones.
            loop {
                let rows = engine.scan(lo.as_ref().map(Vec::as_slice), end, limit.max(16)).await?;
                let exhausted = rows.len() < limit.max(16);
                let last = rows.last().map(|(k, _)| k.clone());
                out.extend(rows.into_iter().filter_map(|(k, v)| live_set(&v).map(|s| (k, s))));
                match last {
                    Some(k) if !exhausted && out.len() < limit => lo = Bound::Excluded(k),
                    _ => break,
                }
            }
            out.truncate(limit);
            ShardReply::Rows(out)
        }
        ShardOp::ScanPartitions { from, count } => {
            let mut keys = Vec::new();
            let mut start = from.to_be_bytes().to_vec();
            let mut excluded = false;
            loop {
                let lo = if excluded { Bound::Excluded(start.as_slice()) } else { Bound::Included(start.as_slice()) };
                let rows = engine.scan(lo, Bound::Unbounded, count.max(16)).await?;
                let exhausted = rows.len() < count.max(16);
                let mut last_token = None;
                for (k, v) in &rows {
                    let Some((token, _, _)) = keys::decode(k) else { continue };
                    // Past `count`, stop at the first new token: a cursor resumes at a token.
                    if keys.len() >= count && last_token != Some(token) {
                        return Ok(ShardReply::Keys { keys, next: Some(token) });
                    }
                    last_token = Some(token);
                    if let Some(pk) = partition_only(k).filter(|_| SiblingSet::holds_value(v)) {
                        keys.push(pk.to_vec());
                    }
                }
                match rows.last() {
                    Some((k, _)) if !exhausted => {
                        start = k.clone();
                        excluded = true;
                    }
                    _ => return Ok(ShardReply::Keys { keys, next: None }),
                }
            }
        }
        ShardOp::CountPartitions { stale_ok } => ShardReply::Int(shard.count_keys(stale_ok).await?),
        ShardOp::Stats => ShardReply::Stats(Box::new(engine.stats())),
        other => ShardReply::Failed(FailKind::Internal, format!("not a read: {other:?}")),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::future::Future;

    use super::*;
    use crate::storage::{Options, SyncMode};

    #[test]
    fn now_ms_is_the_wall_clock_to_a_tick() {
        let exact = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        for _ in 0..100 {
            let before = exact();
            let coarse = now_ms();
            let after = exact();
            // The coarse clock trails by at most one tick (<= 10 ms at HZ=100).
            assert!(coarse <= after && coarse + 10 >= before, "{before} <= {coarse} <= {after} (+10 ms)");
        }
    }

    /// Run `test` on the shard of a fresh engine (`--sync always`) in a
    /// directory of its own, removed after.
    fn on_fresh_shard<F: Future<Output = ()> + 'static>(name: &str, test: impl FnOnce(Shard) -> F + 'static) {
        let dir = std::env::temp_dir().join(format!("ringkv-shard-op-{name}-{}", std::process::id()));
        let d = dir.clone();
        crate::rt::block_on(async move {
            let mut o = Options::new(&d);
            o.sync = SyncMode::Always;
            test(Shard::open(Engine::open(DmaDisk, o).await.unwrap(), NodeId(1)).await.unwrap()).await;
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_key_count_answers_exactly_if_nothing_was_written_or_while_young_if_staleness_will_do() {
        let t0 = Instant::now();
        let c = KeyCount { n: 7, as_of: 10, done: t0, took: Duration::from_millis(5) };
        let later = |ms| t0 + Duration::from_millis(ms);
        // Nothing written since: exact, at any age.
        assert!(c.answers(10, later(10_000), false));
        assert!(c.answers(10, later(10_000), true));
        // Written since: only where staleness will do, and only while younger than 20 counts.
        assert!(!c.answers(11, later(1), false));
        assert!(c.answers(11, later(99), true));
        assert!(!c.answers(11, later(100), true));
    }

    #[test]
    fn the_key_count_follows_writes_and_deletes() {
        on_fresh_shard("count", |shard| async move {
            let write = |pk: &str, value: Option<&str>| {
                let key = crate::keys::encode(pk.as_bytes(), b"");
                let req = ReplicaRequest::Update { id: 0, key, ctx: VersionVector::new(), value: None };
                ShardOp::Replica { req, rmw: Some(RmwOp::Blind(value.map(|v| v.as_bytes().to_vec()))) }
            };
            for pk in ["a", "b", "c"] {
                let p = start(&shard, write(pk, Some("v"))).await;
                finish(&shard, p).await;
            }
            // A key with a sort key is not a RESP key: not counted.
            let req = ReplicaRequest::Update {
                id: 0,
                key: crate::keys::encode(b"d", b"sort"),
                ctx: VersionVector::new(),
                value: Some(b"v".to_vec()),
            };
            let p = start(&shard, ShardOp::Replica { req, rmw: None }).await;
            finish(&shard, p).await;
            assert_eq!(shard.count_keys(false).await.unwrap(), 3);
            let p = start(&shard, write("b", None)).await;
            finish(&shard, p).await;
            assert_eq!(shard.count_keys(false).await.unwrap(), 2);
            shard.engine.flush().await.unwrap();
            let p = start(&shard, write("e", Some("v"))).await;
            finish(&shard, p).await;
            assert_eq!(shard.count_keys(false).await.unwrap(), 3);
            // Nothing written since: the same count, whatever is asked.
            assert_eq!(shard.count_keys(true).await.unwrap(), 3);
        });
    }

    #[test]
    fn read_now_answers_only_durable_unlocked_reads() {
        on_fresh_shard("read-now", |shard| async move {
            let key = b"k".to_vec();
            assert!(matches!(shard.read_now(&key), Some(Ok(None))));
            let req = ReplicaRequest::Update { id: 1, key: key.clone(), ctx: VersionVector::new(), value: None };
            let p = start(&shard, ShardOp::Replica { req, rmw: Some(RmwOp::Blind(Some(b"v".to_vec()))) }).await;
            // Written but not durable yet: no answer now (the general path waits).
            assert!(shard.read_now(&key).is_none());
            finish(&shard, p).await;
            let set = shard.read_now(&key).unwrap().unwrap().unwrap();
            assert_eq!(set.into_lww(), Some(b"v".to_vec()));
            // An op holding the key: no answer now either.
            let guard = shard.lock(&key).await;
            assert!(shard.read_now(&key).is_none());
            drop(guard);
            assert!(shard.read_now(&key).is_some());
        });
    }

    #[test]
    fn blind_write_now_leaves_what_would_wait_to_the_general_path() {
        on_fresh_shard("blind-now", |shard| async move {
            let key = b"k".to_vec();
            // A new node has no lease: its first write must persist one first.
            assert!(shard.blind_write_now(&key, memtable::key_hash(&key), Some(b"v")).is_none());
            let req = ReplicaRequest::Update { id: 0, key: key.clone(), ctx: VersionVector::new(), value: None };
            let p = start(&shard, ShardOp::Replica { req, rmw: Some(RmwOp::Blind(Some(b"v".to_vec()))) }).await;
            finish(&shard, p).await;
            // Covered now: done at once, acknowledged once durable.
            let Some(p) = shard.blind_write_now(&key, memtable::key_hash(&key), Some(b"w")) else {
                panic!("not done at once")
            };
            assert!(shard.read_now(&key).is_none(), "not durable yet");
            // Its result is a plain overwrite's (what `local_write_outcome` reports).
            let reply = finish(&shard, p).await;
            assert!(matches!(
                reply,
                ShardReply::Overwritten { result: RmwResult::Old { applied: true, old: None }, .. }
            ));
            assert_eq!(shard.read_now(&key).unwrap().unwrap().unwrap().into_lww(), Some(b"w".to_vec()));
            // A key another op holds: left to the caller.
            let guard = shard.lock(&key).await;
            assert!(shard.blind_write_now(&key, memtable::key_hash(&key), None).is_none());
            drop(guard);
        });
    }

    #[test]
    fn rmw_now_does_what_the_general_path_would_or_hands_the_op_back() {
        for blind in [false, true] {
            on_fresh_shard(&format!("rmw-now-{blind}"), move |shard| async move {
                let key = b"n".to_vec();
                let incr = |key: &[u8], by| {
                    let req =
                        ReplicaRequest::Update { id: 0, key: key.to_vec(), ctx: VersionVector::new(), value: None };
                    ShardOp::Replica { req, rmw: Some(RmwOp::IncrBy(by)) }
                };
                let int = |r: ShardReply| match r {
                    ShardReply::Replica(ReplicaReply::Updated { .. }, Some(RmwResult::Int(n))) => n,
                    ShardReply::Overwritten { result: RmwResult::Int(n), .. } if blind => n,
                    other => panic!("{other:?}"),
                };
                // A new node has no lease: its first write must persist one first.
                assert!(matches!(shard.rmw_now(key.clone(), RmwOp::IncrBy(1), blind), Err((_, RmwOp::IncrBy(1)))));
                let p = start(&shard, incr(&key, 1)).await;
                assert_eq!(int(finish(&shard, p).await), 1);
                // Covered now: done at once, on what the general path wrote.
                let Ok(p) = shard.rmw_now(key.clone(), RmwOp::IncrBy(41), blind) else { panic!("not done at once") };
                assert_eq!(int(finish(&shard, p).await), 42);
                // And the general path goes on from what it wrote.
                let p = start(&shard, incr(&key, -2)).await;
                assert_eq!(int(finish(&shard, p).await), 40);
                let read = shard.read_now(&key).unwrap().unwrap().unwrap();
                assert_eq!(read.into_lww(), Some(b"40".to_vec()));
                // A value that is not an integer: refused at once, nothing written.
                let text = b"t".to_vec();
                let Some(p) = shard.blind_write_now(&text, memtable::key_hash(&text), Some(b"x")) else {
                    panic!("blind write waited")
                };
                finish(&shard, p).await;
                let Ok(p) = shard.rmw_now(text.clone(), RmwOp::IncrBy(1), blind) else { panic!("not done at once") };
                assert!(matches!(finish(&shard, p).await, ShardReply::Failed(FailKind::BadRequest, _)));
                let read = shard.read_now(&text).unwrap().unwrap().unwrap();
                assert_eq!(read.into_lww(), Some(b"x".to_vec()));
                // Siblings (writes without a context): the op sees the LWW
                // winner, and its write supersedes them all.
                let sib = b"s".to_vec();
                for v in ["5", "9"] {
                    let req = ReplicaRequest::Update {
                        id: 0,
                        key: sib.clone(),
                        ctx: VersionVector::new(),
                        value: Some(v.as_bytes().to_vec()),
                    };
                    let p = start(&shard, ShardOp::Replica { req, rmw: None }).await;
                    finish(&shard, p).await;
                }
                let before = shard.read_now(&sib).unwrap().unwrap().unwrap();
                assert_eq!(before.len(), 2);
                let lww: i64 = String::from_utf8(before.into_lww().unwrap()).unwrap().parse().unwrap();
                let Ok(p) = shard.rmw_now(sib.clone(), RmwOp::IncrBy(1), blind) else { panic!("not done at once") };
                assert_eq!(int(finish(&shard, p).await), lww + 1);
                let after = shard.read_now(&sib).unwrap().unwrap().unwrap();
                assert_eq!(after.len(), 1);
                assert_eq!(after.into_lww(), Some((lww + 1).to_string().into_bytes()));
                // A key another op holds: back to the caller, untouched.
                let guard = shard.lock(&key).await;
                let back = shard.rmw_now(key.clone(), RmwOp::IncrBy(7), blind);
                assert!(matches!(back, Err((k, RmwOp::IncrBy(7))) if k == key));
                drop(guard);
            });
        }
    }

    #[test]
    fn an_rmw_that_writes_nothing_answers_once_what_it_saw_is_durable() {
        use crate::server::cluster::{local_write_outcome, WriteOutcome, Written};
        for blind in [false, true] {
            on_fresh_shard(&format!("rmw-unwritten-{blind}"), move |shard| async move {
                let key = b"k".to_vec();
                let setnx = || RmwOp::Set { value: b"2".to_vec(), when: SetWhen::IfMissing };
                // The general path first: it persists the dot lease rmw_now needs.
                let req = ReplicaRequest::Update { id: 0, key: key.clone(), ctx: VersionVector::new(), value: None };
                let p = start(&shard, ShardOp::Replica { req, rmw: Some(setnx()) }).await;
                finish(&shard, p).await;
                // A write whose group commit has not happened yet.
                let Some(pending) = shard.blind_write_now(&key, memtable::key_hash(&key), Some(b"1")) else {
                    panic!("blind write waited")
                };
                assert!(finish_now(&shard, pending).is_err(), "the write is durable already");
                // SETNX sees it and writes nothing; its 0 must wait for it.
                let Ok(p) = shard.rmw_now(key.clone(), setnx(), blind) else { panic!("not done at once") };
                let p = finish_now(&shard, p).expect_err("answered before what it saw was durable");
                let ShardReply::RmwSkipped(RmwResult::Old { applied: false, .. }) = finish(&shard, p).await else {
                    panic!("SETNX of an existing key")
                };
                // And on the general path.
                let Some(pending) = shard.blind_write_now(&key, memtable::key_hash(&key), Some(b"3")) else {
                    panic!("blind write waited")
                };
                assert!(finish_now(&shard, pending).is_err());
                let req = ReplicaRequest::Update { id: 0, key: key.clone(), ctx: VersionVector::new(), value: None };
                let p = start(&shard, ShardOp::Replica { req, rmw: Some(setnx()) }).await;
                let p = finish_now(&shard, p).expect_err("answered before what it saw was durable");
                assert!(matches!(finish(&shard, p).await, ShardReply::RmwSkipped(_)));
                // DEL of a key that is not there: on a node never clustered,
                // nothing is written (with a cluster behind it, a tombstone).
                let seq = shard.engine.last_seq();
                let Ok(p) = shard.rmw_now(b"none".to_vec(), RmwOp::Overwrite(None), blind) else {
                    panic!("not done at once")
                };
                let r = finish(&shard, p).await;
                assert_eq!(shard.engine.last_seq() == seq, blind, "{r:?}");
                let existed = match local_write_outcome(r) {
                    Ok(WriteOutcome::Written(Written::Skipped(RmwResult::Old { applied, .. }))) => applied,
                    Ok(WriteOutcome::Written(Written::Done { rmw: Some(RmwResult::Old { applied, .. }), .. })) => {
                        applied
                    }
                    _ => panic!("DEL of a missing key"),
                };
                assert!(!existed);
            });
        }
    }

    /// `GetLww` answers the LWW value at once when it can, and otherwise on
    /// the general path, which waits for the key's lock and for durability.
    #[test]
    fn get_lww_answers_the_lww_value_now_or_once_it_may() {
        on_fresh_shard("get-lww", |shard| async move {
            let key = b"k".to_vec();
            let get = || ShardOp::GetLww { key: key.clone() };
            let lww = |r: ShardReply| match r {
                ShardReply::Lww(v) => v,
                r => panic!("not a GetLww reply: {r:?}"),
            };
            let Ok(Pending::Ready(r)) = start_now(&shard, get()) else { panic!("a missing key waited") };
            assert_eq!(lww(r), None);
            let req = ReplicaRequest::Update { id: 0, key: key.clone(), ctx: VersionVector::new(), value: None };
            let w = start(&shard, ShardOp::Replica { req, rmw: Some(RmwOp::Blind(Some(b"v".to_vec()))) }).await;
            // Written, not durable yet: back for `start`, which answers once it is.
            let op = start_now(&shard, get()).err().expect("answered before the write was durable");
            let p = start(&shard, op).await;
            let p = finish_now(&shard, p).expect_err("answered before the write was durable");
            finish(&shard, w).await;
            assert_eq!(lww(finish(&shard, p).await), Some(b"v".to_vec()));
            // A held key: the general path waits for it.
            let guard = shard.lock(&key).await;
            let op = start_now(&shard, get()).err().expect("read a held key");
            let mut read = std::pin::pin!(async {
                let p = start(&shard, op).await;
                finish(&shard, p).await
            });
            assert!(futures_lite::future::poll_once(&mut read).await.is_none(), "read a held key");
            drop(guard);
            assert_eq!(lww(read.await), Some(b"v".to_vec()));
            let Ok(Pending::Ready(r)) = start_now(&shard, get()) else { panic!("a durable key waited") };
            assert_eq!(lww(r), Some(b"v".to_vec()));
        });
    }

    #[test]
    fn start_now_does_what_start_would_or_hands_the_op_back_unchanged() {
        on_fresh_shard("start-now", |shard| async move {
            let key = b"k".to_vec();
            let get = |id| ShardOp::Replica { req: ReplicaRequest::Get { id, key: key.clone() }, rmw: None };
            let blind = |v: &[u8]| ShardOp::Replica {
                req: ReplicaRequest::Update { id: 0, key: key.clone(), ctx: VersionVector::new(), value: None },
                rmw: Some(RmwOp::Blind(Some(v.to_vec()))),
            };
            let is_got = |p: &Pending, want: Option<&[u8]>| match p {
                Pending::Ready(ShardReply::Replica(ReplicaReply::Got { id: 7, set }, None)) => {
                    set.clone().into_lww().as_deref() == want
                }
                _ => false,
            };
            assert!(is_got(&start_now(&shard, get(7)).ok().unwrap(), None));
            // No lease yet: the blind write goes back, as it came, for `start`.
            let Err(op) = start_now(&shard, blind(b"v")) else { panic!("done without a lease") };
            assert_eq!(format!("{op:?}"), format!("{:?}", blind(b"v")));
            finish(&shard, start(&shard, op).await).await;
            // Covered now: the write and then the read are done at once.
            let p = start_now(&shard, blind(b"w")).ok().unwrap();
            assert!(start_now(&shard, get(7)).is_err(), "read of a write not durable yet");
            assert!(matches!(finish(&shard, p).await, ShardReply::Overwritten { .. }));
            assert!(is_got(&start_now(&shard, get(7)).ok().unwrap(), Some(b"w")));
            // A held key, an op with an id or a context, a scan: all go back.
            let guard = shard.lock(&key).await;
            assert!(start_now(&shard, get(7)).is_err());
            assert!(start_now(&shard, blind(b"x")).is_err());
            drop(guard);
            let mut ctx = VersionVector::new();
            ctx.add(Dot { node: NodeId(9), counter: 1 }, 0);
            let with_ctx = ShardOp::Replica {
                req: ReplicaRequest::Update { id: 0, key: key.clone(), ctx, value: None },
                rmw: Some(RmwOp::Blind(None)),
            };
            for op in [with_ctx, ShardOp::Scan { start: Vec::new(), end: None, limit: 1 }] {
                let before = format!("{op:?}");
                assert_eq!(format!("{:?}", start_now(&shard, op).err().unwrap()), before);
            }
        });
    }
}
