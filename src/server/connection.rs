//! One client connection speaking the native protocol.
//!
//! A reader decodes frames and starts one task per request (so requests on one
//! connection run concurrently and share group commits); a writer sends the
//! responses as they complete, batching whatever is ready into one write.
//! Requests served from memory are answered at once, with no task. So are the
//! common writes on a node alone, blind overwrites (an OVERWRITE put; a delete
//! with that flag or no context): the reader runs their ordered part, and one
//! finisher task per connection waits for their group commits in turn (one
//! wait covers every write queued behind it). GETs and PUTs are decoded
//! borrowed from the receive buffer (`protocol::Incoming`) and served from
//! there; an owned request is built only for the general path.
//! Responses carry request ids and may leave in any order (docs/PROTOCOL.md §7).
//! At most `max_in_flight_per_connection` requests run at once; beyond that the
//! reader stops reading (TCP backpressure).
//!
//! Bad input: a recoverable error answers that request with ERROR and goes on;
//! a fatal one sends ERROR with id 0 and closes. Other connections never notice.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

use crate::outbox::{write_loop, Outbox};
use crate::protocol::{self, Limits};
use crate::protocol::{Incoming, Request};
use crate::server::handler::{overwrite_response, Handler, Overwrite};
use crate::server::mesh::{Mesh, Started};
use crate::server::stop::ShardStop;
use crate::storage::notify::Notify;

const READ_CHUNK_BYTES: usize = 64 << 10;
/// Requests decoded and not yet run, the next to run included (both ports).
/// A key's index slot is prefetched when its request is decoded, its entry
/// when the request before it runs (`Engine::prefetch`): each stage has one
/// request's work to land in.
pub const PARSE_AHEAD: usize = 3;

/// The live connections of one shard, so shutdown can wait for them.
#[derive(Default, Clone)]
pub struct Connections {
    live: Rc<Cell<usize>>,
    changed: Rc<Notify>,
}

impl Connections {
    /// Serve a native-protocol connection.
    pub fn spawn(&self, stream: TcpStream, handler: Rc<Handler>, stop: Rc<ShardStop>) {
        let _ = stream.set_nodelay(true);
        self.track(serve_connection(stream, handler, stop));
    }

    /// Run a connection's task, counted until it ends.
    pub fn track(&self, conn: impl std::future::Future<Output = std::io::Result<()>> + 'static) {
        self.live.set(self.live.get() + 1);
        let me = self.clone();
        glommio::spawn_local(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
            me.live.set(me.live.get() - 1);
            me.changed.notify_all();
        })
        .detach();
    }

    /// Wait until every connection has closed.
    pub async fn drain(&self) {
        while self.live.get() > 0 {
            self.changed.wait().await;
        }
    }
}

/// Blind overwrites past their ordered part, to answer in turn.
#[derive(Default)]
struct Finishing {
    items: RefCell<VecDeque<(u64, Started, Overwrite)>>,
    closing: Cell<bool>,
    changed: Notify,
}

impl Finishing {
    fn push(&self, request_id: u64, started: Started, kind: Overwrite) {
        self.items.borrow_mut().push_back((request_id, started, kind));
        self.changed.notify_all();
    }

    fn close(&self) {
        self.closing.set(true);
        self.changed.notify_all();
    }
}

/// Finish the writes of `writes` one after another and answer each, until closed.
async fn finish_loop(
    writes: Rc<Finishing>,
    mesh: Rc<Mesh>,
    outbox: Rc<Outbox>,
    in_flight: Rc<Cell<usize>>,
    done: Rc<Notify>,
) {
    loop {
        let wait = writes.changed.wait();
        let next = writes.items.borrow_mut().pop_front();
        let Some((request_id, started, kind)) = next else {
            if writes.closing.get() {
                return;
            }
            wait.await;
            continue;
        };
        let reply = match mesh.finish_now(started) {
            Ok(r) => r,
            Err(started) => mesh.finish(started).await,
        };
        let resp = overwrite_response(kind, reply);
        outbox.push(|out| protocol::encode_response(&resp, request_id, out));
        in_flight.set(in_flight.get() - 1);
        done.notify_all();
    }
}

