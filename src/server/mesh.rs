//! The cross-core mesh: one bounded channel for every ordered pair of shards.
//!
//! A request for a key another shard owns travels there as a `MeshMsg::Request`
//! and its answer comes back as a `MeshMsg::Response` with the same token; the
//! caller awaits a local one-shot channel keyed by that token. Receiving loops
//! run as their own tasks and spawn one task per request, so a slow request
//! (a WAL sync) never blocks the channel.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::channels::shared_channel::{self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender};

use crate::server::shard_op::{
    finish, finish_now, start, start_now, FailKind, Pending, RmwOp, Shard, ShardOp, ShardReply,
};
use crate::storage::engine::{Prefetch, Touch};
use crate::storage::{memtable, DmaDisk, Engine};

/// Messages in flight per directed pair of shards.
pub const MESH_CHANNEL_CAPACITY: usize = 4096;

pub enum MeshMsg {
    Request { from: usize, token: u64, op: ShardOp },
    Response { token: u64, reply: ShardReply },
}

/// One shard's channel ends to every shard (None for itself).
pub type SenderRow = Vec<Option<SharedSender<MeshMsg>>>;
pub type ReceiverColumn = Vec<Option<SharedReceiver<MeshMsg>>>;

/// The ends of all channels, made before the shard threads start.
pub struct MeshEnds {
    /// `senders[i][j]`: shard i sends to shard j (None on the diagonal).
    pub senders: Vec<SenderRow>,
    /// `receivers[j][i]`: shard j receives from shard i.
    pub receivers: Vec<ReceiverColumn>,
}

impl MeshEnds {
    pub fn new(shards: usize) -> Self {
        let mut senders: Vec<SenderRow> = (0..shards).map(|_| (0..shards).map(|_| None).collect()).collect();
        let mut receivers: Vec<ReceiverColumn> = (0..shards).map(|_| (0..shards).map(|_| None).collect()).collect();
        for i in 0..shards {
            for j in 0..shards {
                if i != j {
                    let (s, r) = shared_channel::new_bounded(MESH_CHANNEL_CAPACITY);
                    senders[i][j] = Some(s);
                    receivers[j][i] = Some(r);
                }
            }
        }
        MeshEnds { senders, receivers }
    }

    /// Take shard `me`'s row of senders and column of receivers.
    pub fn take(&mut self, me: usize) -> (SenderRow, ReceiverColumn) {
        (std::mem::take(&mut self.senders[me]), std::mem::take(&mut self.receivers[me]))
    }
}

pub struct Mesh {
    me: usize,
    senders: Vec<Option<ConnectedSender<MeshMsg>>>,
    pending: RefCell<FxHashMap<u64, LocalSender<ShardReply>>>,
    next_token: Cell<u64>,
    shard: Rc<Shard>,
}

/// An op whose ordered part is done (or, for another shard, whose request is on its way).
pub enum Started {
    Local(Pending),
    Remote(usize, LocalReceiver<ShardReply>),
    Failed(ShardReply),
}

impl Mesh {
    /// Connect this shard's ends and start the receiving loops.
    pub async fn connect(me: usize, senders: SenderRow, receivers: ReceiverColumn, shard: Rc<Shard>) -> Rc<Mesh> {
        // Connecting an end waits for the other end to connect too, so every
        // receiver connects in its own task while the senders connect here.
        let receiving: Vec<_> =
            receivers.into_iter().flatten().map(|r| glommio::spawn_local(async move { r.connect().await })).collect();
        let mut connected = Vec::with_capacity(senders.len());
        for s in senders {
            connected.push(match s {
                Some(s) => Some(s.connect().await),
                None => None,
            });
        }
        let mesh = Rc::new(Mesh {
            me,
            senders: connected,
            pending: RefCell::new(FxHashMap::default()),
            next_token: Cell::new(1),
            shard,
        });
        for t in receiving {
            let r = t.await;
            let m = mesh.clone();
            glommio::spawn_local(async move { m.receive_loop(r).await }).detach();
        }
        mesh
    }

    pub fn shard(&self) -> usize {
        self.me
    }

    pub fn engine(&self) -> &Rc<Engine<DmaDisk>> {
        &self.shard.engine
    }

    /// This thread's shard.
    pub fn local(&self) -> &Shard {
        &self.shard
    }

    pub fn shards(&self) -> usize {
        self.senders.len()
    }

    /// Run `op` on `shard`: here if it is ours, over the mesh otherwise.
    pub async fn call(&self, shard: usize, op: ShardOp) -> ShardReply {
        let s = self.start(shard, op).await;
        self.finish(s).await
    }

    /// The ordered part of a call: ops started one after another on the same
    /// target shard take effect in that order (the mesh channel is FIFO and
    /// the receiver runs each op's ordered part before taking the next).
    pub async fn start(&self, shard: usize, op: ShardOp) -> Started {
        if shard == self.me {
            return Started::Local(self.start_here(op).await);
        }
        let Some(Some(tx)) = self.senders.get(shard) else {
            return Started::Failed(ShardReply::Failed(FailKind::Internal, format!("no shard {shard}")));
        };
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        let (reply_tx, reply_rx) = local_channel::new_bounded(1);
        self.pending.borrow_mut().insert(token, reply_tx);
        if tx.send(MeshMsg::Request { from: self.me, token, op }).await.is_err() {
            self.pending.borrow_mut().remove(&token);
            return Started::Failed(ShardReply::Failed(FailKind::Unavailable, format!("shard {shard} is gone")));
        }
        Started::Remote(shard, reply_rx)
    }

