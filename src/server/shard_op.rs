//! What one shard can be asked to do, and how: the unit of work that crosses
//! the cross-core mesh (so: owned, `Send`).
//!
//! Every op runs in two phases. [`start`] is the *ordered* part: writes are
//! paced, take their key locks, read what they must (read-modify-write) and
//! are applied to the engine (`write_start`); ops started one after another
//! take effect in that order, so a pipeline's SET then GET sees the SET.
//! [`finish`] is the part that may overlap with later ops: waiting for the
//! group commit, or doing a read.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ops::Bound;
use std::rc::Rc;

use crate::keys;
use crate::storage::notify::Notify;
use crate::storage::{DmaDisk, Engine, Error as StorageError, SeqNo, Stats, WriteBatch};

#[derive(Debug)]
pub enum ShardOp {
    Get {
        key: Vec<u8>,
    },
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
    /// Live items with `start <= key < end` (no end: to the end), at most `limit`.
    Scan {
        start: Vec<u8>,
        end: Option<Vec<u8>>,
        limit: usize,
    },
    /// Read-modify-write of one key, atomic on its shard.
    Rmw {
        key: Vec<u8>,
        op: RmwOp,
    },
    /// Set all pairs only if none of the keys exists (all keys on this shard).
    SetAllIfNone {
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// Keys without a sort key (as partition keys) from token `from` on:
    /// about `count` of them, always every key of the last token returned.
    /// Reply `Keys`; `next` is the token to go on from, None when the shard is done.
    ScanPartitions {
        from: u64,
        count: usize,
    },
    /// Number of keys without a sort key.
    CountPartitions,
    /// Delete every key of the shard.
    DeleteAll,
    Stats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetWhen {
    Always,
    IfMissing,
    IfExists,
}

#[derive(Debug)]
pub enum RmwOp {
    /// Reply `Old { applied, old }`.
    Set { value: Vec<u8>, when: SetWhen },
    /// Delete; reply `Old { applied: existed, old }`.
    Take,
    /// Add to an integer value; reply `Int(new)` or `Failed(BadRequest, msg)`.
    IncrBy(i64),
    /// Append; reply `Int(new length)`; fails past `max_len`.
    Append { value: Vec<u8>, max_len: usize },
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

#[derive(Debug)]
pub enum ShardReply {
    Value(Option<Vec<u8>>),
    Done,
    Rows(Vec<(Vec<u8>, Vec<u8>)>),
    Old { applied: bool, old: Option<Vec<u8>> },
    Int(i64),
    Keys { keys: Vec<Vec<u8>>, next: Option<u64> },
    Stats(Box<Stats>),
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

/// One shard's state beyond its engine: locks for read-modify-write.
pub struct Shard {
    pub engine: Rc<Engine<DmaDisk>>,
    locked: RefCell<HashSet<Vec<u8>>>,
    unlocked: Notify,
}

/// Holds keys locked; unlocks on drop.
struct KeyGuard<'a> {
    shard: &'a Shard,
    keys: Vec<Vec<u8>>,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut l = self.shard.locked.borrow_mut();
        for k in &self.keys {
            l.remove(k);
        }
        drop(l);
        self.shard.unlocked.notify_all();
    }
}

impl Shard {
    pub fn new(engine: Rc<Engine<DmaDisk>>) -> Self {
        Shard { engine, locked: RefCell::new(HashSet::new()), unlocked: Notify::default() }
    }

    /// Wait until none of `keys` is locked by a read-modify-write.
    async fn wait_unlocked(&self, keys: &[&[u8]]) {
        loop {
            let wait = self.unlocked.wait();
            let busy = {
                let l = self.locked.borrow();
                !l.is_empty() && keys.iter().any(|k| l.contains(*k))
            };
            if !busy {
                return;
            }
            wait.await;
        }
    }

    async fn lock(&self, keys: Vec<Vec<u8>>) -> KeyGuard<'_> {
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        self.wait_unlocked(&refs).await;
        self.locked.borrow_mut().extend(keys.iter().cloned());
        KeyGuard { shard: self, keys }
    }
}

/// The rest of an op after its ordered part.
pub enum Pending {
    Ready(ShardReply),
    /// Reply once `seq` is durable.
    Durable(SeqNo, ShardReply),
    /// A read, done entirely in `finish`.
    Read(ShardOp),
}

/// The ordered part of `op`.
pub async fn start(shard: &Shard, op: ShardOp) -> Pending {
    match op {
        ShardOp::Put { key, value } => blind_write(shard, key, Some(value)).await,
        ShardOp::Delete { key } => blind_write(shard, key, None).await,
        ShardOp::Rmw { key, op } => rmw(shard, key, op).await.unwrap_or_else(|e| Pending::Ready(failed(e))),
        ShardOp::SetAllIfNone { pairs } => {
            set_all_if_none(shard, pairs).await.unwrap_or_else(|e| Pending::Ready(failed(e)))
        }
        ShardOp::DeleteAll => delete_all(shard).await.unwrap_or_else(|e| Pending::Ready(failed(e))),
        read => Pending::Read(read),
    }
}

/// The part of `op` that may overlap with later ops.
pub async fn finish(shard: &Shard, p: Pending) -> ShardReply {
    match p {
        Pending::Ready(r) => r,
        Pending::Durable(seq, r) => match shard.engine.wait_durable(seq).await {
            Ok(()) => r,
            Err(e) => failed(e),
        },
        Pending::Read(op) => read(&shard.engine, op).await.unwrap_or_else(failed),
    }
}

/// Both phases at once.
pub async fn execute(shard: &Shard, op: ShardOp) -> ShardReply {
    let p = start(shard, op).await;
    finish(shard, p).await
}

async fn blind_write(shard: &Shard, key: Vec<u8>, value: Option<Vec<u8>>) -> Pending {
    if let Err(e) = shard.engine.pace().await {
        return Pending::Ready(failed(e));
    }
    shard.wait_unlocked(&[&key]).await;
    let mut b = WriteBatch::new();
    match &value {
        Some(v) => b.put(&key, v),
        None => b.delete(&key),
    };
    match shard.engine.write_start(&b) {
        Ok(seq) => Pending::Durable(seq, ShardReply::Done),
        Err(e) => Pending::Ready(failed(e)),
    }
}

async fn rmw(shard: &Shard, key: Vec<u8>, op: RmwOp) -> Result<Pending, StorageError> {
    shard.engine.pace().await?;
    let _guard = shard.lock(vec![key.clone()]).await;
    let old = shard.engine.get_latest(&key).await?.and_then(|(_, v)| v);
    let mut b = WriteBatch::new();
    let reply = match op {
        RmwOp::Set { value, when } => {
            let apply = match when {
                SetWhen::Always => true,
                SetWhen::IfMissing => old.is_none(),
                SetWhen::IfExists => old.is_some(),
            };
            if apply {
                b.put(&key, &value);
            }
            ShardReply::Old { applied: apply, old }
        }
        RmwOp::Take => {
            if old.is_some() {
                b.delete(&key);
            }
            ShardReply::Old { applied: old.is_some(), old }
        }
        RmwOp::IncrBy(delta) => match crate::resp::incr_value(old.as_deref(), delta) {
            Ok(n) => {
                b.put(&key, n.to_string().as_bytes());
                ShardReply::Int(n)
            }
            Err(e) => return Ok(Pending::Ready(ShardReply::Failed(FailKind::BadRequest, e.message))),
        },
        RmwOp::Append { value, max_len } => {
            let mut v = old.unwrap_or_default();
            if v.len() + value.len() > max_len {
                let msg = crate::resp::ERR_STRING_TOO_LONG.to_string();
                return Ok(Pending::Ready(ShardReply::Failed(FailKind::BadRequest, msg)));
            }
            v.extend_from_slice(&value);
            b.put(&key, &v);
            ShardReply::Int(v.len() as i64)
        }
    };
    if b.is_empty() {
        // Nothing written, but what we read may not be durable yet.
        return Ok(Pending::Durable(shard.engine.last_seq(), reply));
    }
    let seq = shard.engine.write_start(&b)?;
    Ok(Pending::Durable(seq, reply))
}

async fn set_all_if_none(shard: &Shard, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Pending, StorageError> {
    shard.engine.pace().await?;
    let mut keys: Vec<Vec<u8>> = pairs.iter().map(|(k, _)| k.clone()).collect();
    keys.sort();
    keys.dedup();
    let _guard = shard.lock(keys.clone()).await;
    for k in &keys {
        if shard.engine.get_latest(k).await?.is_some_and(|(_, v)| v.is_some()) {
            return Ok(Pending::Durable(shard.engine.last_seq(), ShardReply::Int(0)));
        }
    }
    let mut b = WriteBatch::new();
    for (k, v) in &pairs {
        b.put(k, v);
    }
    let seq = shard.engine.write_start(&b)?;
    Ok(Pending::Durable(seq, ShardReply::Int(1)))
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
        for (k, _) in &rows {
            b.delete(k);
        }
        shard.engine.pace().await?;
        last = shard.engine.write_start(&b)?;
    }
    Ok(Pending::Durable(last, ShardReply::Done))
}

/// A key of the RESP keyspace: a partition with no sort key.
fn partition_only(engine_key: &[u8]) -> Option<&[u8]> {
    keys::decode(engine_key).filter(|(_, _, sk)| sk.is_empty()).map(|(_, pk, _)| pk)
}

async fn read(engine: &Rc<Engine<DmaDisk>>, op: ShardOp) -> Result<ShardReply, StorageError> {
    Ok(match op {
        ShardOp::Get { key } => ShardReply::Value(engine.get(&key).await?),
        ShardOp::Scan { start, end, limit } => {
            let end = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            ShardReply::Rows(engine.scan(Bound::Included(&start), end, limit).await?)
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
                for (k, _) in &rows {
                    let Some((token, _, _)) = keys::decode(k) else { continue };
                    // Past `count`, stop at the first new token: a cursor resumes at a token.
                    if keys.len() >= count && last_token != Some(token) {
                        return Ok(ShardReply::Keys { keys, next: Some(token) });
                    }
                    last_token = Some(token);
                    if let Some(pk) = partition_only(k) {
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
        ShardOp::CountPartitions => {
            let mut n = 0i64;
            let mut after: Option<Vec<u8>> = None;
            loop {
                let start = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                let rows = engine.scan(start, Bound::Unbounded, 4096).await?;
                n += rows.iter().filter(|(k, _)| partition_only(k).is_some()).count() as i64;
                match rows.last() {
                    Some((k, _)) if rows.len() == 4096 => after = Some(k.clone()),
                    _ => break,
                }
            }
            ShardReply::Int(n)
        }
        ShardOp::Stats => ShardReply::Stats(Box::new(engine.stats())),
        other => ShardReply::Failed(FailKind::Internal, format!("not a read: {other:?}")),
    })
}
