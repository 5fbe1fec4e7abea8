//! `--target native://HOST:PORT | resp://HOST:PORT`, and one client type over both.

use std::ops::Bound;
use std::rc::Rc;

use ringkv::client::{AsyncClient, ClientError};
use ringkv::protocol::{Consistency, Request, Response, ScanRequest};

use crate::resp::{Reply, RespConn, RespError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Native(String),
    Resp(String),
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(a) = s.strip_prefix("native://") {
            Ok(Target::Native(a.trim_end_matches('/').to_string()))
        } else if let Some(a) = s.strip_prefix("resp://") {
            Ok(Target::Resp(a.trim_end_matches('/').to_string()))
        } else if let Some(a) = s.strip_prefix("redis://") {
            Ok(Target::Resp(a.trim_end_matches('/').to_string()))
        } else {
            Err(format!("target {s:?}: expected native://HOST:PORT or resp://HOST:PORT"))
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Native(a) => write!(f, "native://{a}"),
            Target::Resp(a) => write!(f, "resp://{a}"),
        }
    }
}

/// An operation's failure. `fatal`: the connection is gone, stop using it.
#[derive(Debug)]
pub struct OpError {
    pub fatal: bool,
    pub msg: String,
}

impl From<ClientError> for OpError {
    fn from(e: ClientError) -> Self {
        let fatal = matches!(e, ClientError::Closed | ClientError::Io(_));
        OpError { fatal, msg: e.to_string() }
    }
}

impl From<RespError> for OpError {
    fn from(e: RespError) -> Self {
        OpError { fatal: matches!(e, RespError::Closed(_)), msg: e.to_string() }
    }
}

/// One logical connection: a shard-aware native client (one TCP connection per
/// shard plus the main one) or one RESP connection.
#[derive(Clone)]
pub enum Client {
    Native(Rc<AsyncClient>),
    Resp(Rc<RespConn>),
}

impl Client {
    pub async fn connect(t: &Target) -> Result<Client, String> {
        match t {
            Target::Native(a) => {
                Ok(Client::Native(Rc::new(AsyncClient::connect(a).await.map_err(|e| format!("connect {t}: {e}"))?)))
            }
            Target::Resp(a) => {
                let c = RespConn::connect(a).await.map_err(|e| format!("connect {t}: {e}"))?;
                // A real round trip, so that a wrong port fails here and not as run errors.
                match c.call(&[b"PING"]).await {
                    Ok(Reply::Simple(_)) => Ok(Client::Resp(Rc::new(c))),
                    Ok(r) => Err(format!("{t}: PING answered {r:?}")),
                    Err(e) => Err(format!("{t}: PING: {e}")),
                }
            }
        }
    }

    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, OpError> {
        match self {
            Client::Native(c) => Ok(c.get(key, b"").await?),
            Client::Resp(c) => match c.call(&[b"GET", key]).await? {
                Reply::Bulk(v) => Ok(v),
                r => Err(unexpected("GET", &r)),
            },
        }
    }

    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), OpError> {
        match self {
            // OVERWRITE: last writer wins, as SET does on RESP and in Redis (a blind PUT
            // without a context would become a sibling of the value it replaces).
            Client::Native(c) => Ok(c.put_overwrite(key, b"", value).await?),
            Client::Resp(c) => match c.call(&[b"SET", key, value]).await? {
                Reply::Simple(s) if s == "OK" => Ok(()),
                r => Err(unexpected("SET", &r)),
            },
        }
    }

    /// A short scan of up to `len` items starting at `key`; returns the item count.
    /// Native: a SCAN of `key`'s partition (ringkv's native scans are within one
    /// partition: with YCSB keys as partitions, at most one row). RESP: `SCAN
    /// cursor COUNT len` with the cursor = the key's ring token (on ringkv that is
    /// "from this key on, in token order"; on Redis an arbitrary bucket cursor).
    pub async fn scan(&self, key: &[u8], len: u32) -> Result<usize, OpError> {
        match self {
            Client::Native(c) => {
                let req = Request::Scan(ScanRequest {
                    consistency: Consistency::Default,
                    partition: key.to_vec(),
                    from: Bound::Unbounded,
                    to: Bound::Unbounded,
                    limit: len,
                    continuation: Vec::new(),
                });
                match c.call(key, &req).await? {
                    Response::Scan(s) => Ok(s.items.len()),
                    other => Err(OpError { fatal: false, msg: format!("SCAN: unexpected {:?}", other.opcode()) }),
                }
            }
            Client::Resp(c) => {
                let cursor = ringkv::ring::token(key).to_string();
                let count = len.to_string();
                match c.call(&[b"SCAN", cursor.as_bytes(), b"COUNT", count.as_bytes()]).await? {
                    Reply::Array(Some(v)) if v.len() == 2 => match &v[1] {
                        Reply::Array(Some(keys)) => Ok(keys.len()),
                        r => Err(unexpected("SCAN", r)),
                    },
                    r => Err(unexpected("SCAN", &r)),
                }
            }
        }
    }
}

fn unexpected(cmd: &str, r: &Reply) -> OpError {
    OpError { fatal: false, msg: format!("{cmd}: unexpected reply {r:?}") }
}
