//! Messages between a coordinator and the replicas of a key, and their byte
//! layout (REPLICATION.md has the tables).
//!
//! Every message carries the coordinator's request id so the driver can route
//! a reply to the [`Coordinator`](super::Coordinator) that is waiting for it.
//! Layout: `version u8 | kind u8 | id varint | body | checksum u32le`, the
//! checksum being the low 32 bits of `xxh3_64` of every byte before it (as in
//! the stored layouts of `codec.rs`), checked before anything is parsed.
//! Sibling sets and contexts are embedded length-prefixed in their own stored
//! layouts (`SiblingSet::encode`, `VersionVector::encode`).
//!
//! Decoding never panics and allocates nothing before the length it needs was
//! checked against the input and the limits.

#![deny(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use xxhash_rust::xxh3::xxh3_64;

use crate::ring::NodeId;

use super::{
    CausalError, Dot, SiblingSet, VersionVector, MAX_CLOCK_ENTRIES, MAX_CONTEXT_BYTES, MAX_SIBLINGS,
    MAX_TOTAL_VALUE_BYTES, MAX_VALUE_BYTES,
};

/// Format version of a replication message.
pub const MESSAGE_VERSION: u8 = 1;
/// Longest key a message may carry (the storage engine's limit).
pub const MAX_KEY_BYTES: usize = 64 << 10;
/// Longest encoded sibling set: all values, plus per sibling at most 10 + 5 +
/// 10 + 10 + 1 + 5 bytes, plus a full clock, version, count and checksum.
pub const MAX_SET_BYTES: usize = MAX_TOTAL_VALUE_BYTES + MAX_SIBLINGS * 41 + MAX_CLOCK_ENTRIES * 25 + 32;
/// Longest encoded message (a `Merge` of the largest set under the longest key).
pub const MAX_MESSAGE_BYTES: usize = MAX_SET_BYTES + MAX_KEY_BYTES + 64;

// A message travels in a REPLICA frame (24-byte header, partition key of at
// most 1 KiB, two length varints) whose limit is 8 MiB.
const _: () = assert!(MAX_MESSAGE_BYTES + 24 + 1024 + 20 <= 8 << 20);

const REQ_GET: u8 = 1;
const REQ_MERGE: u8 = 2;
const REQ_UPDATE: u8 = 3;
const REP_GOT: u8 = 1;
const REP_MERGED: u8 = 2;
const REP_UPDATED: u8 = 3;
const REP_FAILED: u8 = 4;
const TAG_TOMBSTONE: u8 = 0;
const TAG_VALUE: u8 = 1;
const CHECKSUM_BYTES: usize = 4;

/// What a coordinator asks of a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaRequest {
    /// Read the stored set (an empty set if the key was never written).
    Get { id: u64, key: Vec<u8> },
    /// Merge `set` into the stored copy (replication of a write, read repair).
    Merge { id: u64, key: Vec<u8>, set: SiblingSet },
    /// The coordinator's own read-modify-write: `update_with_floor(ctx, value,
    /// <this node>, now, <node counter>)` on the stored copy. Only ever sent by a
    /// coordinator to itself (the dot is named after the node that runs it).
    Update { id: u64, key: Vec<u8>, ctx: VersionVector, value: Option<Vec<u8>> },
}

/// Why a replica could not do what was asked. The stored copy is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaFailure {
    /// The result would break a limit (value size, sibling count, total bytes):
    /// the client must write with a context that resolves siblings.
    TooLarge = 1,
    /// The store could not read or write.
    Storage = 2,
    /// The request could not be applied (e.g. a dot counter overflow).
    BadRequest = 3,
}

impl ReplicaFailure {
    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::TooLarge),
            2 => Some(Self::Storage),
            3 => Some(Self::BadRequest),
            _ => None,
        }
    }
}

/// A replica's answer, tagged with the request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaReply {
    /// Answer to `Get`: the stored set.
    Got { id: u64, set: SiblingSet },
    /// Answer to `Merge`: the merged set is durable.
    Merged { id: u64 },
    /// Answer to `Update`: the new dot and the resulting stored set (durable).
    Updated { id: u64, dot: Dot, set: SiblingSet },
    /// The request failed; nothing changed.
    Failed { id: u64, failure: ReplicaFailure },
}

