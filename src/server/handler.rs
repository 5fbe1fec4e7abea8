//! Turns decoded native requests into shard operations and their replies into
//! responses. Routing: a key goes to the shard that owns its token, here or
//! across the mesh.

use std::ops::Bound;
use std::rc::Rc;

use crate::client::{AsyncClient, ClientError};
use crate::keys;
use crate::protocol::{
    self, Consistency, DeleteReply, ErrorCode, ErrorReply, GetRef, GetReply, HandshakeReply, Incoming, Key, KeyRef,
    PutItem, PutRef, PutReply, PutRequest, ReplicaFrame, Request, Response, ScanItem, ScanReply, Status, Version,
    FLAG_FORWARDED, FLAG_OVERWRITE,
};
use crate::replication::{QuorumError, ReadAnswer, ReadRef, ReplicaFailure, ReplicaRequest, SiblingSet, VersionVector};
use crate::ring;
use crate::server::cluster::{local_write_outcome, Cluster, OpError, WriteOutcome, Written};
use crate::server::mesh::{Mesh, Started};
use crate::server::shard_op::{FailKind, ShardOp, ShardReply};
use crate::server::NodeInfo;
use crate::storage::Touch;

/// Items a SCAN returns when the client asks for 0 (the server default).
pub const SCAN_DEFAULT_LIMIT: usize = 1000;
/// Most items in one SCAN page (docs/PROTOCOL.md §4).
pub const SCAN_MAX_LIMIT: usize = 10_000;
/// Stop filling a response past this many bytes (the frame limit is 8 MiB).
const RESPONSE_SOFT_LIMIT_BYTES: usize = 6 << 20;

pub struct Handler {
    mesh: Rc<Mesh>,
    info: Rc<NodeInfo>,
    shard_addrs: Vec<String>,
    cluster: Rc<Cluster>,
}

fn fail(kind: FailKind, msg: String) -> ErrorReply {
    let code = match kind {
        FailKind::ReadOnly => ErrorCode::ReadOnly,
        FailKind::BadRequest => ErrorCode::BadRequest,
        FailKind::Unavailable => ErrorCode::Overloaded,
        FailKind::Internal => ErrorCode::Internal,
    };
    ErrorReply::new(code, msg)
}

fn unexpected(r: ShardReply) -> ErrorReply {
    match r {
        ShardReply::Failed(kind, msg) => fail(kind, msg),
        other => ErrorReply::new(ErrorCode::Internal, format!("unexpected shard reply {other:?}")),
    }
}

fn op_error(e: OpError) -> ErrorReply {
    match e {
        OpError::Quorum(QuorumError::QuorumNotReached { got, needed }) => {
            ErrorReply::new(ErrorCode::QuorumNotReached, format!("quorum not reached: got {got} of {needed}"))
        }
        OpError::Quorum(QuorumError::Rejected(ReplicaFailure::TooLarge)) => ErrorReply::new(
            ErrorCode::ValueTooLarge,
            "the item would exceed its limits (too many siblings or bytes): write with a context that resolves them",
        ),
        OpError::Quorum(q) => ErrorReply::new(ErrorCode::Internal, q.to_string()),
        OpError::Failed(kind, msg) => fail(kind, msg),
    }
}

/// A client's causal context: empty means none.
fn parse_context(bytes: &[u8]) -> Result<VersionVector, ErrorReply> {
    if bytes.is_empty() {
        return Ok(VersionVector::new());
    }
    VersionVector::decode(bytes).map_err(|e| ErrorReply::new(ErrorCode::BadRequest, format!("context: {e}")))
}

fn level(c: Consistency) -> Option<crate::replication::Consistency> {
    match c {
        Consistency::Default => None,
        Consistency::One => Some(crate::replication::Consistency::One),
        Consistency::Quorum => Some(crate::replication::Consistency::Quorum),
        Consistency::All => Some(crate::replication::Consistency::All),
    }
}

/// The client's view of a stored set: live sibling values (or, with
/// last-writer-wins, the winner only) and the causal context.
pub fn get_reply(set: &SiblingSet, lww: bool) -> GetReply {
    let context = set.context().encode().unwrap_or_default();
    let values: Vec<Vec<u8>> = if lww {
        set.resolve_lww().map(|v| vec![v.to_vec()]).unwrap_or_default()
    } else {
        set.values().into_iter().map(<[u8]>::to_vec).collect()
    };
    GetReply { values, context }
}

