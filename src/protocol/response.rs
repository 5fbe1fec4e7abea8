//! Responses: what a server sends back. Body layouts are in docs/PROTOCOL.md section 3.

use super::error::{BodyError, ErrorCode, Field};
use super::limits::Limits;
use super::opcode::Opcode;
use super::request::Version;
use super::wire::{capacity, put_bytes, put_u16, put_varint, Reader};

/// OK or NOT_FOUND: a status, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    Ok = 0,
    NotFound = 1,
}

impl TryFrom<u8> for Status {
    type Error = u8;
    fn try_from(b: u8) -> Result<Self, u8> {
        match b {
            0 => Ok(Status::Ok),
            1 => Ok(Status::NotFound),
            other => Err(other),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeReply {
    /// The version both sides use from now on.
    pub version: Version,
    pub node_id: String,
    /// The shard this connection landed on; `< shard_addrs.len()`.
    pub shard: u32,
    /// `host:port` where shard `i` can be reached directly; its length is the shard count.
    pub shard_addrs: Vec<String>,
}

impl HandshakeReply {
    pub fn shard_count(&self) -> usize {
        self.shard_addrs.len()
    }
}

/// The answer for one key: all its sibling values (usually one; none = NOT_FOUND) and
/// its causal context (may be non-empty even when not found).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetReply {
    pub values: Vec<Vec<u8>>,
    pub context: Vec<u8>,
}

impl GetReply {
    pub fn found(value: Vec<u8>) -> Self {
        GetReply { values: vec![value], context: Vec::new() }
    }

    pub fn not_found() -> Self {
        GetReply::default()
    }

    pub fn status(&self) -> Status {
        get_status(self.values.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PutReply {
    /// The context of the new version (empty from single-node servers).
    pub context: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteReply {
    /// NOT_FOUND only when the server knows the key had no value.
    pub status: Status,
}

/// One item of a scan page; `values` is never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanItem {
    pub sort_key: Vec<u8>,
    pub values: Vec<Vec<u8>>,
    pub context: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanReply {
    pub items: Vec<ScanItem>,
    /// Empty = the range is exhausted; otherwise send it back to get the next page.
    pub continuation: Vec<u8>,
}

/// An ERROR body. The code is kept raw so codes added by later versions survive;
/// [`ErrorReply::kind`] maps it to [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    pub code: u16,
    pub message: String,
}

impl ErrorReply {
    /// The message is cut (at a character boundary) to the default
    /// `error_message_bytes_max`, so the reply always decodes.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        let max = Limits::DEFAULT.error_message_bytes_max;
        if message.len() > max {
            let cut = (0..=max).rev().find(|&i| message.is_char_boundary(i)).unwrap_or(0);
            message.truncate(cut);
        }
        ErrorReply { code: code as u16, message }
    }

    /// `None` for a code this version does not know: treat it as a non-retryable failure.
    pub fn kind(&self) -> Option<ErrorCode> {
        ErrorCode::try_from(self.code).ok()
    }
}

/// Every response of protocol version 1.0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Handshake(HandshakeReply),
    Pong,
    Get(GetReply),
    Put(PutReply),
    Delete(DeleteReply),
    Scan(ScanReply),
    /// One result per requested key, in request order.
    MGet(Vec<Result<GetReply, ErrorReply>>),
    /// One result per item, in request order.
    MPut(Vec<Result<PutReply, ErrorReply>>),
    /// An encoded `replication::ReplicaReply`.
    Replica(Vec<u8>),
    Members(Vec<super::request::Member>),
    Error(ErrorReply),
}

const ITEM_OK: u8 = 0;
const ITEM_ERROR: u8 = 1;

impl Response {
    pub fn opcode(&self) -> Opcode {
        match self {
            Response::Handshake(_) => Opcode::HandshakeReply,
            Response::Pong => Opcode::Pong,
            Response::Get(_) => Opcode::GetReply,
            Response::Put(_) => Opcode::PutReply,
            Response::Delete(_) => Opcode::DeleteReply,
            Response::Scan(_) => Opcode::ScanReply,
            Response::MGet(_) => Opcode::MGetReply,
            Response::MPut(_) => Opcode::MPutReply,
            Response::Replica(_) => Opcode::ReplicaReply,
            Response::Members(_) => Opcode::MembersReply,
            Response::Error(_) => Opcode::Error,
        }
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Response::Handshake(h) => {
                put_u16(out, h.version.major);
                put_u16(out, h.version.minor);
                put_bytes(out, h.node_id.as_bytes());
                put_varint(out, u64::from(h.shard));
                put_varint(out, h.shard_addrs.len() as u64);
                for a in &h.shard_addrs {
                    put_bytes(out, a.as_bytes());
                }
            }
            Response::Pong => {}
            Response::Get(g) => encode_get(g, out),
            Response::Put(p) => put_bytes(out, &p.context),
            Response::Delete(d) => out.push(d.status as u8),
            Response::Scan(s) => {
                put_varint(out, s.items.len() as u64);
                for i in &s.items {
                    put_bytes(out, &i.sort_key);
                    put_bytes(out, &i.context);
                    put_values(out, i.values.iter().map(Vec::as_slice));
                }
                put_bytes(out, &s.continuation);
            }
            Response::MGet(items) => encode_items(items, out, encode_get),
            Response::MPut(items) => encode_items(items, out, |p, out| put_bytes(out, &p.context)),
            Response::Replica(m) => put_bytes(out, m),
            Response::Members(m) => super::request::encode_members(m, out),
            Response::Error(e) => encode_error(e, out),
        }
    }

    pub(crate) fn decode_body(opcode: u8, body: &[u8], limits: &Limits) -> Result<Response, BodyError> {
        let mut r = Reader::new(body);
        let resp = match Opcode::try_from(opcode) {
            Ok(Opcode::HandshakeReply) => Response::Handshake(decode_handshake(&mut r, limits)?),
            Ok(Opcode::Pong) => Response::Pong,
            Ok(Opcode::GetReply) => Response::Get(decode_get(&mut r, limits)?),
            Ok(Opcode::PutReply) => Response::Put(decode_put(&mut r, limits)?),
            Ok(Opcode::DeleteReply) => Response::Delete(DeleteReply { status: status(&mut r)? }),
            Ok(Opcode::ScanReply) => Response::Scan(decode_scan(&mut r, limits)?),
            Ok(Opcode::MGetReply) => Response::MGet(decode_items(&mut r, limits, decode_get)?),
            Ok(Opcode::MPutReply) => Response::MPut(decode_items(&mut r, limits, decode_put)?),
            Ok(Opcode::ReplicaReply) => Response::Replica(r.vec(limits.frame_bytes_max, Field::Value)?),
            Ok(Opcode::MembersReply) => Response::Members(super::request::decode_members(&mut r, limits)?),
            Ok(Opcode::Error) => Response::Error(decode_error(&mut r, limits)?),
            Ok(_) | Err(_) => return Err(BodyError::UnknownOpcode(opcode)),
        };
        r.finish()?;
        Ok(resp)
    }
}

fn put_values<'a>(out: &mut Vec<u8>, values: impl ExactSizeIterator<Item = &'a [u8]>) {
    put_varint(out, values.len() as u64);
    for v in values {
        put_bytes(out, v);
    }
}

fn encode_get(g: &GetReply, out: &mut Vec<u8>) {
    encode_get_reply_body(out, &g.context, g.values.iter().map(Vec::as_slice));
}

/// A GET reply's status: found if it has values.
fn get_status(values: usize) -> Status {
    if values == 0 {
        Status::NotFound
    } else {
        Status::Ok
    }
}

/// The body of `Response::Get` from borrowed parts: a server answers a GET
/// straight from where the value is stored (see `decode_incoming`).
pub(crate) fn encode_get_reply_body<'a>(
    out: &mut Vec<u8>,
    context: &[u8],
    values: impl ExactSizeIterator<Item = &'a [u8]>,
) {
    out.push(get_status(values.len()) as u8);
    put_bytes(out, context);
    put_values(out, values);
}