async fn serve_connection(stream: TcpStream, handler: Rc<Handler>, stop: Rc<ShardStop>) -> std::io::Result<()> {
    let (mut rd, wr) = futures_lite::io::split(stream);
    let max_in_flight = handler.max_in_flight();
    let outbox = Rc::new(Outbox::default());
    let in_flight = Rc::new(Cell::new(0usize));
    let done = Rc::new(Notify::default());
    let writer = glommio::spawn_local(write_loop(wr, outbox.clone()));
    let writes = Rc::new(Finishing::default());
    let finisher = glommio::spawn_local(finish_loop(
        writes.clone(),
        handler.mesh().clone(),
        outbox.clone(),
        in_flight.clone(),
        done.clone(),
    ));
    // A blind overwrite past its ordered part is answered at once if it is
    // finished already (as durable as the sync mode promises), else by the
    // finish loop. Replies may go in any order (docs/PROTOCOL.md).
    let finish_overwrite = |request_id, started, kind| match handler.mesh().finish_now(started) {
        Ok(reply) => {
            let resp = overwrite_response(kind, reply);
            outbox.push(|out| protocol::encode_response(&resp, request_id, out));
        }
        Err(started) => {
            in_flight.set(in_flight.get() + 1);
            writes.push(request_id, started, kind);
        }
    };
    let limits = Limits::DEFAULT;
    let mut buf = ReadBuf::default();
    let mut result = Ok(());
    let mut fatal = false;
    let mut stop = std::pin::pin!(stop.stopped());
    'conn: loop {
        // Frames decoded but not yet run: decoding runs ahead so that their
        // keys can be prefetched (see `PARSE_AHEAD`). GETs and PUTs borrow
        // from `buf`, which stays as it is until every frame read has run.
        let mut ahead = Ahead::<_, PARSE_AHEAD>::default();
        // Decode every whole frame we have.
        let mut start = 0;
        loop {
            while in_flight.get() >= max_in_flight {
                done.wait().await;
            }
            while !ahead.is_full() && !fatal {
                match protocol::decode_incoming(buf.data().get(start..).unwrap_or_default(), &limits) {
                    Ok(Some((frame, n))) => {
                        start += n;
                        let hint = handler.prefetch_slot(&frame.body, frame.flags);
                        ahead.push_back((Ok(frame), hint));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        match e.consumed() {
                            Some(n) => start += n,
                            None => fatal = true,
                        }
                        ahead.push_back((Err(e), None));
                    }
                }
            }
            let Some((next, hint)) = ahead.pop_front() else { break };
            if let Some(&(_, Some(next_hint))) = ahead.front() {
                handler.prefetch_entry(next_hint);
            }
            match next {
                Ok(frame) => {
                    let (request_id, flags) = (frame.request_id, frame.flags);
                    let body = match frame.body {
                        Incoming::Put(p) => {
                            if let Some(started) = handler.blind_put_now(&p, flags, hint.map(|(hash, _)| hash)) {
                                finish_overwrite(request_id, started, Overwrite::Put);
                                continue;
                            }
                            Request::Put(p.to_request())
                        }
                        Incoming::Get(g) => {
                            let mut answered = false;
                            outbox.push(|out| answered = handler.answer_get_now(&g, request_id, out));
                            if answered {
                                continue;
                            }
                            Request::Get(g.to_request())
                        }
                        Incoming::Other(body) => body,
                    };
                    let body = match body {
                        body @ (Request::Put(_) | Request::Delete(_)) => {
                            match handler.start_overwrite(body, flags).await {
                                Ok((started, kind)) => {
                                    finish_overwrite(request_id, started, kind);
                                    continue;
                                }
                                Err(body) => body,
                            }
                        }
                        body => body,
                    };
                    let h = handler.clone();
                    let mut fut = Box::pin(async move { h.handle(body, flags).await });
                    // Requests served from memory are done at once: no task needed.
                    if let Some(resp) = futures_lite::future::poll_once(&mut fut).await {
                        outbox.push(|out| protocol::encode_response(&resp, request_id, out));
                        continue;
                    }
                    in_flight.set(in_flight.get() + 1);
                    let (o, f, d) = (outbox.clone(), in_flight.clone(), done.clone());
                    glommio::spawn_local(async move {
                        let resp = fut.await;
                        o.push(|out| protocol::encode_response(&resp, request_id, out));
                        f.set(f.get() - 1);
                        d.notify_all();
                    })
                    .detach();
                }
                Err(e) => {
                    let (id, reply) = e.reply();
                    outbox.push(|out| protocol::encode_response(&reply, id, out));
                    if e.consumed().is_none() {
                        break 'conn;
                    }
                }
            }
        }
        buf.consume(start);
        match read_more(&mut rd, &mut buf, stop.as_mut()).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // Let the requests already read finish and be answered, then close.
    while in_flight.get() > 0 {
        done.wait().await;
    }
    writes.close();
    finisher.await;
    outbox.close();
    let _ = writer.await;
    result
}