/// The engine-key range of a scan inside one partition: `[start, end)`.
pub fn scan_range(
    partition: &[u8],
    from: &Bound<Vec<u8>>,
    to: &Bound<Vec<u8>>,
    after: Option<&[u8]>,
) -> (Vec<u8>, Option<Vec<u8>>) {
    let prefix = keys::partition_prefix(partition);
    let with = |sk: &[u8], successor: bool| {
        let mut k = prefix.clone();
        k.extend_from_slice(sk);
        if successor {
            k.push(0);
        }
        k
    };
    let mut start = match from {
        Bound::Unbounded => prefix.clone(),
        Bound::Included(s) => with(s, false),
        Bound::Excluded(s) => with(s, true),
    };
    if let Some(last) = after {
        start = start.max(with(last, true));
    }
    let end = match to {
        Bound::Unbounded => prefix_successor(&prefix),
        Bound::Included(s) => Some(with(s, true)),
        Bound::Excluded(s) => Some(with(s, false)),
    };
    (start, end)
}

/// The smallest key greater than every key starting with `prefix` (None: no such key).
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut k = prefix.to_vec();
    while let Some(last) = k.pop() {
        if last < 0xff {
            k.push(last + 1);
            return Some(k);
        }
    }
    None
}

impl Handler {
    pub fn new(mesh: Rc<Mesh>, info: Rc<NodeInfo>, shard_addrs: Vec<String>, cluster: Rc<Cluster>) -> Self {
        Handler { mesh, info, shard_addrs, cluster }
    }

    pub fn mesh(&self) -> &Rc<Mesh> {
        &self.mesh
    }

    pub fn max_in_flight(&self) -> usize {
        self.info.max_in_flight_per_connection
    }

    fn shard_of(&self, partition: &[u8]) -> usize {
        ring::shard_of(ring::token(partition), self.info.shards)
    }

    /// A hint that `req` comes soon, if it reads or writes one key of this
    /// shard: see `Cluster::prefetch_slot`. The hash and touch it returns are
    /// for [`Handler::prefetch_entry`] and the op itself.
    pub fn prefetch_slot(&self, req: &Incoming<'_>, flags: u16) -> Option<(u64, Touch)> {
        let (key, touch) = match req {
            Incoming::Get(g) => (g.key, Touch::Read),
            // A blind overwrite reads nothing; another write reads the key's
            // versions (its clock) first.
            Incoming::Put(p) if flags & FLAG_OVERWRITE != 0 => (p.key, Touch::BlindWrite),
            Incoming::Put(p) => (p.key, Touch::Read),
            Incoming::Other(Request::Delete(d)) => {
                (KeyRef { partition: &d.key.partition, sort: &d.key.sort }, Touch::Read)
            }
            Incoming::Other(_) => return None,
        };
        Some((self.cluster.prefetch_slot(key.partition, key.sort, touch)?, touch))
    }

    /// The second stage of the hint, one request before it runs.
    pub fn prefetch_entry(&self, (hash, touch): (u64, Touch)) {
        self.cluster.prefetch_entry(hash, touch);
    }

    /// The reply to a GET appended to `out` if it is ready at once
    /// (`Cluster::read_answer_now_with`), encoded straight from where the
    /// value is stored; false: nothing appended, answer it otherwise.
    pub fn answer_get_now(&self, g: &GetRef<'_>, request_id: u64, out: &mut Vec<u8>) -> bool {
        let lww = self.cluster.config().lww;
        let encode = |r: ReadRef<'_>| protocol::encode_get_response(request_id, &r.context(), r.values(), &mut *out);
        let Some(read) = self.cluster.read_answer_now_with(g.key.partition, g.key.sort, lww, encode) else {
            return false;
        };
        let resp = match read {
            Ok(Some(())) => return true,
            Ok(None) => {
                let a = ReadAnswer::empty();
                Response::Get(GetReply { values: a.values, context: a.context })
            }
            Err(e) => Response::Error(op_error(e)),
        };
        protocol::encode_response(&resp, request_id, out);
        true
    }

    /// The ordered part of `p` if it is a blind overwrite (flag OVERWRITE)
    /// that nothing makes wait, written from where it was received
    /// (`Cluster::blind_write_now`); None: [`start_overwrite`](Self::start_overwrite)
    /// or [`handle`](Self::handle) its owned request. `key_hash`: its
    /// [`prefetch_slot`](Self::prefetch_slot) hash, if it had one.
    pub fn blind_put_now(&self, p: &PutRef<'_>, flags: u16, key_hash: Option<u64>) -> Option<Started> {
        if flags & FLAG_OVERWRITE == 0 {
            return None;
        }
        self.cluster.blind_write_now(p.key.partition, p.key.sort, Some(p.value), key_hash)
    }

