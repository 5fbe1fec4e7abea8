//! A small pipelined RESP2 client on glommio: commands are sent as multibulk
//! arrays, replies (simple string, error, integer, bulk, nil, arrays) are
//! matched to callers in order. Any number of calls may be outstanding on a
//! connection; works against ringkv's RESP port and redis-server 7.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use futures_lite::io::ReadHalf;
use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;
use ringkv::client::oneshot::{self, Sender};
use ringkv::outbox::{write_loop, Outbox};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

#[derive(Debug)]
pub enum RespError {
    /// The connection is gone (closed, reset, or a protocol error).
    Closed(String),
    /// An error reply (`-ERR ...`); the connection goes on.
    Server(String),
}

impl std::fmt::Display for RespError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RespError::Closed(m) => write!(f, "connection closed: {m}"),
            RespError::Server(m) => write!(f, "server error: {m}"),
        }
    }
}

/// Append `*N\r\n$len\r\narg\r\n...` (the server crate's encoder).
pub use ringkv::resp::encode_command;

const MAX_BULK: i64 = 512 << 20;
const MAX_DEPTH: usize = 16;

/// Parse one reply from the start of `buf`: `Ok(None)` when incomplete.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    parse_at(buf, 0, 0)
}

fn line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let i = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..i], pos + i + 2))
}

fn int_of(l: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(l)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad integer {:?}", String::from_utf8_lossy(l)))
}

fn parse_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Reply, usize)>, String> {
    if depth > MAX_DEPTH {
        return Err("reply nested too deep".into());
    }
    let Some(&t) = buf.get(pos) else { return Ok(None) };
    let Some((l, next)) = line(buf, pos + 1) else { return Ok(None) };
    let text = || String::from_utf8_lossy(l).into_owned();
    match t {
        b'+' => Ok(Some((Reply::Simple(text()), next))),
        b'-' => Ok(Some((Reply::Error(text()), next))),
        b':' => Ok(Some((Reply::Int(int_of(l)?), next))),
        b'$' => {
            let n = int_of(l)?;
            if n < 0 {
                return Ok(Some((Reply::Bulk(None), next)));
            }
            if n > MAX_BULK {
                return Err(format!("bulk of {n} bytes"));
            }
            let end = next + n as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err("bulk not followed by CRLF".into());
            }
            Ok(Some((Reply::Bulk(Some(buf[next..end].to_vec())), end + 2)))
        }
        b'*' => {
            let n = int_of(l)?;
            if n < 0 {
                return Ok(Some((Reply::Array(None), next)));
            }
            if n > 1 << 24 {
                return Err(format!("array of {n} items"));
            }
            let mut items = Vec::with_capacity((n as usize).min(1024));
            let mut p = next;
            for _ in 0..n {
                match parse_at(buf, p, depth + 1)? {
                    Some((r, q)) => {
                        items.push(r);
                        p = q;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), p)))
        }
        // RESP3 null, in case a server sends it.
        b'_' => Ok(Some((Reply::Bulk(None), next))),
        other => Err(format!("unknown reply type byte 0x{other:02x}")),
    }
}

struct Shared {
    out: Rc<Outbox>,
    waiters: RefCell<VecDeque<Sender<Reply>>>,
    why: RefCell<String>,
}

/// One pipelined RESP connection (single-threaded: use it on one executor).
pub struct RespConn {
    shared: Rc<Shared>,
}