/// The parse-ahead queue: up to `N` items in arrival order, inline (it is
/// made anew for each read, as its items borrow the receive buffer).
struct Ahead<T, const N: usize> {
    items: [Option<T>; N],
    head: usize,
    len: usize,
}

impl<T, const N: usize> Default for Ahead<T, N> {
    fn default() -> Self {
        const { assert!(N > 0, "an empty parse-ahead ring") };
        Ahead { items: std::array::from_fn(|_| None), head: 0, len: 0 }
    }
}

impl<T, const N: usize> Ahead<T, N> {
    fn is_full(&self) -> bool {
        self.len == N
    }

    /// Adds `item` at the back. Callers check [`Ahead::is_full`] first.
    fn push_back(&mut self, item: T) {
        debug_assert!(!self.is_full());
        if let Some(slot) = self.items.get_mut((self.head + self.len) % N).filter(|_| self.len < N) {
            *slot = Some(item);
            self.len += 1;
        }
    }

    fn pop_front(&mut self) -> Option<T> {
        let item = self.items.get_mut(self.head)?.take()?;
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Some(item)
    }

    fn front(&self) -> Option<&T> {
        self.items.get(self.head)?.as_ref()
    }
}

/// A connection's receive buffer. Bytes are read straight into it, with no
/// staging buffer to copy out of (that copy was ~1% of the shard under SETs
/// of 1 KiB); commands are parsed from [`ReadBuf::data`] in place, and once
/// they have run [`ReadBuf::consume`] moves the unparsed rest (a partial
/// command, usually short) to the front.
pub struct ReadBuf {
    /// `bytes[..filled]` is received data; the rest is spare room to read
    /// into, zeroed once when the buffer grows and reused after.
    bytes: Vec<u8>,
    filled: usize,
}

impl Default for ReadBuf {
    fn default() -> Self {
        ReadBuf { bytes: vec![0; READ_CHUNK_BYTES], filled: 0 }
    }
}

impl ReadBuf {
    /// What has been received and not consumed.
    pub fn data(&self) -> &[u8] {
        self.bytes.get(..self.filled).unwrap_or_default()
    }

    /// Drop the first `n` bytes of [`ReadBuf::data`].
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.filled);
        self.bytes.copy_within(n..self.filled, 0);
        self.filled -= n;
    }

    /// Room for the next read: at least half a chunk, more than the buffer
    /// has when a command is still incomplete (the parser's limits bound a
    /// command's size before any of it is buffered past them).
    fn spare(&mut self) -> &mut [u8] {
        if self.bytes.len() - self.filled < READ_CHUNK_BYTES / 2 {
            let len = (self.bytes.len() * 2).max(self.filled + READ_CHUNK_BYTES);
            self.bytes.resize(len, 0);
        }
        self.bytes.get_mut(self.filled..).unwrap_or_default()
    }
}