    pub async fn handle(&self, req: Request, flags: u16) -> Response {
        let forwarded = flags & FLAG_FORWARDED != 0;
        let overwrite = flags & FLAG_OVERWRITE != 0;
        match req {
            Request::Handshake(h) => Response::Handshake(HandshakeReply {
                version: Version {
                    major: h.version.major.min(Version::CURRENT.major),
                    minor: h.version.minor.min(Version::CURRENT.minor),
                },
                node_id: self.info.node_id.clone(),
                shard: self.mesh.shard() as u32,
                shard_addrs: self.shard_addrs.clone(),
            }),
            Request::Ping => Response::Pong,
            Request::Get(g) => match self.cluster.read(&g.key.partition, &g.key.sort, level(g.consistency)).await {
                Ok(set) => Response::Get(get_reply(&set, self.cluster.config().lww)),
                Err(e) => Response::Error(op_error(e)),
            },
            Request::Put(p) => {
                let key = p.key.clone();
                let r = self.write(&key, Some(p.value.clone()), &p.context, overwrite, p.consistency).await;
                self.write_response(r, Request::Put(p), flags, forwarded, |context| Response::Put(PutReply { context }))
                    .await
            }
            Request::Delete(d) => {
                let key = d.key.clone();
                let r = self.write(&key, None, &d.context, overwrite, d.consistency).await;
                self.write_response(r, Request::Delete(d), flags, forwarded, |_| {
                    Response::Delete(DeleteReply { status: Status::Ok })
                })
                .await
            }
            Request::Scan(s) => match self.scan(&s.partition, &s.from, &s.to, s.limit, &s.continuation).await {
                Ok(r) => Response::Scan(r),
                Err(e) => Response::Error(e),
            },
            Request::MGet(m) => Response::MGet(self.mget(m.keys, level(m.consistency)).await),
            Request::MPut(m) => Response::MPut(self.mput(m.items, overwrite, level(m.consistency)).await),
            Request::Replica(f) => self.replica(f).await,
            Request::Members(list) => {
                self.cluster.merge_members(&list);
                Response::Members(self.cluster.members())
            }
        }
    }

    async fn write(
        &self,
        key: &Key,
        value: Option<Vec<u8>>,
        context: &[u8],
        overwrite: bool,
        consistency: Consistency,
    ) -> Result<WriteOutcome, ErrorReply> {
        // A DELETE without a context deletes whatever the coordinating replica
        // holds; a PUT without one is a blind write (a sibling of what exists).
        let ctx =
            if overwrite || (value.is_none() && context.is_empty()) { None } else { Some(parse_context(context)?) };
        self.cluster.write(&key.partition, &key.sort, value, ctx, level(consistency)).await.map_err(op_error)
    }

    /// Answer a write, relaying it to a replica if this node is not one.
    async fn write_response(
        &self,
        r: Result<WriteOutcome, ErrorReply>,
        req: Request,
        flags: u16,
        forwarded: bool,
        ok: impl FnOnce(Vec<u8>) -> Response,
    ) -> Response {
        match written_response(r, ok) {
            Ok(resp) => resp,
            Err(addr) if !forwarded => self.relay(&addr, req, flags | FLAG_FORWARDED).await,
            Err(_) => Response::Error(ErrorReply::new(
                ErrorCode::Overloaded,
                "forwarded to a node that is not a replica either (membership changing): retry",
            )),
        }
    }

    /// The ordered part of a write that is a blind overwrite on a node alone
    /// (see `Cluster::start_blind`): a PUT with the OVERWRITE flag, or a
    /// DELETE with it or without a context. [`overwrite_response`] of
    /// `Mesh::finish` is the rest, which may be left for later. Any other
    /// request comes back. Such a PUT is one [`blind_put_now`](Self::blind_put_now)
    /// could not write at once, so that is not tried again.
    pub async fn start_overwrite(&self, req: Request, flags: u16) -> Result<(Started, Overwrite), Request> {
        let overwrite = flags & FLAG_OVERWRITE != 0;
        match req {
            Request::Put(p) if overwrite => {
                let PutRequest { consistency, key, value, context } = p;
                match self.cluster.start_blind_not_now(&key.partition, &key.sort, Some(value)).await {
                    Ok(started) => Ok((started, Overwrite::Put)),
                    Err(value) => {
                        Err(Request::Put(PutRequest { consistency, key, value: value.unwrap_or_default(), context }))
                    }
                }
            }
            Request::Delete(d) if overwrite || d.context.is_empty() => {
                match self.cluster.start_blind(&d.key.partition, &d.key.sort, None).await {
                    Ok(started) => Ok((started, Overwrite::Delete)),
                    Err(_) => Err(Request::Delete(d)),
                }
            }
            other => Err(other),
        }
    }