/// Bad message bytes, or a message too large to encode. Never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    #[error("truncated: {needed} more bytes needed at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("unknown message version {0}")]
    UnknownVersion(u8),
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    #[error("invalid tag {0}")]
    InvalidTag(u8),
    #[error("malformed varint at offset {0}")]
    BadVarint(usize),
    #[error("checksum mismatch: got {got:#010x}, expected {expected:#010x}")]
    ChecksumMismatch { got: u32, expected: u32 },
    #[error("{what} too large: {got} > {max}")]
    TooLarge { what: &'static str, got: usize, max: usize },
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    #[error("node id {0} does not fit in 32 bits")]
    BadNodeId(u64),
    #[error("zero dot counter")]
    ZeroCounter,
    #[error("embedded set or context: {0}")]
    Causal(#[from] CausalError),
}

impl ReplicaRequest {
    pub fn id(&self) -> u64 {
        match self {
            Self::Get { id, .. } | Self::Merge { id, .. } | Self::Update { id, .. } => *id,
        }
    }

    pub fn key(&self) -> &[u8] {
        match self {
            Self::Get { key, .. } | Self::Merge { key, .. } | Self::Update { key, .. } => key,
        }
    }

    /// Move the key out, leaving it empty: for a caller that needs it owned
    /// and is done with the request's key ([`Replica::handle`] does not read it).
    ///
    /// [`Replica::handle`]: crate::replication::Replica::handle
    pub fn take_key(&mut self) -> Vec<u8> {
        match self {
            Self::Get { key, .. } | Self::Merge { key, .. } | Self::Update { key, .. } => std::mem::take(key),
        }
    }

    /// The wire form. Fails on a key over [`MAX_KEY_BYTES`] or a set/context
    /// that cannot be encoded (over its limits).
    pub fn encode(&self) -> Result<Vec<u8>, MessageError> {
        let mut w = Writer::new();
        match self {
            Self::Get { id, key } => {
                w.header(REQ_GET, *id);
                w.key(key)?;
            }
            Self::Merge { id, key, set } => {
                w.header(REQ_MERGE, *id);
                w.key(key)?;
                w.blob(&set.encode()?);
            }
            Self::Update { id, key, ctx, value } => {
                w.header(REQ_UPDATE, *id);
                w.key(key)?;
                w.blob(&ctx.encode()?);
                match value {
                    None => w.out.push(TAG_TOMBSTONE),
                    Some(v) => {
                        if v.len() > MAX_VALUE_BYTES {
                            return Err(MessageError::TooLarge {
                                what: "value bytes",
                                got: v.len(),
                                max: MAX_VALUE_BYTES,
                            });
                        }
                        w.out.push(TAG_VALUE);
                        w.blob(v);
                    }
                }
            }
        }
        Ok(w.seal())
    }

    /// Parses a request. Bad bytes are an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let (kind, id, mut r) = Reader::open(bytes)?;
        let msg = match kind {
            REQ_GET => Self::Get { id, key: r.key()? },
            REQ_MERGE => {
                let key = r.key()?;
                let set = SiblingSet::decode(r.blob("set bytes", MAX_SET_BYTES)?)?;
                Self::Merge { id, key, set }
            }
            REQ_UPDATE => {
                let key = r.key()?;
                let ctx = VersionVector::decode(r.blob("context bytes", MAX_CONTEXT_BYTES)?)?;
                let value = match r.u8()? {
                    TAG_TOMBSTONE => None,
                    TAG_VALUE => Some(r.blob("value bytes", MAX_VALUE_BYTES)?.to_vec()),
                    tag => return Err(MessageError::InvalidTag(tag)),
                };
                Self::Update { id, key, ctx, value }
            }
            k => return Err(MessageError::UnknownKind(k)),
        };
        r.finish()?;
        Ok(msg)
    }
}

impl ReplicaReply {
    pub fn id(&self) -> u64 {
        match self {
            Self::Got { id, .. } | Self::Merged { id } | Self::Updated { id, .. } | Self::Failed { id, .. } => *id,
        }
    }

