//! Pipelined, shard-aware client on glommio (single-threaded: use one per
//! executor). Any number of calls may be in flight on a connection: a writer
//! task batches outgoing frames, a reader task hands each response to the call
//! waiting for its request id.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures_lite::io::ReadHalf;
use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;
use rustc_hash::FxHashMap;

use super::oneshot::{self, Sender};
use super::{ClientError, Result, Topology, CLIENT_NAME};
use crate::outbox::{write_loop, Outbox};
use crate::protocol::request::{encode_get_body, encode_put_body};
use crate::protocol::{
    self, frame, Consistency, DeleteRequest, HandshakeRequest, Key, Limits, Opcode, Request, Response, Version,
};

/// Callers by request id (ids are this client's own counter: no need for a
/// DoS-resistant hash).
type Waiters = RefCell<FxHashMap<u64, Sender<Response>>>;

struct Shared {
    out: Rc<Outbox>,
    waiters: Waiters,
}

/// One pipelined connection.
pub struct AsyncConn {
    shared: Rc<Shared>,
    next_id: Cell<u64>,
}

impl AsyncConn {
    pub async fn connect(addr: &str) -> Result<Rc<AsyncConn>> {
        let stream =
            TcpStream::connect(addr).await.map_err(|e| ClientError::Io(std::io::Error::other(e.to_string())))?;
        let _ = stream.set_nodelay(true);
        let (rd, wr) = futures_lite::io::split(stream);
        let shared = Rc::new(Shared { out: Rc::new(Outbox::default()), waiters: RefCell::new(FxHashMap::default()) });
        let out = shared.out.clone();
        glommio::spawn_local(async move {
            let _ = write_loop(wr, out).await;
        })
        .detach();
        glommio::spawn_local(read_loop(rd, shared.clone())).detach();
        Ok(Rc::new(AsyncConn { shared, next_id: Cell::new(1) }))
    }

    /// Send one request and wait for its response.
    pub async fn call(&self, req: &Request) -> Result<Response> {
        self.call_with_flags(req, 0).await
    }

    pub fn close(&self) {
        self.shared.out.close();
    }

    pub fn is_closed(&self) -> bool {
        self.shared.out.is_closing()
    }

    /// Send one request with header flags (e.g. `protocol::FLAG_FORWARDED`).
    pub async fn call_with_flags(&self, req: &Request, flags: u16) -> Result<Response> {
        self.call_body(req.opcode(), flags, |out| req.encode_body(out)).await
    }

    /// Send one request whose body `body` encodes, and wait for its response.
    async fn call_body(&self, opcode: Opcode, flags: u16, body: impl FnOnce(&mut Vec<u8>)) -> Result<Response> {
        if self.is_closed() {
            return Err(ClientError::Closed);
        }
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (tx, rx) = oneshot::channel();
        self.shared.waiters.borrow_mut().insert(id, tx);
        self.shared.out.push(|out| frame::encode_frame(opcode as u8, flags, id, out, body));
        match rx.await {
            Some(Response::Error(e)) => Err(ClientError::Server(e)),
            Some(r) => Ok(r),
            None => Err(ClientError::Closed),
        }
    }
}

impl Drop for AsyncConn {
    fn drop(&mut self) {
        self.close();
    }
}

async fn read_loop(mut rd: ReadHalf<TcpStream>, shared: Rc<Shared>) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    'outer: loop {
        let mut start = 0;
        loop {
            match protocol::decode_response(&buf[start..], &Limits::DEFAULT) {
                Ok(Some((frame, n))) => {
                    start += n;
                    if let Some(tx) = shared.waiters.borrow_mut().remove(&frame.request_id) {
                        tx.send(frame.body);
                    }
                }
                Ok(None) => break,
                Err(_) => break 'outer,
            }
        }
        buf.drain(..start);
        match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    // Fail everything still waiting: dropping the senders wakes the callers with None.
    shared.out.close();
    shared.waiters.borrow_mut().clear();
}