    async fn relay(&self, addr: &str, req: Request, flags: u16) -> Response {
        let partition = match &req {
            Request::Put(p) => p.key.partition.clone(),
            Request::Delete(d) => d.key.partition.clone(),
            Request::Scan(s) => s.partition.clone(),
            _ => Vec::new(),
        };
        match AsyncClient::connect(addr).await {
            Ok(c) => match c.call_with_flags(&partition, &req, flags).await {
                Ok(r) => r,
                Err(ClientError::Server(e)) => Response::Error(e),
                Err(e) => Response::Error(ErrorReply::new(ErrorCode::Overloaded, format!("relay to {addr}: {e}"))),
            },
            Err(e) => Response::Error(ErrorReply::new(ErrorCode::Overloaded, format!("relay to {addr}: {e}"))),
        }
    }

    /// A replication message from another node, for one of our shards.
    async fn replica(&self, f: ReplicaFrame) -> Response {
        // Before any peer data is stored: blind overwrites stop being sound.
        self.cluster.mark_clustered();
        let req = match ReplicaRequest::decode(&f.message) {
            Ok(r) => r,
            Err(e) => return Response::Error(ErrorReply::new(ErrorCode::BadRequest, format!("replica message: {e}"))),
        };
        let Some((token, _, _)) = keys::decode(req.key()) else {
            return Response::Error(ErrorReply::new(ErrorCode::BadRequest, "replica message for a malformed key"));
        };
        let shard = ring::shard_of(token, self.info.shards);
        match self.mesh.call(shard, ShardOp::Replica { req, rmw: None }).await {
            ShardReply::Replica(reply, _) => match reply.encode() {
                Ok(bytes) => Response::Replica(bytes),
                Err(e) => Response::Error(ErrorReply::new(ErrorCode::Internal, e.to_string())),
            },
            other => Response::Error(unexpected(other)),
        }
    }

    async fn scan(
        &self,
        partition: &[u8],
        from: &Bound<Vec<u8>>,
        to: &Bound<Vec<u8>>,
        limit: u32,
        continuation: &[u8],
    ) -> Result<ScanReply, ErrorReply> {
        let limit = match limit as usize {
            0 => SCAN_DEFAULT_LIMIT,
            n => n.min(SCAN_MAX_LIMIT),
        };
        // The continuation token is the last sort key returned.
        let after = (!continuation.is_empty()).then_some(continuation);
        let (start, end) = scan_range(partition, from, to, after);
        // Ask for one more than wanted, to know whether the range goes on.
        let op = ShardOp::Scan { start, end, limit: limit + 1 };
        let rows = match self.mesh.call(self.shard_of(partition), op).await {
            ShardReply::Rows(rows) => rows,
            other => return Err(unexpected(other)),
        };
        let prefix_len = keys::partition_prefix(partition).len();
        let lww = self.cluster.config().lww;
        let mut items = Vec::with_capacity(rows.len().min(limit));
        let mut bytes = 0;
        let mut more = false;
        for (k, set) in rows {
            let g = get_reply(&set, lww);
            let size = k.len() + g.values.iter().map(Vec::len).sum::<usize>() + g.context.len();
            if items.len() == limit || bytes + size > RESPONSE_SOFT_LIMIT_BYTES {
                more = true;
                break;
            }
            bytes += size + 16;
            let sort_key = k.get(prefix_len..).unwrap_or_default().to_vec();
            items.push(ScanItem { sort_key, values: g.values, context: g.context });
        }
        let continuation = match (more, items.last()) {
            (true, Some(last)) => last.sort_key.clone(),
            // Even the first item did not fit: it is too large for one page.
            (true, None) => {
                return Err(ErrorReply::new(ErrorCode::ResponseTooLarge, "scan item larger than a response frame"))
            }
            (false, _) => Vec::new(),
        };
        Ok(ScanReply { items, continuation })
    }

