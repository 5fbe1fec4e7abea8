//! Blocking, shard-aware client over std sockets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::Bound;
use std::time::Duration;

use super::{ClientError, Result, Topology, CLIENT_NAME};
use crate::protocol::{
    self, Consistency, DeleteRequest, GetRequest, HandshakeRequest, Key, Limits, PutRequest, Request, Response,
    ScanRequest, Version,
};

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    next_id: u64,
}

impl Conn {
    fn open(addr: &str, timeout: Duration) -> Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Conn { stream, buf: Vec::new(), next_id: 1 })
    }

    /// Send every request, then read every response; answers in request order.
    fn pipeline(&mut self, reqs: &[Request]) -> Result<Vec<Response>> {
        let mut out = Vec::new();
        let first = self.next_id;
        for r in reqs {
            protocol::encode_request(r, self.next_id, &mut out);
            self.next_id += 1;
        }
        self.stream.write_all(&out)?;
        let mut answers: Vec<Option<Response>> = (0..reqs.len()).map(|_| None).collect();
        let mut got = 0;
        while got < reqs.len() {
            let (id, resp) = self.read_response()?;
            let slot = id.checked_sub(first).and_then(|i| answers.get_mut(i as usize));
            match slot {
                Some(s @ None) => {
                    *s = Some(resp);
                    got += 1;
                }
                _ => {
                    if let Response::Error(e) = resp {
                        return Err(ClientError::Server(e));
                    }
                    return Err(ClientError::Protocol(format!("unexpected response id {id}")));
                }
            }
        }
        Ok(answers.into_iter().flatten().collect())
    }

    fn read_response(&mut self) -> Result<(u64, Response)> {
        let mut chunk = [0u8; 64 << 10];
        loop {
            match protocol::decode_response(&self.buf, &Limits::DEFAULT) {
                Ok(Some((frame, n))) => {
                    self.buf.drain(..n);
                    return Ok((frame.request_id, frame.body));
                }
                Ok(None) => {}
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn call(&mut self, req: Request) -> Result<Response> {
        self.call_with_flags(req, 0)
    }

    fn call_with_flags(&mut self, req: Request, flags: u16) -> Result<Response> {
        let mut out = Vec::new();
        protocol::encode_request_with_flags(&req, self.next_id, flags, &mut out);
        self.next_id += 1;
        self.stream.write_all(&out)?;
        let (_, resp) = self.read_response()?;
        let mut r = vec![resp];
        match r.pop() {
            Some(Response::Error(e)) => Err(ClientError::Server(e)),
            Some(resp) => Ok(resp),
            None => Err(ClientError::Closed),
        }
    }
}

/// A blocking client of one node. Not thread-safe: one per thread.
pub struct Client {
    main: Conn,
    topology: Topology,
    /// Direct connections, opened on first use.
    shards: Vec<Option<Conn>>,
    timeout: Duration,
    /// Use the shards' direct addresses (else everything goes through the main connection).
    shard_aware: bool,
}

fn unexpected(r: Response) -> ClientError {
    ClientError::Protocol(format!("unexpected response {:?}", r.opcode()))
}

impl Client {
    pub fn connect(addr: &str) -> Result<Client> {
        Self::connect_with(addr, Duration::from_secs(30), true)
    }

    pub fn connect_with(addr: &str, timeout: Duration, shard_aware: bool) -> Result<Client> {
        let mut main = Conn::open(addr, timeout)?;
        let hs = Request::Handshake(HandshakeRequest { version: Version::CURRENT, client_name: CLIENT_NAME.into() });
        let topology = match main.call(hs)? {
            Response::Handshake(h) => Topology::from(h),
            other => return Err(unexpected(other)),
        };
        let shards = (0..topology.shards()).map(|_| None).collect();
        Ok(Client { main, topology, shards, timeout, shard_aware })
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    fn conn_for(&mut self, partition: &[u8]) -> &mut Conn {
        let shard = self.topology.shard_of(partition);
        if !self.shard_aware {
            return &mut self.main;
        }
        if self.shards.get(shard).is_some_and(Option::is_none) {
            let addr = self.topology.shard_addrs.get(shard).cloned().unwrap_or_default();
            // A shard port we cannot reach is not an error: the main connection forwards.
            self.shards[shard] = Conn::open(&addr, self.timeout).ok();
        }
        match self.shards.get_mut(shard) {
            Some(Some(c)) => c,
            _ => &mut self.main,
        }
    }

    pub fn ping(&mut self) -> Result<()> {
        match self.main.call(Request::Ping)? {
            Response::Pong => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    pub fn get(&mut self, partition: &[u8], sort: &[u8]) -> Result<Option<Vec<u8>>> {
        let req = Request::Get(GetRequest { consistency: Consistency::Default, key: Key::new(partition, sort) });
        match self.conn_for(partition).call(req)? {
            Response::Get(mut g) => Ok(if g.values.is_empty() { None } else { Some(g.values.swap_remove(0)) }),
            other => Err(unexpected(other)),
        }
    }

    /// A blind write (no causal context): if the key has a value another
    /// client wrote, the two become siblings. Returns the new causal context.
    pub fn put(&mut self, partition: &[u8], sort: &[u8], value: &[u8]) -> Result<Vec<u8>> {
        self.put_with(partition, sort, value, &[], 0, Consistency::Default)
    }

    /// Write superseding every version the coordinating replica holds
    /// (last-writer-wins for this write): what a shell user means by "put".
    pub fn put_overwrite(
        &mut self,
        partition: &[u8],
        sort: &[u8],
        value: &[u8],
        level: Consistency,
    ) -> Result<Vec<u8>> {
        self.put_with(partition, sort, value, &[], protocol::FLAG_OVERWRITE, level)
    }

    /// Write with the causal context of an earlier read: supersedes exactly
    /// the versions that read saw.
    pub fn put_with(
        &mut self,
        partition: &[u8],
        sort: &[u8],
        value: &[u8],
        context: &[u8],
        flags: u16,
        level: Consistency,
    ) -> Result<Vec<u8>> {
        let req = Request::Put(PutRequest {
            consistency: level,
            key: Key::new(partition, sort),
            value: value.to_vec(),
            context: context.to_vec(),
        });
        match self.conn_for(partition).call_with_flags(req, flags)? {
            Response::Put(p) => Ok(p.context),
            other => Err(unexpected(other)),
        }
    }

    /// All sibling values and the causal context (empty values: not found).
    pub fn get_all(&mut self, partition: &[u8], sort: &[u8], level: Consistency) -> Result<(Vec<Vec<u8>>, Vec<u8>)> {
        let req = Request::Get(GetRequest { consistency: level, key: Key::new(partition, sort) });
        match self.conn_for(partition).call(req)? {
            Response::Get(g) => Ok((g.values, g.context)),
            other => Err(unexpected(other)),
        }
    }

    /// Delete every version the coordinating replica holds.
    pub fn delete(&mut self, partition: &[u8], sort: &[u8]) -> Result<()> {
        self.delete_with(partition, sort, Consistency::Default)
    }

    pub fn delete_with(&mut self, partition: &[u8], sort: &[u8], level: Consistency) -> Result<()> {
        let req =
            Request::Delete(DeleteRequest { consistency: level, key: Key::new(partition, sort), context: Vec::new() });
        match self.conn_for(partition).call(req)? {
            Response::Delete(_) => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Items of `partition` with sort keys in the range, following
    /// continuations until `limit` items or the end of the range.
    pub fn scan(
        &mut self,
        partition: &[u8],
        from: Bound<Vec<u8>>,
        to: Bound<Vec<u8>>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut continuation = Vec::new();
        while out.len() < limit {
            let want = (limit - out.len()).min(crate::server::handler::SCAN_MAX_LIMIT) as u32;
            let req = Request::Scan(ScanRequest {
                consistency: Consistency::Default,
                partition: partition.to_vec(),
                from: from.clone(),
                to: to.clone(),
                limit: want,
                continuation: std::mem::take(&mut continuation),
            });
            match self.conn_for(partition).call(req)? {
                Response::Scan(s) => {
                    for mut item in s.items {
                        if !item.values.is_empty() {
                            out.push((item.sort_key, item.values.swap_remove(0)));
                        }
                    }
                    if s.continuation.is_empty() {
                        break;
                    }
                    continuation = s.continuation;
                }
                other => return Err(unexpected(other)),
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Send `reqs` on the main connection without waiting, then collect all
    /// answers (in request order; errors come back as `Response::Error`).
    pub fn pipeline(&mut self, reqs: &[Request]) -> Result<Vec<Response>> {
        self.main.pipeline(reqs)
    }
}