fn encode_error(e: &ErrorReply, out: &mut Vec<u8>) {
    put_u16(out, e.code);
    put_bytes(out, e.message.as_bytes());
}

fn encode_items<T>(items: &[Result<T, ErrorReply>], out: &mut Vec<u8>, encode_ok: impl Fn(&T, &mut Vec<u8>)) {
    put_varint(out, items.len() as u64);
    for item in items {
        match item {
            Ok(v) => {
                out.push(ITEM_OK);
                encode_ok(v, out);
            }
            Err(e) => {
                out.push(ITEM_ERROR);
                encode_error(e, out);
            }
        }
    }
}

fn status(r: &mut Reader<'_>) -> Result<Status, BodyError> {
    Status::try_from(r.u8()?).map_err(|_| BodyError::Invalid("status"))
}

fn decode_values(r: &mut Reader<'_>, limits: &Limits) -> Result<Vec<Vec<u8>>, BodyError> {
    let n = r.count(limits.values_per_key_max, Field::Values)?;
    let mut values = Vec::with_capacity(capacity(n, r));
    for _ in 0..n {
        values.push(r.vec(limits.value_bytes_max, Field::Value)?);
    }
    Ok(values)
}

fn decode_get(r: &mut Reader<'_>, limits: &Limits) -> Result<GetReply, BodyError> {
    let status = status(r)?;
    let context = r.vec(limits.context_bytes_max, Field::Context)?;
    let values = decode_values(r, limits)?;
    let reply = GetReply { values, context };
    if reply.status() != status {
        return Err(BodyError::Invalid("get result: status does not match the value count"));
    }
    Ok(reply)
}