    async fn mget(
        &self,
        keys: Vec<Key>,
        level: Option<crate::replication::Consistency>,
    ) -> Vec<Result<GetReply, ErrorReply>> {
        let lww = self.cluster.config().lww;
        let tasks: Vec<_> = keys
            .into_iter()
            .map(|k| {
                let cluster = self.cluster.clone();
                glommio::spawn_local(async move {
                    cluster.read(&k.partition, &k.sort, level).await.map(|s| get_reply(&s, lww)).map_err(op_error)
                })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        let mut bytes = 0;
        for t in tasks {
            let r = t.await;
            bytes += r.as_ref().map_or(0, |g| g.values.iter().map(Vec::len).sum::<usize>());
            out.push(if bytes > RESPONSE_SOFT_LIMIT_BYTES {
                Err(ErrorReply::new(ErrorCode::ResponseTooLarge, "ask for this key alone"))
            } else {
                r
            });
        }
        out
    }

    async fn mput(
        &self,
        items: Vec<PutItem>,
        overwrite: bool,
        level: Option<crate::replication::Consistency>,
    ) -> Vec<Result<PutReply, ErrorReply>> {
        let tasks: Vec<_> = items
            .into_iter()
            .map(|i| {
                let cluster = self.cluster.clone();
                glommio::spawn_local(async move {
                    let ctx = if overwrite { None } else { Some(parse_context(&i.context)?) };
                    match cluster.write(&i.key.partition, &i.key.sort, Some(i.value), ctx, level).await {
                        Ok(WriteOutcome::Written(Written::Done { context, .. })) => {
                            Ok(PutReply { context: context.encode().unwrap_or_default() })
                        }
                        Ok(WriteOutcome::Written(Written::Skipped(_))) => Ok(PutReply { context: Vec::new() }),
                        Ok(WriteOutcome::Forward(_)) => Err(ErrorReply::new(
                            ErrorCode::Overloaded,
                            "MPUT items must be sent to a replica of their key in a cluster larger than N",
                        )),
                        Err(e) => Err(op_error(e)),
                    }
                })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await);
        }
        out
    }
}

/// The response to a write done (or refused) here; the address of a replica
/// to relay it to if this node is not one.
fn written_response(
    r: Result<WriteOutcome, ErrorReply>,
    ok: impl FnOnce(Vec<u8>) -> Response,
) -> Result<Response, String> {
    match r {
        Ok(WriteOutcome::Written(Written::Done { context, .. })) => Ok(ok(context.encode().unwrap_or_default())),
        Ok(WriteOutcome::Written(Written::Skipped(_))) => Ok(ok(Vec::new())),
        Ok(WriteOutcome::Forward(addr)) => Err(addr),
        Err(e) => Ok(Response::Error(e)),
    }
}

/// What `Handler::start_overwrite` started.
#[derive(Clone, Copy, Debug)]
pub enum Overwrite {
    Put,
    Delete,
}

/// The response to a write started by `Handler::start_overwrite`, from its
/// shard's reply.
pub fn overwrite_response(kind: Overwrite, reply: ShardReply) -> Response {
    if let (Overwrite::Put, ShardReply::Overwritten { dot, timestamp_ms, .. }) = (kind, &reply) {
        // The common case: the context of the one dot, with no vector built.
        return Response::Put(PutReply { context: VersionVector::encode_dot(*dot, *timestamp_ms) });
    }
    let r = local_write_outcome(reply).map_err(op_error);
    let resp = match kind {
        Overwrite::Put => written_response(r, |context| Response::Put(PutReply { context })),
        Overwrite::Delete => written_response(r, |_| Response::Delete(DeleteReply { status: Status::Ok })),
    };
    resp.unwrap_or_else(|_| {
        Response::Error(ErrorReply::new(ErrorCode::Internal, "a write on a node alone was forwarded"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_ranges() {
        let p = keys::partition_prefix(b"p");
        let k = |s: &[u8]| keys::encode(b"p", s);
        let (s, e) = scan_range(b"p", &Bound::Unbounded, &Bound::Unbounded, None);
        assert_eq!(s, p);
        assert!(e.as_ref().unwrap() > &k(&[0xff; 50]));
        let (s, e) = scan_range(b"p", &Bound::Excluded(b"a".to_vec()), &Bound::Included(b"c".to_vec()), None);
        assert!(s > k(b"a") && s <= k(b"a\0"));
        assert!(e.as_ref().unwrap() > &k(b"c") && e.as_ref().unwrap() <= &k(b"c\0"));
        let (s, _) = scan_range(b"p", &Bound::Included(b"a".to_vec()), &Bound::Unbounded, Some(b"b"));
        assert_eq!(s, k(b"b\0"));
        assert_eq!(prefix_successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
    }
}