    /// The ordered part of `op` on this thread's shard: at once when
    /// nothing would make it wait (`shard_op::start_now`), else `start`.
    async fn start_here(&self, op: ShardOp) -> Pending {
        match start_now(&self.shard, op) {
            Ok(p) => p,
            Err(op) => start(&self.shard, op).await,
        }
    }

    /// [`Mesh::finish`] of `s` if it needs no wait, else `s` back.
    #[allow(clippy::result_large_err)] // as `shard_op::finish_now`
    pub fn finish_now(&self, s: Started) -> Result<ShardReply, Started> {
        match s {
            Started::Local(p) => finish_now(&self.shard, p).map_err(Started::Local),
            Started::Failed(r) => Ok(r),
            s @ Started::Remote(..) => Err(s),
        }
    }

    pub async fn finish(&self, s: Started) -> ShardReply {
        match s {
            Started::Local(p) => finish(&self.shard, p).await,
            Started::Remote(shard, rx) => rx.recv().await.unwrap_or_else(|| {
                ShardReply::Failed(FailKind::Unavailable, format!("shard {shard} dropped the request"))
            }),
            Started::Failed(r) => r,
        }
    }

    /// Send `msg` to shard `to` at once, or from a task of its own while the
    /// channel is full. A shard is gone only at shutdown: nothing to do then.
    fn respond(self: &Rc<Self>, to: usize, msg: MeshMsg) {
        let Some(Some(tx)) = self.senders.get(to) else { return };
        if let Err(glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(msg))) = tx.try_send(msg) {
            let m = self.clone();
            glommio::spawn_local(async move {
                if let Some(Some(tx)) = m.senders.get(to) {
                    let _ = tx.send(msg).await;
                }
            })
            .detach();
        }
    }

    async fn receive_loop(self: Rc<Self>, rx: ConnectedReceiver<MeshMsg>) {
        let mut batch = Vec::with_capacity(RECEIVE_BATCH);
        while let Some(first) = rx.recv().await {
            // What else has arrived, up to a batch, so that every request's
            // memtable lines are on their way before the first one runs (as
            // a RESP connection does for a read's commands).
            batch.push(first);
            while batch.len() < RECEIVE_BATCH {
                match futures_lite::future::poll_once(rx.recv()).await {
                    Some(Some(msg)) => batch.push(msg),
                    _ => break,
                }
            }
            let hashes: SmallVec<[(u64, Touch); RECEIVE_BATCH]> = batch.iter().filter_map(request_key_hash).collect();
            let engine = self.engine();
            for &(h, touch) in &hashes {
                engine.prefetch(h, Prefetch::Slot, touch);
            }
            for &(h, touch) in &hashes {
                engine.prefetch(h, Prefetch::Entry, touch);
            }
            for msg in batch.drain(..) {
                self.receive(msg).await;
            }
        }
    }

    /// One message from another shard: a request to run here, or the answer
    /// to one of ours.
    async fn receive(self: &Rc<Self>, msg: MeshMsg) {
        match msg {
            MeshMsg::Request { from, token, op } => {
                // The ordered part here, in arrival order; the rest, if it
                // must wait, in its own task.
                let p = self.start_here(op).await;
                match finish_now(&self.shard, p) {
                    Ok(reply) => self.respond(from, MeshMsg::Response { token, reply }),
                    Err(p) => {
                        let m = self.clone();
                        glommio::spawn_local(async move {
                            let reply = finish(&m.shard, p).await;
                            m.respond(from, MeshMsg::Response { token, reply });
                        })
                        .detach();
                    }
                }
            }
            MeshMsg::Response { token, reply } => {
                if let Some(tx) = self.pending.borrow_mut().remove(&token) {
                    let _ = tx.try_send(reply);
                }
            }
        }
    }
}

/// Messages taken from a channel at once by a receiving loop.
const RECEIVE_BATCH: usize = 32;

/// The memtable hash of the key a request from another shard reads or
/// writes, if it has one (`Engine::prefetch`).
fn request_key_hash(msg: &MeshMsg) -> Option<(u64, Touch)> {
    match msg {
        MeshMsg::Request { op: ShardOp::Replica { req, rmw: Some(RmwOp::Blind(_)) }, .. } => {
            Some((memtable::key_hash(req.key()), Touch::BlindWrite))
        }
        MeshMsg::Request { op: ShardOp::Replica { req, .. }, .. } => Some((memtable::key_hash(req.key()), Touch::Read)),
        MeshMsg::Request { op: ShardOp::GetLww { key }, .. } => Some((memtable::key_hash(key), Touch::Read)),
        _ => None,
    }
}
