//! Requests: what a client sends. Body layouts are in docs/PROTOCOL.md section 3.

use std::ops::Bound;

use super::error::{BodyError, Field};
use super::key::{self, decode_bound, encode_bound, partition_key, Key, KeyRef};
use super::limits::Limits;
use super::opcode::Opcode;
use super::wire::{capacity, put_bytes, put_u16, put_varint, Reader};

/// Consistency level of a data request. Reserved for replication: a single node treats
/// all levels alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Consistency {
    /// The server's (or keyspace's) default.
    #[default]
    Default = 0,
    One = 1,
    Quorum = 2,
    All = 3,
}

impl TryFrom<u8> for Consistency {
    type Error = u8;
    fn try_from(b: u8) -> Result<Self, u8> {
        match b {
            0 => Ok(Consistency::Default),
            1 => Ok(Consistency::One),
            2 => Ok(Consistency::Quorum),
            3 => Ok(Consistency::All),
            other => Err(other),
        }
    }
}

/// A protocol version: major (in every header) and minor (negotiated in HANDSHAKE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

impl Version {
    /// The version this code speaks.
    pub const CURRENT: Version =
        Version { major: super::frame::VERSION_MAJOR as u16, minor: super::frame::VERSION_MINOR };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// The highest version the client speaks.
    pub version: Version,
    /// For logs and metrics, e.g. `ringkv-cli/0.1`; 0..=256 bytes.
    pub client_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetRequest {
    pub consistency: Consistency,
    pub key: Key,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRequest {
    pub consistency: Consistency,
    pub key: Key,
    pub value: Vec<u8>,
    /// The causal context from a previous read; empty = none.
    pub context: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    pub consistency: Consistency,
    pub key: Key,
    /// The causal context from a previous read; empty = none.
    pub context: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRequest {
    pub consistency: Consistency,
    pub partition: Vec<u8>,
    /// Lower sort-key bound.
    pub from: Bound<Vec<u8>>,
    /// Upper sort-key bound.
    pub to: Bound<Vec<u8>>,
    /// Most items wanted; 0 = server default. Servers cap it at `Limits::scan_items_max`.
    pub limit: u32,
    /// Empty on the first call, else the token of the previous page, unchanged.
    pub continuation: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MGetRequest {
    pub consistency: Consistency,
    pub keys: Vec<Key>,
}

/// One item of an MPUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutItem {
    pub key: Key,
    pub value: Vec<u8>,
    pub context: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MPutRequest {
    pub consistency: Consistency,
    pub items: Vec<PutItem>,
}

/// A member of the cluster as gossiped between nodes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    pub name: String,
    pub addr: String,
}

/// Node-to-node replication message, routed by partition key to its owning shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaFrame {
    pub partition: Vec<u8>,
    /// An encoded `replication::ReplicaRequest`.
    pub message: Vec<u8>,
}

/// Every request of protocol version 1.0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Handshake(HandshakeRequest),
    Ping,
    Get(GetRequest),
    Put(PutRequest),
    Delete(DeleteRequest),
    Scan(ScanRequest),
    MGet(MGetRequest),
    MPut(MPutRequest),
    Replica(ReplicaFrame),
    /// The sender's member list; the reply is the receiver's (after merging).
    Members(Vec<Member>),
}

pub(crate) fn encode_members(members: &[Member], out: &mut Vec<u8>) {
    put_varint(out, members.len() as u64);
    for m in members {
        put_bytes(out, m.name.as_bytes());
        put_bytes(out, m.addr.as_bytes());
    }
}

pub(crate) fn decode_members(r: &mut Reader<'_>, limits: &Limits) -> Result<Vec<Member>, BodyError> {
    let n = r.count(limits.shards_max, Field::Shards)?;
    let mut out = Vec::with_capacity(capacity(n, r));
    for _ in 0..n {
        out.push(Member {
            name: r.string(limits.name_bytes_max, Field::Name)?,
            addr: r.string(limits.name_bytes_max, Field::Name)?,
        });
    }
    Ok(out)
}

/// The body of `Request::Get` from borrowed parts, for a client that has
/// them as slices (no request built to encode).
pub(crate) fn encode_get_body(out: &mut Vec<u8>, consistency: Consistency, partition: &[u8], sort: &[u8]) {
    out.push(consistency as u8);
    key::encode_parts(out, partition, sort);
}

/// The body of `Request::Put` from borrowed parts (see [`encode_get_body`]).
pub(crate) fn encode_put_body(
    out: &mut Vec<u8>,
    consistency: Consistency,
    partition: &[u8],
    sort: &[u8],
    value: &[u8],
    context: &[u8],
) {
    encode_get_body(out, consistency, partition, sort);
    put_bytes(out, value);
    put_bytes(out, context);
}

impl Request {
    pub fn opcode(&self) -> Opcode {
        match self {
            Request::Handshake(_) => Opcode::Handshake,
            Request::Ping => Opcode::Ping,
            Request::Get(_) => Opcode::Get,
            Request::Put(_) => Opcode::Put,
            Request::Delete(_) => Opcode::Delete,
            Request::Scan(_) => Opcode::Scan,
            Request::MGet(_) => Opcode::MGet,
            Request::MPut(_) => Opcode::MPut,
            Request::Replica(_) => Opcode::Replica,
            Request::Members(_) => Opcode::Members,
        }
    }