impl RespConn {
    pub async fn connect(addr: &str) -> Result<RespConn, RespError> {
        let stream = TcpStream::connect(addr).await.map_err(|e| RespError::Closed(format!("connect {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (rd, wr) = futures_lite::io::split(stream);
        let shared = Rc::new(Shared {
            out: Rc::new(Outbox::default()),
            waiters: RefCell::new(VecDeque::new()),
            why: RefCell::new(String::new()),
        });
        let sh = shared.clone();
        glommio::spawn_local(async move {
            if let Err(e) = write_loop(wr, sh.out.clone()).await {
                fail(&sh, format!("write: {e}"));
            }
        })
        .detach();
        glommio::spawn_local(read_loop(rd, shared.clone())).detach();
        Ok(RespConn { shared })
    }

    /// Send one command and wait for its reply. Error replies are `Err(Server)`.
    pub async fn call(&self, args: &[&[u8]]) -> Result<Reply, RespError> {
        if self.shared.out.is_closing() {
            return Err(RespError::Closed(self.shared.why.borrow().clone()));
        }
        let (tx, rx) = oneshot::channel();
        // Encoding and queueing the waiter in one step keeps replies in order.
        self.shared.waiters.borrow_mut().push_back(tx);
        self.shared.out.push(|out| encode_command(args, out));
        match rx.await {
            Some(Reply::Error(e)) => Err(RespError::Server(e)),
            Some(r) => Ok(r),
            None => Err(RespError::Closed(self.shared.why.borrow().clone())),
        }
    }

    pub fn close(&self) {
        self.shared.out.close();
    }
}

impl Drop for RespConn {
    fn drop(&mut self) {
        self.close();
    }
}

fn fail(shared: &Shared, why: String) {
    if shared.why.borrow().is_empty() {
        *shared.why.borrow_mut() = why;
    }
    shared.out.close();
    // Dropping the senders wakes every caller with None.
    shared.waiters.borrow_mut().clear();
}

async fn read_loop(mut rd: ReadHalf<TcpStream>, shared: Rc<Shared>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    let why = 'outer: loop {
        let mut start = 0;
        loop {
            match parse_reply(&buf[start..]) {
                Ok(Some((reply, n))) => {
                    start += n;
                    match shared.waiters.borrow_mut().pop_front() {
                        Some(tx) => {
                            tx.send(reply);
                        }
                        None => break 'outer format!("reply with no request: {reply:?}"),
                    }
                }
                Ok(None) => break,
                Err(e) => break 'outer format!("protocol error: {e}"),
            }
        }
        buf.drain(..start);
        match rd.read(&mut chunk).await {
            Ok(0) => break "closed by the server".to_string(),
            Err(e) => break format!("read: {e}"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    fail(&shared, why);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_multibulk() {
        let mut out = Vec::new();
        encode_command(&[b"SET", b"k", b"v\r\n"], &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n");
    }

    #[test]
    fn parses_every_reply_type() {
        let input =
            b"+OK\r\n-ERR no\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\n0\r\n*1\r\n$2\r\nk1\r\n*-1\r\n$0\r\n\r\n";
        let mut p = 0;
        let mut got = Vec::new();
        while p < input.len() {
            let (r, n) = parse_reply(&input[p..]).unwrap().unwrap();
            got.push(r);
            p += n;
        }
        assert_eq!(
            got,
            vec![
                Reply::Simple("OK".into()),
                Reply::Error("ERR no".into()),
                Reply::Int(42),
                Reply::Bulk(Some(b"abc".to_vec())),
                Reply::Bulk(None),
                Reply::Array(Some(vec![
                    Reply::Bulk(Some(b"0".to_vec())),
                    Reply::Array(Some(vec![Reply::Bulk(Some(b"k1".to_vec()))]))
                ])),
                Reply::Array(None),
                Reply::Bulk(Some(Vec::new())),
            ]
        );
    }

    #[test]
    fn incomplete_and_garbage() {
        for cut in [b"" as &[u8], b"+O", b"$3\r\nab", b"$3\r\nabc\r", b"*2\r\n:1\r\n", b":1"] {
            assert_eq!(parse_reply(cut).unwrap(), None, "{cut:?}");
        }
        assert!(parse_reply(b"?x\r\n").is_err());
        assert!(parse_reply(b":x\r\n").is_err());
        assert!(parse_reply(b"$3\r\nabcd\r\n").is_err());
        let deep = "*1\r\n".repeat(40) + ":1\r\n";
        assert!(parse_reply(deep.as_bytes()).is_err());
    }
}