    /// The wire form. Fails only on a set over its limits (a replica never
    /// stores one, so a well-behaved replica never hits this).
    pub fn encode(&self) -> Result<Vec<u8>, MessageError> {
        let mut w = Writer::new();
        match self {
            Self::Got { id, set } => {
                w.header(REP_GOT, *id);
                w.blob(&set.encode()?);
            }
            Self::Merged { id } => w.header(REP_MERGED, *id),
            Self::Updated { id, dot, set } => {
                w.header(REP_UPDATED, *id);
                w.varint(u64::from(dot.node.0));
                w.varint(dot.counter);
                w.blob(&set.encode()?);
            }
            Self::Failed { id, failure } => {
                w.header(REP_FAILED, *id);
                w.out.push(*failure as u8);
            }
        }
        Ok(w.seal())
    }

    /// Parses a reply. Bad bytes are an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let (kind, id, mut r) = Reader::open(bytes)?;
        let msg = match kind {
            REP_GOT => Self::Got { id, set: SiblingSet::decode(r.blob("set bytes", MAX_SET_BYTES)?)? },
            REP_MERGED => Self::Merged { id },
            REP_UPDATED => {
                let node = r.varint()?;
                let node = NodeId(u32::try_from(node).map_err(|_| MessageError::BadNodeId(node))?);
                let counter = r.varint()?;
                if counter == 0 {
                    return Err(MessageError::ZeroCounter);
                }
                let set = SiblingSet::decode(r.blob("set bytes", MAX_SET_BYTES)?)?;
                Self::Updated { id, dot: Dot { node, counter }, set }
            }
            REP_FAILED => {
                let code = r.u8()?;
                Self::Failed { id, failure: ReplicaFailure::from_code(code).ok_or(MessageError::InvalidTag(code))? }
            }
            k => return Err(MessageError::UnknownKind(k)),
        };
        r.finish()?;
        Ok(msg)
    }
}

