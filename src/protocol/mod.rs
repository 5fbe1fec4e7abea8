//! The native binary protocol: frames, requests, responses and their codec
//! (docs/PROTOCOL.md is the reference).
//!
//! This module owns the bytes on the wire and nothing else: it is pure (no sockets, no
//! clocks, no allocation beyond the decoded values) and depends only on `std`, `bytemuck`
//! and `thiserror`. The server's connection loop and the client own the buffering, the
//! in-flight table and what to do with each request.
//!
//! ```text
//! loop {
//!     match decode_request(&buf, &limits) {
//!         Ok(Some((frame, n))) => { handle(frame); buf.drain(..n); }
//!         Ok(None) => read_more(&mut buf),                  // only bytes are missing
//!         Err(e) => {
//!             let (id, reply) = e.reply();
//!             encode_response(&reply, id, &mut out);
//!             match e.consumed() {
//!                 Some(n) => { buf.drain(..n); }              // recoverable: skip the frame
//!                 None => { flush(out); close(); break }      // fatal: id 0, then close
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! Invariants: decoding never panics on any input (the lints below keep `unwrap` and
//! slice indexing out of this module); every length is checked against [`Limits`] before
//! it is sliced or allocated; `Ok(None)` is returned for exactly the strict prefixes of a
//! frame whose header (as far as it has arrived) is acceptable.

#![deny(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod error;
pub mod frame;
mod key;
pub mod limits;
pub mod opcode;
pub mod request;
pub mod response;
mod wire;

#[cfg(test)]
mod tests;

pub use error::{BodyError, DecodeError, ErrorCode, Field, FrameError};
pub use frame::{
    peek_frame, Frame, FrameHeader, FLAG_FORWARDED, FLAG_OVERWRITE, HEADER_LEN, MAGIC, VERSION_MAJOR, VERSION_MINOR,
};
pub use key::{Key, KeyRef};
pub use limits::Limits;
pub use opcode::Opcode;
pub use request::{
    Consistency, DeleteRequest, GetRef, GetRequest, HandshakeRequest, Incoming, MGetRequest, MPutRequest, Member,
    PutItem, PutRef, PutRequest, ReplicaFrame, Request, ScanRequest, Version,
};
pub use response::{
    DeleteReply, ErrorReply, GetReply, HandshakeReply, PutReply, Response, ScanItem, ScanReply, Status,
};

/// Appends one request frame (flags 0) to `out`.
pub fn encode_request(req: &Request, request_id: u64, out: &mut Vec<u8>) {
    encode_request_with_flags(req, request_id, 0, out);
}

/// Appends one request frame with the given header flags to `out`.
pub fn encode_request_with_flags(req: &Request, request_id: u64, flags: u16, out: &mut Vec<u8>) {
    frame::encode_frame(req.opcode() as u8, flags, request_id, out, |out| req.encode_body(out));
}

/// Appends one response frame to `out`. `request_id` is the request's, or 0 for a fatal
/// connection-level ERROR.
pub fn encode_response(resp: &Response, request_id: u64, out: &mut Vec<u8>) {
    frame::encode_frame(resp.opcode() as u8, 0, request_id, out, |out| resp.encode_body(out));
}

/// Appends the response frame of a GET (what `encode_response` appends for
/// `Response::Get` of these parts) with nothing built first: a server
/// answers from where the value is stored.
pub fn encode_get_response<'a>(
    request_id: u64,
    context: &[u8],
    values: impl ExactSizeIterator<Item = &'a [u8]>,
    out: &mut Vec<u8>,
) {
    frame::encode_frame(Opcode::GetReply as u8, 0, request_id, out, |out| {
        response::encode_get_reply_body(out, context, values)
    });
}

/// Decodes the first request frame in `buf`.
///
/// `Ok(Some((frame, consumed)))`: a request and the bytes it took; `Ok(None)`: more bytes
/// are needed; `Err`: see [`DecodeError`] for what is fatal and what is recoverable.
pub fn decode_request(buf: &[u8], limits: &Limits) -> Result<Option<(Frame<Request>, usize)>, DecodeError> {
    frame::decode_frame(buf, limits, Request::decode_body)
}

/// [`decode_request`] for a server's connection loop: GETs and PUTs come out
/// borrowed from `buf` (see [`Incoming`]); the same frames, errors and
/// consumed lengths as `decode_request`.
pub fn decode_incoming<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Frame<Incoming<'a>>, usize)>, DecodeError> {
    frame::decode_frame(buf, limits, Incoming::decode_body)
}

/// Decodes the first response frame in `buf`; the same contract as [`decode_request`].
/// For a client, a recoverable error fails only the request with that id (skip
/// `consumed` bytes and go on); a fatal one fails every request in flight and closes.
pub fn decode_response(buf: &[u8], limits: &Limits) -> Result<Option<(Frame<Response>, usize)>, DecodeError> {
    frame::decode_frame(buf, limits, Response::decode_body)
}