/// Read more bytes into `buf`; false at end of stream or once `stop` (the
/// connection's [`ShardStop::stopped`], made once and polled by every read
/// that finds no data) completes. The connection then finishes what it has
/// read and closes.
pub async fn read_more(
    rd: &mut (impl futures_lite::AsyncRead + Unpin),
    buf: &mut ReadBuf,
    stop: Pin<&mut impl Future<Output = ()>>,
) -> std::io::Result<bool> {
    let spare = buf.spare();
    let room = spare.len();
    let read = async { Some(rd.read(spare).await) };
    let stop = async {
        stop.await;
        None
    };
    match futures_lite::future::or(read, stop).await {
        Some(Ok(0)) | None => Ok(false),
        Some(Ok(n)) => {
            buf.filled += n.min(room);
            Ok(true)
        }
        Some(Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes `piece` at a time, as a socket may.
    struct Pieces {
        bytes: Vec<u8>,
        at: usize,
        piece: usize,
    }

    impl futures_lite::AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            out: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = self.piece.min(out.len()).min(self.bytes.len() - self.at);
            out[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            std::task::Poll::Ready(Ok(n))
        }
    }

    /// Everything `rd` sends, read through a `ReadBuf` that consumes `eat`
    /// bytes after each read (at most what it has).
    fn drain(rd: &mut Pieces, eat: usize) -> Vec<u8> {
        futures_lite::future::block_on(async {
            let mut buf = ReadBuf::default();
            let mut got = Vec::new();
            let mut stop = std::pin::pin!(std::future::pending::<()>());
            while read_more(rd, &mut buf, stop.as_mut()).await.unwrap() {
                let n = eat.min(buf.data().len());
                got.extend_from_slice(&buf.data()[..n]);
                buf.consume(n);
            }
            got.extend_from_slice(buf.data());
            got
        })
    }

    #[test]
    fn the_parse_ahead_queue_keeps_arrival_order_across_wraps() {
        let mut q = Ahead::<u32, 3>::default();
        let mut model = VecDeque::new();
        for i in 0..50u32 {
            // Push one to three (as room allows), then pop one or two.
            for j in 0..(i % 3 + 1) {
                if !q.is_full() {
                    q.push_back(i * 10 + j);
                    model.push_back(i * 10 + j);
                }
            }
            assert_eq!(q.is_full(), model.len() == 3);
            for _ in 0..(i % 2 + 1) {
                assert_eq!(q.front(), model.front());
                assert_eq!(q.pop_front(), model.pop_front());
            }
        }
        while let Some(x) = model.pop_front() {
            assert_eq!(q.pop_front(), Some(x));
        }
        assert_eq!((q.pop_front(), q.front()), (None, None));
    }

    #[test]
    fn bytes_read_in_pieces_come_out_in_order_whatever_is_consumed() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        for (piece, eat) in [(7, 5), (4096, 0), (100_000, 1), (READ_CHUNK_BYTES, usize::MAX), (1, 3)] {
            let mut rd = Pieces { bytes: bytes.clone(), at: 0, piece };
            assert!(drain(&mut rd, eat) == bytes, "piece {piece}, eat {eat}");
        }
    }

    #[test]
    fn an_incomplete_command_larger_than_a_chunk_grows_the_buffer_and_stays_whole() {
        let bytes = vec![0xA5u8; 5 * READ_CHUNK_BYTES + 17];
        let mut rd = Pieces { bytes: bytes.clone(), at: 0, piece: READ_CHUNK_BYTES };
        futures_lite::future::block_on(async {
            let mut buf = ReadBuf::default();
            let mut stop = std::pin::pin!(std::future::pending::<()>());
            while read_more(&mut rd, &mut buf, stop.as_mut()).await.unwrap() {}
            assert_eq!(buf.data(), &bytes[..]);
            buf.consume(bytes.len() - 3);
            assert_eq!(buf.data(), &bytes[..3]);
        });
    }
}
