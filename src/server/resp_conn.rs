//! A connection on the RESP port (redis-cli, redis-benchmark, Redis client
//! libraries).
//!
//! Redis answers pipelined commands in order and runs them one after another.
//! Here each command's *ordered part* (see `shard_op`) runs before the next
//! command's, so effects happen in command order (a pipeline's SET then GET
//! sees the SET); the rest (waiting for the group commit, reading) overlaps, so
//! a pipeline of SETs shares one fdatasync. Replies leave strictly in order.
//!
//! A RESP key is a ringkv partition key with no sort key. Protocol errors are
//! fatal (Redis closes too); command errors are answered and the connection
//! goes on.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::io::WriteHalf;
use futures_lite::AsyncWriteExt;
use glommio::net::TcpStream;

use crate::replication::ReplicaReply;
use crate::resp::{self, ClientCommand, Command, ProtoVersion, Reply, RespLimits, ScanArgs, SetCondition, TypeFilter};
use crate::ring;
use crate::server::cluster::{local_read_outcome, local_write_outcome, Cluster, OpError, WriteOutcome, Written};
use crate::server::connection::{read_more, ReadBuf, PARSE_AHEAD};
use crate::server::mesh::{Mesh, Started};
use crate::server::shard_op::{FailKind, RespCounters, RmwOp, RmwResult, SetWhen, ShardOp, ShardReply};
use crate::server::stop::ShardStop;
use crate::server::NodeInfo;
use crate::storage::notify::Notify;
use crate::storage::SeqNo;
use crate::storage::Stats;
use crate::storage::Touch;

/// Commands read but not yet answered, per connection, before reading pauses.
const MAX_QUEUED_REPLIES: usize = 1024;
/// SCAN COUNT is a hint; cap it.
const SCAN_COUNT_MAX: u64 = 10_000;
/// KEYS returns at most this many keys (else an error: use SCAN).
const KEYS_MAX: usize = 1_000_000;

type ReplyFuture = Pin<Box<dyn Future<Output = Reply>>>;

/// State shared by the RESP connections of one shard.
pub struct RespCtx {
    pub mesh: Rc<Mesh>,
    pub cluster: Rc<Cluster>,
    pub info: Rc<NodeInfo>,
    pub started: std::time::Instant,
    pub next_client_id: Cell<i64>,
    /// The port this RESP listener serves (INFO's `tcp_port`).
    pub port: u16,
}

struct Conn {
    ctx: Rc<RespCtx>,
    id: i64,
    proto: Cell<ProtoVersion>,
    name: RefCell<Option<Vec<u8>>>,
}

enum Item {
    Now(ProtoVersion, Reply),
    Later(ProtoVersion, glommio::Task<Reply>),
    /// A blind overwrite past its ordered part: the write loop finishes it
    /// in turn (it holds no lock), with no task of its own. Under `--sync
    /// always` that is waiting for its group commit, which one wait covers
    /// for every reply queued behind it.
    Overwritten(ProtoVersion, Started),
    /// A run of `count` local blind overwrites (plain SETs) in a row, all of
    /// WAL group `group`, whose last is `seq`: each is answered `+OK` once
    /// `seq` is as durable as the sync mode promises, or with the failure.
    /// The writes of one group become durable together or fail together
    /// (`Pending::durable_overwrite`), so one wait answers them all, and
    /// the run is one item, not one each.
    Durable {
        proto: ProtoVersion,
        group: u64,
        seq: SeqNo,
        count: usize,
    },
    /// A multi-key write's ops (MSET's blind overwrites, DEL's deletes),
    /// each past its ordered part: finished in turn like `Overwritten`,
    /// answered once, as `Each` says, or with the first failure.
    All(ProtoVersion, Vec<Started>, Each),
    /// A read-modify-write (INCRBY, APPEND, SET NX/XX/GET, SETNX, GETSET,
    /// GETDEL) past its ordered part: finished in turn like `Overwritten`,
    /// answered as `Answer` says.
    Rmw(ProtoVersion, Started, Answer),
    /// A single-key read past its ordered part (`Cluster::start_read_lww`):
    /// another shard's key, or one that must wait. Finished in turn like
    /// `Overwritten`, answered as `ReadAs` says.
    Read(ProtoVersion, Started, ReadAs),
    Close,
}

/// The replies of one connection, in command order: the items not yet
/// encoded, then the bytes encoded and not yet sent.
#[derive(Default)]
struct Queue {
    items: RefCell<VecDeque<Item>>,
    /// Replies the items hold (an `Item::Durable` holds `count`).
    replies: Cell<usize>,
    changed: Notify,
    /// Replies encoded, in order, for the write loop to send. The write loop
    /// encodes each item here in turn; a reply ready when its command runs
    /// is encoded here at once if no reply is ahead of it ([`Queue::out_in_order`]).
    out: RefCell<Vec<u8>>,
    /// The write loop has popped an item and not yet encoded it.
    in_hand: Cell<bool>,
}

/// Bytes of encoded replies past which the write loop sends before it
/// encodes more, and the reader stops encoding in place.
const OUT_SEND_BYTES: usize = 256 << 10;

impl Queue {
    fn push(&self, item: Item) {
        self.replies.set(self.replies.get() + 1);
        self.items.borrow_mut().push_back(item);
        self.changed.notify_all();
    }

    /// A local blind overwrite of WAL group `group` waiting for `seq` to be
    /// durable: added to the run queued last if that is of the same group
    /// (and protocol), else a new run (`Item::Durable`).
    fn push_durable(&self, proto: ProtoVersion, group: u64, seq: SeqNo) {
        self.replies.set(self.replies.get() + 1);
        let mut items = self.items.borrow_mut();
        if let Some(Item::Durable { proto: p, group: g, seq: last, count }) = items.back_mut() {
            if *p == proto && *g == group {
                *last = seq.max(*last);
                *count += 1;
                return;
            }
        }
        items.push_back(Item::Durable { proto, group, seq, count: 1 });
        drop(items);
        self.changed.notify_all();
    }

    /// The next item for the write loop, which holds it until encoded (`in_hand`).
    fn pop(&self) -> Option<Item> {
        let item = self.items.borrow_mut().pop_front();
        let n = match &item {
            Some(Item::Durable { count, .. }) => *count,
            Some(_) => 1,
            None => 0,
        };
        self.replies.set(self.replies.get() - n);
        self.in_hand.set(item.is_some());
        self.changed.notify_all();
        item
    }

    /// The encoded replies, to add one at their end, if every reply ahead
    /// of it is there already (none is queued or in the write loop's hand)
    /// and they are not too many to hold; None: queue it as an item. Once
    /// the borrow ends, [`encoded`](Self::encoded) wakes the write loop.
    fn out_in_order(&self) -> Option<std::cell::RefMut<'_, Vec<u8>>> {
        if self.in_hand.get() || !self.items.borrow().is_empty() {
            return None;
        }
        self.out.try_borrow_mut().ok().filter(|out| out.len() < OUT_SEND_BYTES)
    }

    /// Wake the write loop to send what was encoded in place.
    fn encoded(&self) {
        self.changed.notify_all();
    }
}