/// Shard-aware pipelined client of one node.
pub struct AsyncClient {
    main: Rc<AsyncConn>,
    topology: Topology,
    shards: Vec<Rc<AsyncConn>>,
}

impl AsyncClient {
    /// Connect, handshake, and open one connection per shard.
    pub async fn connect(addr: &str) -> Result<AsyncClient> {
        let main = AsyncConn::connect(addr).await?;
        let hs = Request::Handshake(HandshakeRequest { version: Version::CURRENT, client_name: CLIENT_NAME.into() });
        let topology = match main.call(&hs).await? {
            Response::Handshake(h) => Topology::from(h),
            other => return Err(ClientError::Protocol(format!("unexpected {:?}", other.opcode()))),
        };
        let mut shards = Vec::with_capacity(topology.shards());
        for a in &topology.shard_addrs {
            shards.push(match AsyncConn::connect(a).await {
                Ok(c) => c,
                Err(_) => main.clone(), // unreachable shard port: the server forwards
            });
        }
        if shards.is_empty() {
            shards.push(main.clone());
        }
        Ok(AsyncClient { main, topology, shards })
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// True once the main connection has failed or closed.
    pub fn is_closed(&self) -> bool {
        self.main.is_closed()
    }

    pub async fn call_with_flags(&self, partition: &[u8], req: &Request, flags: u16) -> Result<Response> {
        self.conn(partition).call_with_flags(req, flags).await
    }

    fn conn(&self, partition: &[u8]) -> &AsyncConn {
        let s = self.topology.shard_of(partition);
        self.shards.get(s).unwrap_or(&self.main)
    }

    pub async fn call(&self, partition: &[u8], req: &Request) -> Result<Response> {
        self.conn(partition).call(req).await
    }

    pub async fn get(&self, partition: &[u8], sort: &[u8]) -> Result<Option<Vec<u8>>> {
        let body = |out: &mut Vec<u8>| encode_get_body(out, Consistency::Default, partition, sort);
        match self.conn(partition).call_body(Opcode::Get, 0, body).await? {
            Response::Get(mut g) => Ok(if g.values.is_empty() { None } else { Some(g.values.swap_remove(0)) }),
            other => Err(ClientError::Protocol(format!("unexpected {:?}", other.opcode()))),
        }
    }

    pub async fn put(&self, partition: &[u8], sort: &[u8], value: &[u8]) -> Result<()> {
        self.put_with_flags(partition, sort, value, 0).await
    }

    /// Write superseding every version the coordinating replica holds
    /// (last-writer-wins for this write); `put` is a blind write whose value
    /// becomes a sibling of a concurrent one.
    pub async fn put_overwrite(&self, partition: &[u8], sort: &[u8], value: &[u8]) -> Result<()> {
        self.put_with_flags(partition, sort, value, protocol::FLAG_OVERWRITE).await
    }

    async fn put_with_flags(&self, partition: &[u8], sort: &[u8], value: &[u8], flags: u16) -> Result<()> {
        let body = |out: &mut Vec<u8>| encode_put_body(out, Consistency::Default, partition, sort, value, &[]);
        match self.conn(partition).call_body(Opcode::Put, flags, body).await? {
            Response::Put(_) => Ok(()),
            other => Err(ClientError::Protocol(format!("unexpected {:?}", other.opcode()))),
        }
    }

    /// Delete every version the coordinating replica holds.
    pub async fn delete(&self, partition: &[u8], sort: &[u8]) -> Result<()> {
        let req = Request::Delete(DeleteRequest {
            consistency: Consistency::Default,
            key: Key::new(partition, sort),
            context: Vec::new(),
        });
        match self.call(partition, &req).await? {
            Response::Delete(_) => Ok(()),
            other => Err(ClientError::Protocol(format!("unexpected {:?}", other.opcode()))),
        }
    }
}
