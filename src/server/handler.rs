//! Turns decoded native requests into shard operations and their replies into
//! responses. Routing: a key goes to the shard that owns its token, here or
//! across the mesh.

use std::ops::Bound;
use std::rc::Rc;

use crate::keys;
use crate::protocol::{
    DeleteReply, ErrorCode, ErrorReply, GetReply, HandshakeReply, Key, PutReply, Request, Response, ScanItem,
    ScanReply, Status, Version,
};
use crate::ring;
use crate::server::mesh::Mesh;
use crate::server::shard_op::{FailKind, ShardOp, ShardReply};
use crate::server::NodeInfo;

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
    pub fn new(mesh: Rc<Mesh>, info: Rc<NodeInfo>, shard_addrs: Vec<String>) -> Self {
        Handler { mesh, info, shard_addrs }
    }

    pub fn max_in_flight(&self) -> usize {
        self.info.max_in_flight_per_connection
    }

    fn shard_of(&self, partition: &[u8]) -> usize {
        ring::shard_of(ring::token(partition), self.info.shards)
    }

    pub async fn handle(&self, req: Request) -> Response {
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
            Request::Get(g) => match self.get(&g.key).await {
                Ok(r) => Response::Get(r),
                Err(e) => Response::Error(e),
            },
            Request::Put(p) => match self.put(&p.key, p.value).await {
                Ok(r) => Response::Put(r),
                Err(e) => Response::Error(e),
            },
            Request::Delete(d) => match self.delete(&d.key).await {
                Ok(()) => Response::Delete(DeleteReply { status: Status::Ok }),
                Err(e) => Response::Error(e),
            },
            Request::Scan(s) => match self.scan(&s.partition, &s.from, &s.to, s.limit, &s.continuation).await {
                Ok(r) => Response::Scan(r),
                Err(e) => Response::Error(e),
            },
            Request::MGet(m) => Response::MGet(self.mget(m.keys).await),
            Request::MPut(m) => {
                let items = m.items.into_iter().map(|i| (i.key, i.value)).collect();
                Response::MPut(self.mput(items).await)
            }
        }
    }

    async fn get(&self, key: &Key) -> Result<GetReply, ErrorReply> {
        let op = ShardOp::Get { key: keys::encode(&key.partition, &key.sort) };
        match self.mesh.call(self.shard_of(&key.partition), op).await {
            ShardReply::Value(Some(v)) => Ok(GetReply::found(v)),
            ShardReply::Value(None) => Ok(GetReply::not_found()),
            other => Err(unexpected(other)),
        }
    }

    async fn put(&self, key: &Key, value: Vec<u8>) -> Result<PutReply, ErrorReply> {
        let op = ShardOp::Put { key: keys::encode(&key.partition, &key.sort), value };
        match self.mesh.call(self.shard_of(&key.partition), op).await {
            ShardReply::Done => Ok(PutReply { context: Vec::new() }),
            other => Err(unexpected(other)),
        }
    }

    async fn delete(&self, key: &Key) -> Result<(), ErrorReply> {
        let op = ShardOp::Delete { key: keys::encode(&key.partition, &key.sort) };
        match self.mesh.call(self.shard_of(&key.partition), op).await {
            ShardReply::Done => Ok(()),
            other => Err(unexpected(other)),
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
        let mut items = Vec::with_capacity(rows.len().min(limit));
        let mut bytes = 0;
        let mut more = false;
        for (k, v) in rows {
            if items.len() == limit || bytes + k.len() + v.len() > RESPONSE_SOFT_LIMIT_BYTES {
                more = true;
                break;
            }
            bytes += k.len() + v.len() + 16;
            let sort_key = k.get(prefix_len..).unwrap_or_default().to_vec();
            items.push(ScanItem { sort_key, values: vec![v], context: Vec::new() });
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

    async fn mget(&self, keys: Vec<Key>) -> Vec<Result<GetReply, ErrorReply>> {
        let tasks: Vec<_> = keys
            .into_iter()
            .map(|k| {
                let (mesh, shard) = (self.mesh.clone(), self.shard_of(&k.partition));
                glommio::spawn_local(async move {
                    let op = ShardOp::Get { key: keys::encode(&k.partition, &k.sort) };
                    match mesh.call(shard, op).await {
                        ShardReply::Value(Some(v)) => Ok(GetReply::found(v)),
                        ShardReply::Value(None) => Ok(GetReply::not_found()),
                        other => Err(unexpected(other)),
                    }
                })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        let mut bytes = 0;
        for t in tasks {
            let r = t.await;
            let size = r.as_ref().map_or(0, |g| g.values.iter().map(Vec::len).sum());
            bytes += size;
            out.push(if bytes > RESPONSE_SOFT_LIMIT_BYTES {
                Err(ErrorReply::new(ErrorCode::ResponseTooLarge, "ask for this key alone"))
            } else {
                r
            });
        }
        out
    }

    async fn mput(&self, items: Vec<(Key, Vec<u8>)>) -> Vec<Result<PutReply, ErrorReply>> {
        let tasks: Vec<_> = items
            .into_iter()
            .map(|(k, value)| {
                let (mesh, shard) = (self.mesh.clone(), self.shard_of(&k.partition));
                glommio::spawn_local(async move {
                    let op = ShardOp::Put { key: keys::encode(&k.partition, &k.sort), value };
                    match mesh.call(shard, op).await {
                        ShardReply::Done => Ok(PutReply { context: Vec::new() }),
                        other => Err(unexpected(other)),
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