fn error_reply(kind: FailKind, msg: String) -> Reply {
    match kind {
        FailKind::BadRequest if msg.starts_with("ERR ") => Reply::Error(msg),
        FailKind::ReadOnly => Reply::Error(format!("READONLY ringkv: {msg}")),
        FailKind::Unavailable => Reply::Error(format!("TRYAGAIN ringkv: {msg}")),
        _ => Reply::Error(format!("ERR ringkv: {msg}")),
    }
}

fn unexpected(r: ShardReply) -> Reply {
    match r {
        ShardReply::Failed(kind, msg) => error_reply(kind, msg),
        other => Reply::Error(format!("ERR ringkv: unexpected shard reply {other:?}")),
    }
}

pub async fn serve(stream: TcpStream, ctx: Rc<RespCtx>, stop: Rc<ShardStop>) -> std::io::Result<()> {
    let id = ctx.next_client_id.get();
    ctx.next_client_id.set(id + ctx.info.shards as i64);
    let conn = Rc::new(Conn { ctx, id, proto: Cell::new(ProtoVersion::Resp2), name: RefCell::new(None) });
    let mesh = conn.ctx.mesh.clone();
    let _connected = mesh.local().resp.connect();
    let (mut rd, wr) = futures_lite::io::split(stream);
    let queue = Rc::new(Queue::default());
    let writer = glommio::spawn_local(write_loop(wr, queue.clone(), conn.ctx.mesh.clone()));
    let limits = RespLimits::DEFAULT;
    let mut buf = ReadBuf::default();
    let mut result = Ok(());
    // Commands parsed but not yet run: parsing runs ahead so that their keys
    // can be prefetched (`Conn::prefetch_slot`, `PARSE_AHEAD`).
    let mut ahead = VecDeque::with_capacity(PARSE_AHEAD);
    let mut bad = None;
    let mut stop = std::pin::pin!(stop.stopped());
    'conn: loop {
        let mut start = 0;
        loop {
            while queue.replies.get() >= MAX_QUEUED_REPLIES {
                queue.changed.wait().await;
            }
            while ahead.len() < PARSE_AHEAD && bad.is_none() {
                match resp::parse_command(&buf.data()[start..], &limits) {
                    Ok(Some((frame, n))) => {
                        if !frame.is_empty() {
                            let hash = conn.prefetch_slot(&frame.head(&buf.data()[start..], 4));
                            ahead.push_back((frame, start, hash));
                        }
                        start += n;
                    }
                    Ok(None) => break,
                    Err(e) => bad = Some(e),
                }
            }
            let Some((frame, at, hint)) = ahead.pop_front() else {
                if let Some(e) = bad.take() {
                    queue.push(Item::Now(conn.proto.get(), e.reply()));
                    break 'conn;
                }
                break;
            };
            if let Some(&(_, _, Some((hash, touch)))) = ahead.front() {
                conn.ctx.cluster.prefetch_entry(hash, touch);
            }
            // The arguments are read in place: `buf` is drained only once
            // every command parsed from it has run.
            let key_hash = hint.map(|(hash, _)| hash);
            if !conn.dispatch(&frame.args(&buf.data()[at..]), &limits, &queue, key_hash).await {
                break 'conn;
            }
        }
        buf.consume(start);
        match read_more(&mut rd, &mut buf, stop.as_mut()).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    queue.push(Item::Close);
    writer.await;
    result
}

async fn write_loop(wr: WriteHalf<TcpStream>, queue: Rc<Queue>, mesh: Rc<Mesh>) {
    let mut tx = Sender { wr, sending: Vec::new() };
    loop {
        let item = queue.pop();
        let encode = |r: &Reply, proto| resp::encode(r, proto, &mut queue.out.borrow_mut());
        match item {
            Some(Item::Now(proto, r)) => encode(&r, proto),
            Some(Item::Later(proto, task)) => {
                let Some(r) = in_turn(&mut tx, &queue, task, None).await else { return };
                encode(&r, proto);
            }
            Some(Item::Overwritten(proto, started)) => {
                let Some(r) = finish_started(&mut tx, &queue, &mesh, started).await else { return };
                encode(&overwrite_reply(r), proto);
            }
            Some(Item::Durable { proto, seq, count, .. }) => {
                let shard = mesh.local();
                let done = if shard.engine.durable_now(seq) {
                    Ok(())
                } else {
                    let Some(done) = in_turn(&mut tx, &queue, shard.wait_durable(seq), None).await else { return };
                    done
                };
                let reply = done.map_or_else(overwrite_reply, |()| Reply::ok());
                let mut out = queue.out.borrow_mut();
                for _ in 0..count {
                    resp::encode(&reply, proto, &mut out);
                }
            }
            Some(Item::All(proto, all, each)) => {
                let mut total = each.total(all.len());
                for started in all {
                    let Some(r) = finish_started(&mut tx, &queue, &mesh, started).await else { return };
                    each.add(&mut total, r);
                }
                encode(&total, proto);
            }
            Some(Item::Rmw(proto, started, answer)) => {
                let Some(r) = finish_started(&mut tx, &queue, &mesh, started).await else { return };
                encode(&rmw_reply(r, answer), proto);
            }
            Some(Item::Read(proto, started, how)) => {
                let Some(r) = finish_started(&mut tx, &queue, &mesh, started).await else { return };
                encode(&how.answer(local_read_outcome(r)), proto);
            }
            Some(Item::Close) => {
                let _ = tx.send(&queue).await;
                let _ = tx.wr.close().await;
                return;
            }
            None => {
                if tx.send(&queue).await.is_err() {
                    return;
                }
                let wait = queue.changed.wait();
                if queue.items.borrow().is_empty() && queue.out.borrow().is_empty() {
                    wait.await;
                }
            }
        }
        queue.in_hand.set(false);
        if queue.out.borrow().len() > OUT_SEND_BYTES && tx.send(&queue).await.is_err() {
            return;
        }
    }
}

/// The connection's write half, and the replies it is sending.
struct Sender {
    wr: WriteHalf<TcpStream>,
    sending: Vec<u8>,
}

impl Sender {
    /// Send every reply encoded so far (`Queue::out`). The reader may encode
    /// more meanwhile (`Queue::out_in_order`); they go at the next send.
    async fn send(&mut self, queue: &Queue) -> std::io::Result<()> {
        std::mem::swap(&mut self.sending, &mut queue.out.borrow_mut());
        if !self.sending.is_empty() {
            self.wr.write_all(&self.sending).await?;
            self.wr.flush().await?;
            self.sending.clear();
        }
        Ok(())
    }
}

/// What an op started earlier (its ordered part done) replies once finished.
/// What is ready goes out first if it must wait; None if that fails.
async fn finish_started(tx: &mut Sender, queue: &Queue, mesh: &Mesh, started: Started) -> Option<ShardReply> {
    match mesh.finish_now(started) {
        Ok(r) => Some(r),
        Err(started) => {
            // Another shard's answer is most often microseconds away (a local
            // op that waits, for a group commit, is not).
            let hold = matches!(started, Started::Remote(..)).then_some(REMOTE_HOLD);
            in_turn(tx, queue, mesh.finish(started), hold).await
        }
    }
}

/// How long replies that are ready wait for another shard's answer queued
/// ahead of them before they are sent on their own: so that one send
/// carries both. Most answers come well within it; a slow one (a disk read,
/// a group commit on the other shard) costs the replies behind it this much.
const REMOTE_HOLD: Duration = Duration::from_micros(50);