fn decode_put(r: &mut Reader<'_>, limits: &Limits) -> Result<PutReply, BodyError> {
    Ok(PutReply { context: r.vec(limits.context_bytes_max, Field::Context)? })
}

fn decode_error(r: &mut Reader<'_>, limits: &Limits) -> Result<ErrorReply, BodyError> {
    Ok(ErrorReply { code: r.u16()?, message: r.string(limits.error_message_bytes_max, Field::Message)? })
}

fn decode_handshake(r: &mut Reader<'_>, limits: &Limits) -> Result<HandshakeReply, BodyError> {
    let version = Version { major: r.u16()?, minor: r.u16()? };
    let node_id = r.string(limits.name_bytes_max, Field::Name)?;
    let shard = r.varint_u32()?;
    let n = r.count(limits.shards_max, Field::Shards)?;
    if n == 0 || shard as usize >= n {
        return Err(BodyError::Invalid("handshake: shard not below shard count"));
    }
    let mut shard_addrs = Vec::with_capacity(capacity(n, r));
    for _ in 0..n {
        shard_addrs.push(r.string(limits.name_bytes_max, Field::Name)?);
    }
    Ok(HandshakeReply { version, node_id, shard, shard_addrs })
}

fn decode_scan(r: &mut Reader<'_>, limits: &Limits) -> Result<ScanReply, BodyError> {
    let n = r.count(limits.scan_items_max, Field::ScanItems)?;
    let mut items = Vec::with_capacity(capacity(n, r));
    for _ in 0..n {
        let sort_key = r.vec(limits.sort_key_bytes_max, Field::SortKey)?;
        let context = r.vec(limits.context_bytes_max, Field::Context)?;
        let values = decode_values(r, limits)?;
        if values.is_empty() {
            return Err(BodyError::Invalid("scan item without a value"));
        }
        items.push(ScanItem { sort_key, values, context });
    }
    let continuation = r.vec(limits.continuation_bytes_max, Field::Continuation)?;
    Ok(ScanReply { items, continuation })
}

fn decode_items<T>(
    r: &mut Reader<'_>,
    limits: &Limits,
    decode_ok: impl Fn(&mut Reader<'_>, &Limits) -> Result<T, BodyError>,
) -> Result<Vec<Result<T, ErrorReply>>, BodyError> {
    let n = r.count(limits.batch_items_max, Field::BatchItems)?;
    let mut items = Vec::with_capacity(capacity(n, r));
    for _ in 0..n {
        items.push(match r.u8()? {
            ITEM_OK => Ok(decode_ok(r, limits)?),
            ITEM_ERROR => Err(decode_error(r, limits)?),
            _ => return Err(BodyError::Invalid("batch item tag")),
        });
    }
    Ok(items)
}