    /// The consistency level of a data request; `None` for HANDSHAKE and PING.
    pub fn consistency(&self) -> Option<Consistency> {
        match self {
            Request::Handshake(_) | Request::Ping | Request::Replica(_) | Request::Members(_) => None,
            Request::Get(r) => Some(r.consistency),
            Request::Put(r) => Some(r.consistency),
            Request::Delete(r) => Some(r.consistency),
            Request::Scan(r) => Some(r.consistency),
            Request::MGet(r) => Some(r.consistency),
            Request::MPut(r) => Some(r.consistency),
        }
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Request::Handshake(h) => {
                put_u16(out, h.version.major);
                put_u16(out, h.version.minor);
                put_bytes(out, h.client_name.as_bytes());
            }
            Request::Ping => {}
            Request::Get(g) => encode_get_body(out, g.consistency, &g.key.partition, &g.key.sort),
            Request::Put(p) => {
                encode_put_body(out, p.consistency, &p.key.partition, &p.key.sort, &p.value, &p.context);
            }
            Request::Delete(d) => {
                out.push(d.consistency as u8);
                d.key.encode(out);
                put_bytes(out, &d.context);
            }
            Request::Scan(s) => {
                out.push(s.consistency as u8);
                put_bytes(out, &s.partition);
                encode_bound(&s.from, out);
                encode_bound(&s.to, out);
                put_varint(out, u64::from(s.limit));
                put_bytes(out, &s.continuation);
            }
            Request::MGet(m) => {
                out.push(m.consistency as u8);
                put_varint(out, m.keys.len() as u64);
                for k in &m.keys {
                    k.encode(out);
                }
            }
            Request::MPut(m) => {
                out.push(m.consistency as u8);
                put_varint(out, m.items.len() as u64);
                for i in &m.items {
                    i.key.encode(out);
                    put_bytes(out, &i.value);
                    put_bytes(out, &i.context);
                }
            }
            Request::Replica(f) => {
                put_bytes(out, &f.partition);
                put_bytes(out, &f.message);
            }
            Request::Members(m) => encode_members(m, out),
        }
    }

    pub(crate) fn decode_body(opcode: u8, body: &[u8], limits: &Limits) -> Result<Request, BodyError> {
        let mut r = Reader::new(body);
        let req = match Opcode::try_from(opcode) {
            Ok(Opcode::Handshake) => Request::Handshake(HandshakeRequest {
                version: Version { major: r.u16()?, minor: r.u16()? },
                client_name: r.string(limits.name_bytes_max, Field::Name)?,
            }),
            Ok(Opcode::Ping) => Request::Ping,
            Ok(Opcode::Get) => Request::Get(GetRef::read(&mut r, limits)?.to_request()),
            Ok(Opcode::Put) => Request::Put(PutRef::read(&mut r, limits)?.to_request()),
            Ok(Opcode::Delete) => Request::Delete(DeleteRequest {
                consistency: consistency(&mut r)?,
                key: Key::decode(&mut r, limits)?,
                context: r.vec(limits.context_bytes_max, Field::Context)?,
            }),
            Ok(Opcode::Scan) => Request::Scan(ScanRequest {
                consistency: consistency(&mut r)?,
                partition: partition_key(&mut r, limits)?,
                from: decode_bound(&mut r, limits)?,
                to: decode_bound(&mut r, limits)?,
                limit: r.varint_u32()?,
                continuation: r.vec(limits.continuation_bytes_max, Field::Continuation)?,
            }),
            Ok(Opcode::MGet) => {
                let consistency = consistency(&mut r)?;
                let n = r.count(limits.batch_items_max, Field::BatchItems)?;
                let mut keys = Vec::with_capacity(capacity(n, &r));
                for _ in 0..n {
                    keys.push(Key::decode(&mut r, limits)?);
                }
                Request::MGet(MGetRequest { consistency, keys })
            }
            Ok(Opcode::MPut) => {
                let consistency = consistency(&mut r)?;
                let n = r.count(limits.batch_items_max, Field::BatchItems)?;
                let mut items = Vec::with_capacity(capacity(n, &r));
                for _ in 0..n {
                    items.push(PutItem {
                        key: Key::decode(&mut r, limits)?,
                        value: r.vec(limits.value_bytes_max, Field::Value)?,
                        context: r.vec(limits.context_bytes_max, Field::Context)?,
                    });
                }
                Request::MPut(MPutRequest { consistency, items })
            }
            Ok(Opcode::Replica) => Request::Replica(ReplicaFrame {
                partition: partition_key(&mut r, limits)?,
                message: r.vec(limits.frame_bytes_max, Field::Value)?,
            }),
            Ok(Opcode::Members) => Request::Members(decode_members(&mut r, limits)?),
            // Response opcodes are as unknown to a server as bytes no version defines.
            Ok(_) | Err(_) => return Err(BodyError::UnknownOpcode(opcode)),
        };
        r.finish()?;
        Ok(req)
    }
}