/// A finished blind overwrite's reply: OK, or its failure.
fn overwrite_reply(r: ShardReply) -> Reply {
    match r {
        // Written: a SET shows no causal context, so build none.
        ShardReply::Overwritten { .. } | ShardReply::Replica(ReplicaReply::Updated { .. }, _) => Reply::ok(),
        r => overwrite_result(local_write_outcome(r)).map_or_else(|e| e, |_| Reply::ok()),
    }
}

/// The output of the reply at the head of the queue. If it is not ready,
/// what is ready goes out first (after up to `hold`, if the reply comes
/// within it, with it); None if that fails.
async fn in_turn<T>(tx: &mut Sender, queue: &Queue, f: impl Future<Output = T>, hold: Option<Duration>) -> Option<T> {
    let mut f = std::pin::pin!(f);
    if let Some(r) = futures_lite::future::poll_once(&mut f).await {
        return Some(r);
    }
    if let Some(hold) = hold.filter(|_| !queue.out.borrow().is_empty()) {
        // Boxed: the timer's state would otherwise enlarge the write loop's,
        // which cost a 1-shard GET 1-3% (8 rounds on fresh servers).
        let came = Box::pin(futures_lite::future::or(async { Some((&mut f).await) }, async {
            glommio::timer::sleep(hold).await;
            None
        }));
        if let Some(r) = came.await {
            return Some(r);
        }
    }
    tx.send(queue).await.ok()?;
    Some(f.await)
}

impl Conn {
    fn mesh(&self) -> &Rc<Mesh> {
        &self.ctx.mesh
    }

    /// A hint that the command `args` (its first four arguments at least)
    /// comes soon (a GET or SET: see `resp::hot_key`), when it is parsed:
    /// `Cluster::prefetch_slot`. Its hash goes to `Cluster::prefetch_entry`
    /// one command before it runs.
    fn prefetch_slot(&self, args: &[&[u8]]) -> Option<(u64, Touch)> {
        let key = resp::hot_key(args)?;
        let touch = if resp::is_plain_set(args) { Touch::BlindWrite } else { Touch::Read };
        Some((self.ctx.cluster.prefetch_slot(key, b"", touch)?, touch))
    }

    /// A single-key read of `key` answered from memory (a GET's in place,
    /// [`get_in_place`](Self::get_in_place), else `Item::Now`), or on a node
    /// alone started here and finished in the write loop (`Item::Read`).
    /// False: neither, for the general path.
    async fn start_single_read(&self, key: &[u8], how: ReadAs, proto: ProtoVersion, queue: &Queue) -> bool {
        let cluster = &self.ctx.cluster;
        let now = match how {
            ReadAs::Value => match self.get_in_place(key, proto, queue) {
                Some(true) => return true,
                Some(false) => None,
                None => cluster.read_lww_now(key, b"").map(|r| how.answer(r)),
            },
            // The length alone: the value is not copied out.
            _ => {
                cluster.read_lww_now_with(key, b"", <[u8]>::len).map(|r| r.map_or_else(op_error, |n| how.reply_len(n)))
            }
        };
        if let Some(reply) = now {
            queue.push(Item::Now(proto, reply));
            return true;
        }
        match cluster.start_read_lww(key).await {
            Some(started) => {
                queue.push(Item::Read(proto, started, how));
                true
            }
            None => false,
        }
    }

    /// A blind overwrite past its ordered part: its reply encoded at once if
    /// it is finished already (as durable as the sync mode promises) and no
    /// reply is ahead of it (`Queue::out_in_order`); else queued for the write
    /// loop to finish in turn (`Item::Overwritten`).
    fn overwritten(&self, started: Started, proto: ProtoVersion, queue: &Queue) {
        let started = match queue.out_in_order() {
            Some(mut out) => match self.mesh().finish_now(started) {
                Ok(r) => {
                    resp::encode(&overwrite_reply(r), proto, &mut out);
                    drop(out);
                    queue.encoded();
                    return;
                }
                Err(started) => started,
            },
            None => started,
        };
        match started {
            Started::Local(p) => match p.durable_overwrite() {
                Some(seq) => queue.push_durable(proto, self.mesh().local().engine.wal_group(), seq),
                None => queue.push(Item::Overwritten(proto, Started::Local(p))),
            },
            started => queue.push(Item::Overwritten(proto, started)),
        }
    }

    /// A GET's reply encoded at once after the replies ahead of it
    /// (`Queue::out_in_order`), from where its value is stored: the value is not
    /// copied out. Some(true): done; Some(false): it cannot be answered from
    /// memory; None: a reply ahead of it is not encoded yet.
    fn get_in_place(&self, key: &[u8], proto: ProtoVersion, queue: &Queue) -> Option<bool> {
        let mut out = queue.out_in_order()?;
        let Some(read) = self.ctx.cluster.read_lww_now_with(key, b"", |v| resp::encode_bulk(v, &mut out)) else {
            return Some(false);
        };
        if !matches!(read, Ok(Some(()))) {
            resp::encode(&ReadAs::Value.answer(read.map(|_| None)), proto, &mut out);
        }
        drop(out);
        queue.encoded();
        Some(true)
    }