fn checksum(bytes: &[u8]) -> u32 {
    xxh3_64(bytes) as u32
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn new() -> Self {
        Self { out: Vec::with_capacity(64) }
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn header(&mut self, kind: u8, id: u64) {
        self.out.push(MESSAGE_VERSION);
        self.out.push(kind);
        self.varint(id);
    }

    fn blob(&mut self, bytes: &[u8]) {
        self.varint(bytes.len() as u64);
        self.out.extend_from_slice(bytes);
    }

    fn key(&mut self, key: &[u8]) -> Result<(), MessageError> {
        if key.len() > MAX_KEY_BYTES {
            return Err(MessageError::TooLarge { what: "key bytes", got: key.len(), max: MAX_KEY_BYTES });
        }
        self.blob(key);
        Ok(())
    }

    fn seal(mut self) -> Vec<u8> {
        let sum = checksum(&self.out);
        self.out.extend_from_slice(&sum.to_le_bytes());
        self.out
    }
}

/// A bounds-checked cursor over a message body (checksum already verified).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Checks size and checksum, reads version, kind and id.
    fn open(bytes: &'a [u8]) -> Result<(u8, u64, Self), MessageError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge { what: "message bytes", got: bytes.len(), max: MAX_MESSAGE_BYTES });
        }
        let Some(body_len) = bytes.len().checked_sub(CHECKSUM_BYTES) else {
            return Err(MessageError::Truncated {
                offset: bytes.len(),
                needed: CHECKSUM_BYTES.saturating_sub(bytes.len()),
            });
        };
        let (body, tail) = bytes.split_at(body_len);
        let mut sum = [0u8; CHECKSUM_BYTES];
        sum.copy_from_slice(tail);
        let (got, expected) = (u32::from_le_bytes(sum), checksum(body));
        if got != expected {
            return Err(MessageError::ChecksumMismatch { got, expected });
        }
        let mut r = Reader { buf: body, pos: 0 };
        let version = r.u8()?;
        if version != MESSAGE_VERSION {
            return Err(MessageError::UnknownVersion(version));
        }
        let kind = r.u8()?;
        let id = r.varint()?;
        Ok((kind, id, r))
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn u8(&mut self) -> Result<u8, MessageError> {
        let b = self.buf.get(self.pos).copied().ok_or(MessageError::Truncated { offset: self.pos, needed: 1 })?;
        self.pos = self.pos.saturating_add(1);
        Ok(b)
    }

    /// Canonical LEB128: at most 10 bytes, no overflow, no trailing zero byte.
    fn varint(&mut self) -> Result<u64, MessageError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let b = self.u8()?;
            if i == 9 && b > 1 {
                return Err(MessageError::BadVarint(start));
            }
            v |= u64::from(b & 0x7f) << i.saturating_mul(7);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(MessageError::BadVarint(start));
                }
                return Ok(v);
            }
        }
        Err(MessageError::BadVarint(start))
    }

    /// A length-prefixed byte string of at most `max` bytes (checked before slicing).
    fn blob(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], MessageError> {
        let len = self.varint()?;
        let len = match usize::try_from(len) {
            Ok(n) if n <= max => n,
            _ => return Err(MessageError::TooLarge { what, got: usize::try_from(len).unwrap_or(usize::MAX), max }),
        };
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len());
        let Some(slice) = end.and_then(|e| self.buf.get(self.pos..e)) else {
            return Err(MessageError::Truncated { offset: self.pos, needed: len.saturating_sub(self.remaining()) });
        };
        self.pos = self.pos.saturating_add(len);
        Ok(slice)
    }

    fn key(&mut self) -> Result<Vec<u8>, MessageError> {
        Ok(self.blob("key bytes", MAX_KEY_BYTES)?.to_vec())
    }

    fn finish(&self) -> Result<(), MessageError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(MessageError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn set_with(values: &[(u32, Option<&[u8]>)]) -> SiblingSet {
        let mut s = SiblingSet::new();
        for (i, &(node, v)) in values.iter().enumerate() {
            s.update(&VersionVector::new(), v.map(<[u8]>::to_vec), NodeId(node), 1_700_000_000_000 + i as u64).unwrap();
        }
        s
    }

    fn samples() -> (Vec<ReplicaRequest>, Vec<ReplicaReply>) {
        let set = set_with(&[(1, Some(b"x")), (2, None), (u32::MAX, Some(b""))]);
        let ctx = set.context();
        let reqs = vec![
            ReplicaRequest::Get { id: 0, key: b"k".to_vec() },
            ReplicaRequest::Get { id: u64::MAX, key: Vec::new() },
            ReplicaRequest::Merge { id: 7, key: b"key".to_vec(), set: set.clone() },
            ReplicaRequest::Merge { id: 8, key: b"key".to_vec(), set: SiblingSet::new() },
            ReplicaRequest::Update { id: 9, key: b"k2".to_vec(), ctx: ctx.clone(), value: Some(vec![0; 300]) },
            ReplicaRequest::Update { id: 10, key: b"k2".to_vec(), ctx: VersionVector::new(), value: None },
        ];
        let reps = vec![
            ReplicaReply::Got { id: 1, set: set.clone() },
            ReplicaReply::Got { id: 2, set: SiblingSet::new() },
            ReplicaReply::Merged { id: 300 },
            ReplicaReply::Updated { id: 4, dot: Dot { node: NodeId(2), counter: 1 }, set },
            ReplicaReply::Failed { id: 5, failure: ReplicaFailure::TooLarge },
            ReplicaReply::Failed { id: 6, failure: ReplicaFailure::Storage },
            ReplicaReply::Failed { id: 7, failure: ReplicaFailure::BadRequest },
        ];
        (reqs, reps)
    }

    #[test]
    fn round_trips() {
        let (reqs, reps) = samples();
        for m in reqs {
            let b = m.encode().unwrap();
            assert_eq!(ReplicaRequest::decode(&b).unwrap(), m);
            // A request is never mistaken for a reply.
            assert!(ReplicaReply::decode(&b).is_err(), "{m:?}");
        }
        for m in reps {
            let b = m.encode().unwrap();
            assert_eq!(ReplicaReply::decode(&b).unwrap(), m);
        }
    }

    #[test]
    fn small_messages_are_small() {
        // Get of a 16-byte key with a 2-byte id: version, kind, id, len, key, checksum.
        let b = ReplicaRequest::Get { id: 300, key: vec![b'k'; 16] }.encode().unwrap();
        assert_eq!(b.len(), 1 + 1 + 2 + 1 + 16 + 4);
        assert_eq!(ReplicaReply::Merged { id: 1 }.encode().unwrap().len(), 7);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_rejected() {
        let (reqs, reps) = samples();
        let all: Vec<Vec<u8>> =
            reqs.iter().map(|m| m.encode().unwrap()).chain(reps.iter().map(|m| m.encode().unwrap())).collect();
        for b in all {
            for cut in 0..b.len() {
                assert!(ReplicaRequest::decode(&b[..cut]).is_err(), "prefix {cut}");
                assert!(ReplicaReply::decode(&b[..cut]).is_err(), "prefix {cut}");
            }
            for bit in 0..b.len() * 8 {
                let mut bad = b.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert!(ReplicaRequest::decode(&bad).is_err() && ReplicaReply::decode(&bad).is_err(), "bit {bit}");
            }
        }
    }

    #[test]
    fn structural_errors() {
        let sealed = |body: &[u8]| {
            let mut w = Writer::new();
            w.out.extend_from_slice(body);
            w.seal()
        };
        assert_eq!(ReplicaRequest::decode(&sealed(&[2, 1, 0, 0])), Err(MessageError::UnknownVersion(2)));
        assert_eq!(ReplicaRequest::decode(&sealed(&[1, 9, 0, 0])), Err(MessageError::UnknownKind(9)));
        assert_eq!(ReplicaRequest::decode(&sealed(&[1, 1, 0, 0, 0])), Err(MessageError::TrailingBytes(1)));
        assert_eq!(ReplicaRequest::decode(&sealed(&[1, 1, 0x80, 0x00, 0])), Err(MessageError::BadVarint(2)));
        assert!(matches!(ReplicaRequest::decode(&sealed(&[1, 1, 0, 5, b'a'])), Err(MessageError::Truncated { .. })));
        // Key length over the limit is refused before reading it.
        assert!(matches!(
            ReplicaRequest::decode(&sealed(&[1, 1, 0, 0x81, 0x80, 0x04])),
            Err(MessageError::TooLarge { what: "key bytes", .. })
        ));
        assert_eq!(ReplicaReply::decode(&sealed(&[1, 4, 0, 9])), Err(MessageError::InvalidTag(9)));
        assert_eq!(ReplicaReply::decode(&sealed(&[1, 3, 0, 1, 0])), Err(MessageError::ZeroCounter));
        assert!(matches!(ReplicaReply::decode(&sealed(&[1, 1, 0, 1, 0])), Err(MessageError::Causal(_))));
        assert!(matches!(ReplicaReply::decode(&[]), Err(MessageError::Truncated { .. })));
        let big = ReplicaRequest::Get { id: 0, key: vec![0; MAX_KEY_BYTES + 1] };
        assert!(matches!(big.encode(), Err(MessageError::TooLarge { .. })));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = ReplicaRequest::decode(&bytes);
            let _ = ReplicaReply::decode(&bytes);
        }

        #[test]
        fn garbage_with_valid_checksum_never_panics_and_reencodes(
            kind in 0u8..6, body in proptest::collection::vec(any::<u8>(), 0..96)
        ) {
            let mut w = Writer::new();
            w.out.extend_from_slice(&[MESSAGE_VERSION, kind]);
            w.out.extend_from_slice(&body);
            let bytes = w.seal();
            if let Ok(m) = ReplicaRequest::decode(&bytes) {
                prop_assert_eq!(m.encode().unwrap(), bytes.clone());
            }
            if let Ok(m) = ReplicaReply::decode(&bytes) {
                prop_assert_eq!(m.encode().unwrap(), bytes);
            }
        }

        #[test]
        fn random_messages_round_trip(
            id in any::<u64>(), key in proptest::collection::vec(any::<u8>(), 0..40),
            writes in proptest::collection::vec((0u32..5, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20))), 0..6),
        ) {
            let mut set = SiblingSet::new();
            for (i, (node, v)) in writes.iter().enumerate() {
                let ctx = if i % 2 == 0 { VersionVector::new() } else { set.context() };
                set.update(&ctx, v.clone(), NodeId(*node), i as u64).unwrap();
            }
            let msgs = [
                ReplicaRequest::Merge { id, key: key.clone(), set: set.clone() },
                ReplicaRequest::Update { id, key: key.clone(), ctx: set.context(), value: writes.first().and_then(|w| w.1.clone()) },
            ];
            for m in msgs {
                prop_assert_eq!(ReplicaRequest::decode(&m.encode().unwrap()).unwrap(), m);
            }
            let m = ReplicaReply::Got { id, set };
            prop_assert_eq!(ReplicaReply::decode(&m.encode().unwrap()).unwrap(), m);
        }
    }
}
