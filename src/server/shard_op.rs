//! What one shard can be asked to do, and its answers. The unit of work that
//! crosses the cross-core mesh (so: owned, `Send`).

use std::ops::Bound;
use std::rc::Rc;

use crate::storage::{DmaDisk, Engine, Error as StorageError};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// The engine refuses writes (failed sync, failed background job).
    ReadOnly,
    /// Bad argument (limits).
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

/// Run `op` against this shard's engine.
pub async fn execute(engine: &Rc<Engine<DmaDisk>>, op: ShardOp) -> ShardReply {
    let r = match op {
        ShardOp::Get { key } => engine.get(&key).await.map(ShardReply::Value),
        ShardOp::Put { key, value } => engine.put(&key, &value).await.map(|_| ShardReply::Done),
        ShardOp::Delete { key } => engine.delete(&key).await.map(|_| ShardReply::Done),
        ShardOp::Scan { start, end, limit } => {
            let end = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            engine.scan(Bound::Included(&start), end, limit).await.map(ShardReply::Rows)
        }
    };
    r.unwrap_or_else(failed)
}