    /// Handle one command; false: close the connection after the replies so far.
    /// `key_hash`: its prefetch hint's hash (`Conn::prefetch_slot`), if it had one.
    async fn dispatch(
        self: &Rc<Self>,
        args: &[&[u8]],
        limits: &RespLimits,
        queue: &Queue,
        key_hash: Option<u64>,
    ) -> bool {
        self.mesh().local().resp.command();
        let proto = self.proto.get();
        // A plain SET: written from the connection's buffer, its ordered part
        // now and the rest in the write loop, when nothing makes it wait. No
        // command is built: key and value are copied only where they are
        // stored. Else the general path below (the same SET, as a `Command`).
        if let Some(started) = resp::plain_set(args, limits)
            .and_then(|(key, value)| self.ctx.cluster.blind_write_now(key, b"", Some(value), key_hash))
        {
            self.overwritten(started, proto, queue);
            return true;
        }
        // A GET likewise, without a command (as `single_read`'s below).
        if let Some(key) = resp::plain_get(args, limits) {
            if self.start_single_read(key, ReadAs::Value, proto, queue).await {
                return true;
            }
        }
        let cmd = match Command::parse(args, limits) {
            Ok(c) => c,
            Err(e) => {
                queue.push(Item::Now(proto, e.reply()));
                return true;
            }
        };
        if let Some(r) = cmd.stateless_reply(limits) {
            queue.push(Item::Now(proto, r));
            return !matches!(cmd, Command::Quit);
        }
        if let Some(r) = self.connection_command(&cmd) {
            // Encode in the protocol chosen by the command itself (HELLO switches it).
            queue.push(Item::Now(self.proto.get(), r));
            return true;
        }
        // A plain SET: its ordered part now, the rest in the write loop. The
        // fast path above (`resp::plain_set` takes exactly these SETs) has
        // found it cannot be written at once.
        let cmd = match cmd {
            Command::Set { key, value, condition: SetCondition::Always, get: false } => {
                match self.ctx.cluster.start_blind_not_now(&key, b"", Some(value)).await {
                    Ok(started) => {
                        self.overwritten(started, proto, queue);
                        return true;
                    }
                    Err(value) => Command::Set {
                        key,
                        value: value.unwrap_or_default(),
                        condition: SetCondition::Always,
                        get: false,
                    },
                }
            }
            // MSET: each key's ordered part now, in order, as for SET. Boxed:
            // its state would otherwise enlarge every command's future here.
            Command::MSet { pairs } => {
                let item = Box::pin(self.start_mset(pairs, proto)).await;
                queue.push(item);
                return true;
            }
            // DEL of one key: its delete is a read-modify-write's item alone
            // (1 if the key existed); in a cluster, the general path.
            Command::Del { keys } if keys.len() == 1 => {
                match self.ctx.cluster.start_rmw(&keys[0], RmwOp::Overwrite(None)).await {
                    Ok(started) => {
                        queue.push(Item::Rmw(proto, started, Answer::Applied));
                        return true;
                    }
                    Err(_) => Command::Del { keys },
                }
            }
            // DEL: likewise, each key's delete a read-modify-write (it counts
            // the keys that existed).
            Command::Del { keys } => {
                let item = Box::pin(self.start_del(keys, proto)).await;
                queue.push(item);
                return true;
            }
            cmd => cmd,
        };
        // A read-modify-write: its ordered part now, the rest in the write loop.
        let cmd = match as_rmw(cmd) {
            Ok((key, op, answer)) => return self.rmw_item(key, op, answer, proto, queue).await,
            Err(cmd) => cmd,
        };
        // A single-key read (GET, STRLEN, TYPE, TTL, EXISTS of one key)
        // answered from memory: no task, no future. Else, on a node alone,
        // started here and finished in the write loop.
        if let Some((key, how)) = single_read(&cmd) {
            if self.start_single_read(key, how, proto, queue).await {
                return true;
            }
        }
        // MGET and EXISTS likewise, when every key can be answered so.
        if let Command::MGet { keys } | Command::Exists { keys } = &cmd {
            let how = if matches!(cmd, Command::MGet { .. }) { ReadAs::Value } else { ReadAs::Exists };
            let each = Each::Read(how);
            if let Some(r) = self.read_all_now(keys) {
                let reply = match r {
                    Err(e) => op_error(e),
                    Ok(values) => each.of_values(values),
                };
                queue.push(Item::Now(proto, reply));
                return true;
            }
            if let Some(item) = Box::pin(self.start_reads(keys, each, proto)).await {
                queue.push(item);
                return true;
            }
        }
        self.run(self.start(cmd), proto, queue).await
    }

    /// What GETs of `keys` answer, if every one can be answered from memory
    /// at once (`Cluster::read_lww_now`); None if any cannot.
    fn read_all_now(&self, keys: &[Vec<u8>]) -> Option<Result<Vec<Option<Vec<u8>>>, OpError>> {
        self.prefetch_all(keys.iter().map(Vec::as_slice), Touch::Read);
        let got: Option<Vec<_>> = keys.iter().map(|k| self.ctx.cluster.read_lww_now(k, b"")).collect();
        got.map(|all| all.into_iter().collect())
    }

    /// MGET's or EXISTS's queue item on a node alone: each key's read
    /// started in order (see `Item::All`). None in a cluster.
    async fn start_reads(&self, keys: &[Vec<u8>], each: Each, proto: ProtoVersion) -> Option<Item> {
        let mut started = Vec::with_capacity(keys.len());
        for key in keys {
            started.push(self.ctx.cluster.start_read_lww(key).await?);
        }
        Some(Item::All(proto, started, each))
    }