/// A GET borrowed from the body it was decoded from (see [`Incoming`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetRef<'a> {
    pub consistency: Consistency,
    pub key: KeyRef<'a>,
}

impl<'a> GetRef<'a> {
    fn read(r: &mut Reader<'a>, limits: &Limits) -> Result<Self, BodyError> {
        Ok(GetRef { consistency: consistency(r)?, key: KeyRef::decode(r, limits)? })
    }

    pub fn to_request(&self) -> GetRequest {
        GetRequest { consistency: self.consistency, key: self.key.to_key() }
    }
}

/// A PUT borrowed from the body it was decoded from (see [`Incoming`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutRef<'a> {
    pub consistency: Consistency,
    pub key: KeyRef<'a>,
    pub value: &'a [u8],
    /// The causal context from a previous read; empty = none.
    pub context: &'a [u8],
}

impl<'a> PutRef<'a> {
    fn read(r: &mut Reader<'a>, limits: &Limits) -> Result<Self, BodyError> {
        Ok(PutRef {
            consistency: consistency(r)?,
            key: KeyRef::decode(r, limits)?,
            value: r.bytes(limits.value_bytes_max, Field::Value)?,
            context: r.bytes(limits.context_bytes_max, Field::Context)?,
        })
    }

    pub fn to_request(&self) -> PutRequest {
        PutRequest {
            consistency: self.consistency,
            key: self.key.to_key(),
            value: self.value.to_vec(),
            context: self.context.to_vec(),
        }
    }
}

/// A request as a server's connection loop takes it
/// ([`decode_incoming`](super::decode_incoming)): GETs and PUTs, what a
/// loaded server sees most, borrowed from the receive buffer, so that they
/// are served from there with nothing copied or allocated; the rest decoded
/// into a [`Request`]. The same checks and errors as [`Request`]'s decoder,
/// which reads GETs and PUTs through these types too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    Get(GetRef<'a>),
    Put(PutRef<'a>),
    Other(Request),
}

impl<'a> Incoming<'a> {
    pub(crate) fn decode_body(opcode: u8, body: &'a [u8], limits: &Limits) -> Result<Self, BodyError> {
        let mut r = Reader::new(body);
        let req = match Opcode::try_from(opcode) {
            Ok(Opcode::Get) => Incoming::Get(GetRef::read(&mut r, limits)?),
            Ok(Opcode::Put) => Incoming::Put(PutRef::read(&mut r, limits)?),
            _ => return Request::decode_body(opcode, body, limits).map(Incoming::Other),
        };
        r.finish()?;
        Ok(req)
    }

    /// The owned request.
    pub fn into_request(self) -> Request {
        match self {
            Incoming::Get(g) => Request::Get(g.to_request()),
            Incoming::Put(p) => Request::Put(p.to_request()),
            Incoming::Other(r) => r,
        }
    }
}

fn consistency(r: &mut Reader<'_>) -> Result<Consistency, BodyError> {
    Consistency::try_from(r.u8()?).map_err(|_| BodyError::Invalid("consistency level"))
}