    /// Each key's memtable index slot, then its entry, all before the first
    /// of them is used: their cache misses overlap (`Cluster::prefetch_slot`).
    fn prefetch_all<'a>(&self, keys: impl Iterator<Item = &'a [u8]>, touch: Touch) {
        let hashes: Vec<_> = keys.filter_map(|k| self.ctx.cluster.prefetch_slot(k, b"", touch)).collect();
        for &h in &hashes {
            self.ctx.cluster.prefetch_entry(h, touch);
        }
    }

    /// A read-modify-write (`Item::Rmw`); in a cluster, the general path.
    async fn rmw_item(
        self: &Rc<Self>,
        key: Vec<u8>,
        op: RmwOp,
        answer: Answer,
        proto: ProtoVersion,
        queue: &Queue,
    ) -> bool {
        match self.ctx.cluster.start_rmw(&key, op).await {
            Ok(started) => {
                queue.push(Item::Rmw(proto, started, answer));
                true
            }
            Err(op) => self.run(self.rmw_reply_future(key, op, answer), proto, queue).await,
        }
    }

    /// The general path of a read-modify-write, answered as `answer` says.
    fn rmw_reply_future(self: &Rc<Self>, key: Vec<u8>, op: RmwOp, answer: Answer) -> ReplyFuture {
        let me = self.clone();
        Box::pin(async move { answer.reply(me.rmw(&key, op).await) })
    }

    /// Queue the reply of `rest`, a command's general path.
    async fn run(&self, mut rest: ReplyFuture, proto: ProtoVersion, queue: &Queue) -> bool {
        if !self.ctx.cluster.alone() {
            // In a cluster, replicas answer in any order: run commands one at a
            // time so each sees the effects of the ones before it.
            let r = rest.await;
            queue.push(Item::Now(proto, r));
            return true;
        }
        // Most local reads (and writes without a sync to wait for) are done
        // already: skip the task.
        match futures_lite::future::poll_once(&mut rest).await {
            Some(r) => queue.push(Item::Now(proto, r)),
            None => queue.push(Item::Later(proto, glommio::spawn_local(rest))),
        }
        true
    }

    /// MSET's queue item: each key's blind overwrite started in order (see
    /// `Item::All`), or in a cluster the general path's answer.
    async fn start_mset(self: &Rc<Self>, pairs: Vec<(Vec<u8>, Vec<u8>)>, proto: ProtoVersion) -> Item {
        self.prefetch_all(pairs.iter().map(|(k, _)| k.as_slice()), Touch::BlindWrite);
        let mut started = Vec::with_capacity(pairs.len());
        let mut pairs = pairs.into_iter();
        while let Some((key, value)) = pairs.next() {
            match self.ctx.cluster.start_blind(&key, b"", Some(value)).await {
                Ok(s) => started.push(s),
                Err(value) => {
                    // A cluster: the general path, for this key and the rest.
                    let rest = std::iter::once((key, value.unwrap_or_default())).chain(pairs).collect();
                    let rest = self.start(Command::MSet { pairs: rest });
                    return Item::Now(proto, self.finish_all(started, Each::Overwrite, rest).await);
                }
            }
        }
        Item::All(proto, started, Each::Overwrite)
    }

    /// DEL's queue item: each key's delete started in order (see
    /// `Item::All`), or in a cluster the general path's answer.
    async fn start_del(self: &Rc<Self>, keys: Vec<Vec<u8>>, proto: ProtoVersion) -> Item {
        let mut started = Vec::with_capacity(keys.len());
        let mut keys = keys.into_iter();
        while let Some(key) = keys.next() {
            match self.ctx.cluster.start_rmw(&key, RmwOp::Overwrite(None)).await {
                Ok(s) => started.push(s),
                Err(_) => {
                    // A cluster: the general path, for this key and the rest.
                    let rest = self.start(Command::Del { keys: std::iter::once(key).chain(keys).collect() });
                    return Item::Now(proto, self.finish_all(started, Each::Delete, rest).await);
                }
            }
        }
        Item::All(proto, started, Each::Delete)
    }

    /// The answer of a multi-key write whose first ops were `started` and
    /// whose rest is `rest`, the general path's answer for the other keys.
    async fn finish_all(&self, started: Vec<Started>, each: Each, rest: ReplyFuture) -> Reply {
        let mut total = each.total(started.len());
        for s in started {
            each.add(&mut total, self.ctx.mesh.finish(s).await);
        }
        each.merge(&mut total, rest.await);
        total
    }

    /// Commands about the connection itself.
    fn connection_command(&self, cmd: &Command) -> Option<Reply> {
        Some(match cmd {
            Command::Hello { protover, auth, setname } => {
                if auth.is_some() {
                    return Some(Reply::Error(
                        "WRONGPASS ringkv: authentication is not configured on this server".into(),
                    ));
                }
                if let Some(p) = protover {
                    self.proto.set(*p);
                }
                if let Some(n) = setname {
                    *self.name.borrow_mut() = Some(n.clone());
                }
                resp::hello_reply(self.proto.get(), self.id, env!("CARGO_PKG_VERSION"))
            }
            Command::Auth { .. } => Reply::Error(
                "ERR AUTH <password> called without any password configured for the default user. \
                 Are you sure your configuration is correct?"
                    .into(),
            ),
            Command::Reset => {
                self.proto.set(ProtoVersion::Resp2);
                *self.name.borrow_mut() = None;
                Reply::simple("RESET")
            }
            Command::Client(ClientCommand::SetName(n)) => {
                *self.name.borrow_mut() = (!n.is_empty()).then(|| n.clone());
                Reply::ok()
            }
            Command::Client(ClientCommand::GetName) => Reply::bulk_or_nil(self.name.borrow().clone()),
            Command::Client(ClientCommand::Id) => Reply::Integer(self.id),
            _ => return None,
        })
    }

    async fn on_all_shards(&self, make: impl Fn() -> ShardOp) -> Vec<Pending1> {
        let mut out = Vec::with_capacity(self.ctx.info.shards);
        for s in 0..self.ctx.info.shards {
            out.push(Pending1 { mesh: self.mesh().clone(), started: self.mesh().start(s, make()).await });
        }
        out
    }

    /// The value a RESP client sees: the last-writer-wins choice among siblings.
    async fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
        match self.ctx.cluster.read(key, b"", None).await {
            Ok(set) => Ok(set.into_lww()),
            Err(e) => Err(op_error(e)),
        }
    }

    /// A read-modify-write, atomic on the coordinating replica and replicated.
    async fn rmw(&self, key: &[u8], op: RmwOp) -> Result<RmwResult, Reply> {
        rmw_result(self.ctx.cluster.rmw(key, op, None).await)
    }

    /// A plain write (SET, DEL): supersedes every sibling (last writer wins).
    /// `blind`: the caller ignores the result, so the shard may skip reading
    /// the old value (see `RmwOp::Blind`).
    async fn overwrite(&self, key: &[u8], value: Option<Vec<u8>>, blind: bool) -> Result<RmwResult, Reply> {
        // Only a cluster forwards: keep a copy of the value for that alone.
        let kept = (!self.ctx.cluster.alone()).then(|| value.clone());
        let op = if blind { RmwOp::Blind(value) } else { RmwOp::Overwrite(value) };
        match self.ctx.cluster.rmw(key, op, None).await {
            Ok(WriteOutcome::Forward(addr)) => match kept {
                Some(value) => relay_overwrite(&addr, key, value).await,
                None => Err(Reply::Error("TRYAGAIN ringkv: the node joined a cluster during the write".into())),
            },
            other => overwrite_result(other),
        }
    }

    /// The whole of `cmd`. Single-key effects start in command order (the
    /// coordinator's first messages go out when this future is first polled,
    /// which `dispatch` does at once, in order).
    fn start(self: &Rc<Self>, cmd: Command) -> ReplyFuture {
        let cmd = match as_rmw(cmd) {
            Ok((key, op, answer)) => return self.rmw_reply_future(key, op, answer),
            Err(cmd) => cmd,
        };
        let me = self.clone();
        if let Some((key, how)) = single_read(&cmd) {
            let key = key.to_vec();
            return Box::pin(async move { me.read(&key).await.map_or_else(|e| e, |v| how.reply(v)) });
        }
        match cmd {
            Command::Set { key, value, condition: SetCondition::Always, get: false } => {
                Box::pin(async move { me.overwrite(&key, Some(value), true).await.map_or_else(|e| e, |_| Reply::ok()) })
            }
            Command::Del { keys } => {
                let ps: Vec<_> = keys
                    .into_iter()
                    .map(|k| {
                        let me = me.clone();
                        glommio::spawn_local(async move { me.overwrite(&k, None, false).await })
                    })
                    .collect();
                Box::pin(async move {
                    let mut n = 0;
                    for p in ps {
                        match p.await {
                            Ok(RmwResult::Old { applied, .. }) => n += applied as i64,
                            Ok(_) => {}
                            Err(e) => return e,
                        }
                    }
                    Reply::Integer(n)
                })
            }
            Command::Exists { keys } => {
                let ps = self.reads(keys);
                Box::pin(async move {
                    let mut n = 0;
                    for p in ps {
                        match p.await {
                            Ok(v) => n += v.is_some() as i64,
                            Err(e) => return e,
                        }
                    }
                    Reply::Integer(n)
                })
            }
            Command::MGet { keys } => {
                let ps = self.reads(keys);
                Box::pin(async move {
                    let mut out = Vec::with_capacity(ps.len());
                    for p in ps {
                        match p.await {
                            Ok(v) => out.push(Reply::bulk_or_nil(v)),
                            Err(e) => return e,
                        }
                    }
                    Reply::Array(out)
                })
            }
            Command::MSet { pairs } => {
                let ps: Vec<_> = pairs
                    .into_iter()
                    .map(|(k, v)| {
                        let me = me.clone();
                        glommio::spawn_local(async move { me.overwrite(&k, Some(v), true).await })
                    })
                    .collect();
                Box::pin(async move {
                    for p in ps {
                        if let Err(e) = p.await {
                            return e;
                        }
                    }
                    Reply::ok()
                })
            }
            Command::MSetNx { .. } => Box::pin(async move {
                Reply::Error("ERR ringkv: MSETNX is not supported (no atomicity across keys)".into())
            }),
            Command::DbSize => Box::pin(async move {
                sum_ints(me.on_all_shards(|| ShardOp::CountPartitions { stale_ok: false }).await)
                    .await
                    .map_or_else(unexpected, Reply::Integer)
            }),
            Command::FlushAll => Box::pin(async move {
                for p in me.on_all_shards(|| ShardOp::DeleteAll).await {
                    if let r @ ShardReply::Failed(..) = p.done().await {
                        return unexpected(r);
                    }
                }
                Reply::ok()
            }),
            Command::Scan(args) => Box::pin(async move { me.scan(args).await }),
            Command::Keys { pattern } => Box::pin(async move {
                let mut out = Vec::new();
                let mut from = 0u64;
                loop {
                    let shard = me.shard_of_token(from);
                    match me.mesh().call(shard, ShardOp::ScanPartitions { from, count: 10_000 }).await {
                        ShardReply::Keys { keys, next } => {
                            out.extend(keys.into_iter().filter(|k| pattern.matches(k)).map(Reply::Bulk));
                            if out.len() > KEYS_MAX {
                                return Reply::Error(format!(
                                    "ERR ringkv: KEYS would return more than {KEYS_MAX} keys; use SCAN"
                                ));
                            }
                            match next.or_else(|| me.first_token_of(shard + 1)) {
                                Some(t) => from = t,
                                None => break,
                            }
                        }
                        other => return unexpected(other),
                    }
                }
                Reply::Array(out)
            }),
            Command::Info(sections) => Box::pin(async move {
                let ps = me.on_all_shards(|| ShardOp::Stats).await;
                // Counting keys walks the whole keyspace: only for the section that shows it.
                let counts = if info_wants(&sections, "keyspace") {
                    me.on_all_shards(|| ShardOp::CountPartitions { stale_ok: true }).await
                } else {
                    Vec::new()
                };
                let resp = me.on_all_shards(|| ShardOp::RespCounters).await;
                info_reply(&me.ctx, &sections, ps, counts, resp).await
            }),
            other => {
                let name = other.name();
                Box::pin(async move { Reply::Error(format!("ERR ringkv: '{name}' is not supported here")) })
            }
        }
    }

    fn reads(self: &Rc<Self>, keys: Vec<Vec<u8>>) -> Vec<glommio::Task<Result<Option<Vec<u8>>, Reply>>> {
        keys.into_iter()
            .map(|k| {
                let me = self.clone();
                glommio::spawn_local(async move { me.read(&k).await })
            })
            .collect()
    }

    /// SCAN: keys come in token order (shard 0's token range first), so the
    /// cursor is simply the token to go on from, and any connection can
    /// continue any cursor. 0 starts and ends a scan.
    async fn scan(&self, args: ScanArgs) -> Reply {
        if args.type_filter == TypeFilter::Nothing {
            return Reply::Array(vec![Reply::bulk("0"), Reply::Array(Vec::new())]);
        }
        let count = args.count.clamp(1, SCAN_COUNT_MAX) as usize;
        let mut from = args.cursor;
        let mut keys = Vec::new();
        let next = loop {
            let shard = self.shard_of_token(from);
            match self.mesh().call(shard, ShardOp::ScanPartitions { from, count: count - keys.len() }).await {
                ShardReply::Keys { keys: ks, next } => {
                    keys.extend(ks.into_iter().filter(|k| args.pattern.as_ref().is_none_or(|p| p.matches(k))));
                    let next = next.or_else(|| self.first_token_of(shard + 1));
                    match next {
                        Some(t) if keys.len() < count => from = t,
                        Some(t) => break t,
                        None => break 0,
                    }
                }
                other => return unexpected(other),
            }
        };
        Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(keys.into_iter().map(Reply::Bulk).collect())])
    }

    fn shard_of_token(&self, token: u64) -> usize {
        ring::shard_of(token, self.ctx.info.shards)
    }

    /// The first token shard `shard` owns (None past the last shard).
    fn first_token_of(&self, shard: usize) -> Option<u64> {
        let n = self.ctx.info.shards;
        (shard < n).then(|| (((shard as u128) << 64).div_ceil(n as u128)) as u64)
    }
}

/// An op started on some shard, to be finished later.
struct Pending1 {
    mesh: Rc<Mesh>,
    started: Started,
}

impl Pending1 {
    async fn done(self) -> ShardReply {
        self.mesh.finish(self.started).await
    }
}

/// The sum of every shard's `ShardReply::Int`, or the first other reply.
async fn sum_ints(ps: Vec<Pending1>) -> Result<i64, ShardReply> {
    let mut n = 0;
    for p in ps {
        match p.done().await {
            ShardReply::Int(c) => n += c,
            other => return Err(other),
        }
    }
    Ok(n)
}

fn old_value(r: Result<RmwResult, Reply>) -> Reply {
    match r {
        Ok(RmwResult::Old { old, .. }) => Reply::bulk_or_nil(old),
        Ok(other) => Reply::Error(format!("ERR ringkv: unexpected {other:?}")),
        Err(e) => e,
    }
}

/// A finished `Item::Rmw`'s reply, or its failure.
fn rmw_reply(r: ShardReply, answer: Answer) -> Reply {
    answer.reply(match r {
        // Done as a blind overwrite: the result alone, no context built.
        ShardReply::Overwritten { result, .. } => Ok(result),
        r => rmw_result(local_write_outcome(r)),
    })
}

/// A read-modify-write command's key, op and answer; any other command back
/// (a plain SET too: it is a blind overwrite, `Cluster::start_blind`).
fn as_rmw(cmd: Command) -> Result<(Vec<u8>, RmwOp, Answer), Command> {
    Ok(match cmd {
        Command::Set { condition: SetCondition::Always, get: false, .. } => return Err(cmd),
        Command::Set { key, value, condition, get } => {
            let when = match condition {
                SetCondition::Always => SetWhen::Always,
                SetCondition::IfMissing => SetWhen::IfMissing,
                SetCondition::IfExists => SetWhen::IfExists,
            };
            (key, RmwOp::Set { value, when }, Answer::Set { get })
        }
        Command::SetNx { key, value } => (key, RmwOp::Set { value, when: SetWhen::IfMissing }, Answer::Applied),
        Command::GetSet { key, value } => (key, RmwOp::Set { value, when: SetWhen::Always }, Answer::Old),
        Command::GetDel { key } => (key, RmwOp::Take, Answer::Old),
        Command::IncrBy { key, delta } => (key, RmwOp::IncrBy(delta), Answer::Int),
        Command::Append { key, value } => {
            (key, RmwOp::Append { value, max_len: RespLimits::DEFAULT.value_bytes_max }, Answer::Int)
        }
        cmd => return Err(cmd),
    })
}

/// How a read-modify-write command answers its result.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// INCRBY, APPEND: the integer.
    Int,
    /// GETSET, GETDEL: the old value, or nil.
    Old,
    /// SETNX: 1 if it set the key, else 0.
    Applied,
    /// SET NX/XX: OK if it set the key, else nil; with GET, the old value.
    Set { get: bool },
}

impl Answer {
    fn reply(self, r: Result<RmwResult, Reply>) -> Reply {
        match (self, r) {
            (_, Err(e)) => e,
            (Answer::Int, r) => int_reply(r),
            (Answer::Old, r) => old_value(r),
            (Answer::Applied, Ok(RmwResult::Old { applied, .. })) => Reply::Integer(applied as i64),
            (Answer::Set { get: true }, Ok(RmwResult::Old { old, .. })) => Reply::bulk_or_nil(old),
            (Answer::Set { get: false }, Ok(RmwResult::Old { applied: true, .. })) => Reply::ok(),
            (Answer::Set { get: false }, Ok(RmwResult::Old { applied: false, .. })) => Reply::Nil,
            (_, Ok(other)) => Reply::Error(format!("ERR ringkv: unexpected {other:?}")),
        }
    }
}

/// How a multi-key command (`Item::All`) answers its ops' results.
#[derive(Debug, Clone, Copy)]
enum Each {
    /// MSET: OK once every blind overwrite is done.
    Overwrite,
    /// DEL: how many of the keys existed.
    Delete,
    /// MGET (`ReadAs::Value`): each key's value, in order. EXISTS
    /// (`ReadAs::Exists`): how many of the keys have a value.
    Read(ReadAs),
}

/// What a read of one key answers from its LWW value: each key of MGET and
/// EXISTS, and a single-key read (`Item::Read`, `single_read`).
#[derive(Debug, Clone, Copy)]
enum ReadAs {
    /// GET, MGET: the value, or nil.
    Value,
    /// EXISTS: 1 if it has a value, else 0.
    Exists,
    /// STRLEN: the value's length, 0 if none.
    Len,
    /// TYPE: "string", or "none".
    Type,
    /// TTL and PTTL: no key has an expiry, so -1 if it exists, -2 if not.
    Ttl,
}

impl ReadAs {
    /// The reply to a read that came to `r`: as `reply` says, or the error.
    fn answer(self, r: Result<Option<Vec<u8>>, OpError>) -> Reply {
        r.map_or_else(op_error, |v| self.reply(v))
    }

    fn reply(self, v: Option<Vec<u8>>) -> Reply {
        match self {
            ReadAs::Value => Reply::bulk_or_nil(v),
            _ => self.reply_len(v.map(|v| v.len())),
        }
    }

    /// [`reply`](Self::reply) from the value's length alone (None: no
    /// value), for every kind but `Value`, which needs the value itself.
    fn reply_len(self, len: Option<usize>) -> Reply {
        match self {
            ReadAs::Value => Reply::Error("ERR ringkv: internal: a GET answered from a length".into()),
            ReadAs::Exists => Reply::Integer(len.is_some() as i64),
            ReadAs::Len => Reply::Integer(len.map_or(0, |n| n as i64)),
            ReadAs::Type => Reply::simple(if len.is_some() { "string" } else { "none" }),
            ReadAs::Ttl => Reply::Integer(if len.is_some() { -1 } else { -2 }),
        }
    }
}

/// The key of a command that reads one key and answers from its LWW value
/// alone, and how it answers.
fn single_read(cmd: &Command) -> Option<(&[u8], ReadAs)> {
    Some(match cmd {
        Command::Get { key } => (key, ReadAs::Value),
        Command::Exists { keys } if keys.len() == 1 => (&keys[0], ReadAs::Exists),
        Command::StrLen { key } => (key, ReadAs::Len),
        Command::Type { key } => (key, ReadAs::Type),
        Command::Ttl { key, .. } => (key, ReadAs::Ttl),
        _ => return None,
    })
}

impl Each {
    /// The answer before any of its `n` ops.
    fn total(self, n: usize) -> Reply {
        match self {
            Each::Overwrite => Reply::ok(),
            Each::Read(ReadAs::Value) => Reply::Array(Vec::with_capacity(n)),
            Each::Delete | Each::Read(_) => Reply::Integer(0),
        }
    }

    /// One more op's result into `total`; the first failure stays.
    fn add(self, total: &mut Reply, r: ShardReply) {
        let r = match self {
            Each::Overwrite => overwrite_reply(r),
            Each::Delete => rmw_reply(r, Answer::Applied),
            Each::Read(how) => how.answer(local_read_outcome(r)),
        };
        self.merge(total, r)
    }

    /// A read's whole answer (`Value`, `Exists`) from every key's value, in
    /// order: what `add` of each would come to, built at once.
    fn of_values(self, values: Vec<Option<Vec<u8>>>) -> Reply {
        match self {
            Each::Read(ReadAs::Exists) => Reply::Integer(values.iter().filter(|v| v.is_some()).count() as i64),
            _ => Reply::Array(values.into_iter().map(Reply::bulk_or_nil).collect()),
        }
    }

    /// A partial answer into `total`; the first failure stays. In place, so
    /// that MGET's array is not moved through every merge.
    fn merge(self, total: &mut Reply, r: Reply) {
        match (total, r) {
            (Reply::Error(_), _) => {}
            (total, r @ Reply::Error(_)) => *total = r,
            (Reply::Array(a), r) if matches!(self, Each::Read(ReadAs::Value)) => a.push(r),
            (Reply::Integer(a), Reply::Integer(b)) => *a += b,
            _ => {}
        }
    }
}

/// What a read-modify-write's outcome gives the client: its result, or the error.
fn rmw_result(outcome: Result<WriteOutcome, OpError>) -> Result<RmwResult, Reply> {
    match outcome {
        Ok(WriteOutcome::Written(Written::Done { rmw: Some(r), .. })) => Ok(r),
        Ok(WriteOutcome::Written(Written::Skipped(r))) => Ok(r),
        Ok(WriteOutcome::Written(Written::Done { rmw: None, .. })) => {
            Err(Reply::Error("ERR ringkv: read-modify-write lost its result".into()))
        }
        Ok(WriteOutcome::Forward(_)) => Err(Reply::Error(
            "ERR ringkv: this node is not a replica of the key; send read-modify-write commands to one".into(),
        )),
        Err(e) => Err(op_error(e)),
    }
}

fn int_reply(r: Result<RmwResult, Reply>) -> Reply {
    match r {
        Ok(RmwResult::Int(n)) => Reply::Integer(n),
        Ok(other) => Reply::Error(format!("ERR ringkv: unexpected {other:?}")),
        Err(e) => e,
    }
}

/// The result of an overwrite written here (not forwarded).
fn overwrite_result(outcome: Result<WriteOutcome, OpError>) -> Result<RmwResult, Reply> {
    match outcome {
        Ok(WriteOutcome::Written(Written::Done { rmw: Some(r), .. })) => Ok(r),
        Ok(WriteOutcome::Written(Written::Skipped(r))) => Ok(r),
        Ok(_) => Ok(RmwResult::Old { applied: true, old: None }),
        Err(e) => Err(op_error(e)),
    }
}

fn op_error(e: OpError) -> Reply {
    match e {
        OpError::Quorum(q) => Reply::Error(format!("TRYAGAIN ringkv: {q}")),
        OpError::Failed(kind, msg) => error_reply(kind, msg),
    }
}

/// Send a SET/DEL to a replica of the key (this node is not one) over the
/// native protocol, as an overwrite.
async fn relay_overwrite(addr: &str, key: &[u8], value: Option<Vec<u8>>) -> Result<RmwResult, Reply> {
    use crate::protocol::{self, DeleteRequest, Key, PutRequest, Request};
    let key = Key::new(key, b"");
    let req = match value {
        Some(value) => {
            Request::Put(PutRequest { consistency: protocol::Consistency::Default, key, value, context: vec![] })
        }
        None => Request::Delete(DeleteRequest { consistency: protocol::Consistency::Default, key, context: vec![] }),
    };
    let partition = match &req {
        Request::Put(p) => p.key.partition.clone(),
        Request::Delete(d) => d.key.partition.clone(),
        _ => Vec::new(),
    };
    let fail = |e: String| Reply::Error(format!("TRYAGAIN ringkv: relay to {addr}: {e}"));
    let c = crate::client::AsyncClient::connect(addr).await.map_err(|e| fail(e.to_string()))?;
    c.call_with_flags(&partition, &req, protocol::FLAG_OVERWRITE | protocol::FLAG_FORWARDED)
        .await
        .map_err(|e| fail(e.to_string()))?;
    // The replica does not report whether the key existed.
    Ok(RmwResult::Old { applied: true, old: None })
}

/// Redis's `used_memory_human` form: 1.50M, 512.00K, 100B.
fn human_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    UNITS
        .iter()
        .find(|(unit, _)| n >= *unit)
        .map_or_else(|| format!("{n}B"), |(unit, name)| format!("{:.2}{name}", n as f64 / *unit as f64))
}

/// This process's resident set, in bytes (0 if /proc cannot tell).
fn resident_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .unwrap_or(0);
    // SAFETY: sysconf with a valid name has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// Whether `INFO sections` shows section `s` (no sections: the default, all).
fn info_wants(sections: &[String], s: &str) -> bool {
    sections.is_empty() || sections.iter().any(|x| x == s || x == "all" || x == "everything")
}

async fn info_reply(
    ctx: &RespCtx,
    sections: &[String],
    stats: Vec<Pending1>,
    counts: Vec<Pending1>,
    resp: Vec<Pending1>,
) -> Reply {
    // A shard that cannot count (it never fails to) counts as 0 here.
    let keys = sum_ints(counts).await.unwrap_or(0);
    let mut clients = RespCounters::default();
    for r in resp {
        if let ShardReply::Resp(c) = r.done().await {
            clients.commands += c.commands;
            clients.connected += c.connected;
            clients.accepted += c.accepted;
        }
    }
    let mut st = Stats::default();
    for s in stats {
        if let ShardReply::Stats(shard) = s.done().await {
            st.add(&shard);
        }
    }
    let want = |s: &str| info_wants(sections, s);
    let mut t = String::new();
    if want("server") {
        t.push_str(&format!(
            "# Server\r\nredis_version:{}\r\nringkv_version:{}\r\nredis_mode:standalone\r\nos:Linux\r\n\
             process_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n\r\n",
            resp::REDIS_COMPAT_VERSION,
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            ctx.port,
            ctx.started.elapsed().as_secs()
        ));
    }
    if want("clients") {
        t.push_str(&format!("# Clients\r\nconnected_clients:{}\r\nblocked_clients:0\r\n\r\n", clients.connected));
    }
    if want("memory") {
        // The memtables and the block cache, the two that grow with the data.
        let (mem, cache_bytes) = (st.all_memtable_bytes as u64, st.cache_bytes as u64);
        let used = mem + cache_bytes;
        t.push_str(&format!(
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{}\r\n\
             ringkv_memtable_bytes:{mem}\r\nringkv_block_cache_bytes:{cache_bytes}\r\n\r\n",
            human_bytes(used),
            resident_bytes()
        ));
    }
    if want("stats") {
        t.push_str(&format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
             ringkv_user_bytes_written:{}\r\n\
             ringkv_flushes:{}\r\nringkv_wal_checkpoints:{}\r\nringkv_compactions:{}\r\nringkv_table_moves:{}\r\n\
             ringkv_write_stall_micros:{}\r\nringkv_write_delay_micros:{}\r\n\
             ringkv_block_cache_hits:{}\r\nringkv_block_cache_misses:{}\r\n\
             ringkv_block_cache_bytes:{}\r\n\r\n",
            clients.accepted,
            clients.commands,
            st.user_bytes_written,
            st.flushes,
            st.wal_checkpoints,
            st.compactions,
            st.table_moves,
            st.write_stall_micros,
            st.write_delay_micros,
            st.cache_hits,
            st.cache_misses,
            st.cache_bytes
        ));
    }
    if want("persistence") {
        t.push_str(&format!(
            "# Persistence\r\nloading:0\r\nringkv_sync:{}\r\nringkv_table_bytes:{}\r\n\
             ringkv_tables_per_level:{}\r\n\
             ringkv_wal_bytes_written:{}\r\nringkv_wal_commits:{}\r\n\
             ringkv_flush_bytes_written:{}\r\n\
             ringkv_compaction_bytes_read:{}\r\nringkv_compaction_bytes_written:{}\r\n\r\n",
            ctx.info.sync,
            st.live_table_bytes,
            st.tables_per_level.iter().map(usize::to_string).collect::<Vec<_>>().join(","),
            st.wal_bytes_written,
            st.wal_commits,
            st.flush_bytes_written,
            st.compaction_bytes_read,
            st.compaction_bytes_written
        ));
    }
    if want("ringkv") || want("shards") {
        t.push_str(&format!("# ringkv\r\nnode_id:{}\r\nshards:{}\r\n\r\n", ctx.info.node_id, ctx.info.shards));
    }
    if want("keyspace") {
        t.push_str(&format!("# Keyspace\r\ndb0:keys={keys},expires=0,avg_ttl=0\r\n"));
    }
    Reply::text(t.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_as_redis_writes_them() {
        assert_eq!(human_bytes(0), "0B");
        assert_eq!(human_bytes(1023), "1023B");
        assert_eq!(human_bytes(1536), "1.50K");
        assert_eq!(human_bytes(5 << 20), "5.00M");
        assert_eq!(human_bytes(3 << 30), "3.00G");
    }

    #[test]
    fn resident_bytes_reads_this_process() {
        assert!(resident_bytes() > 0);
    }

    /// The write loop's view of a queue: each item's kind and, for a run,
    /// its count and last seq.
    fn drain(q: &Queue) -> Vec<String> {
        std::iter::from_fn(|| q.pop())
            .map(|item| match item {
                Item::Durable { proto, group, seq, count } => format!("{proto:?} g{group} s{seq} x{count}"),
                Item::Now(..) => "now".into(),
                _ => "other".into(),
            })
            .collect()
    }

    #[test]
    fn durable_sets_in_a_row_of_one_group_and_protocol_are_one_run() {
        use ProtoVersion::{Resp2, Resp3};
        let q = Queue::default();
        q.push_durable(Resp2, 7, 10);
        q.push_durable(Resp2, 7, 11);
        q.push_durable(Resp2, 7, 14);
        // Another group, another protocol, or another reply between: a new run.
        q.push_durable(Resp2, 8, 15);
        q.push_durable(Resp3, 8, 16);
        q.push(Item::Now(Resp3, Reply::ok()));
        q.push_durable(Resp3, 8, 17);
        assert_eq!(q.replies.get(), 7, "every reply counts, not every item");
        assert_eq!(
            drain(&q),
            ["Resp2 g7 s14 x3", "Resp2 g8 s15 x1", "Resp3 g8 s16 x1", "now", "Resp3 g8 s17 x1"].map(String::from)
        );
        assert_eq!(q.replies.get(), 0);
        assert!(!q.in_hand.get(), "nothing popped at the end");
        // A run the write loop has taken is not added to: the next SET starts another.
        q.push_durable(Resp2, 9, 20);
        let taken = q.pop();
        q.push_durable(Resp2, 9, 21);
        assert!(matches!(taken, Some(Item::Durable { count: 1, seq: 20, .. })));
        assert_eq!(drain(&q), ["Resp2 g9 s21 x1"].map(String::from));
    }
}
