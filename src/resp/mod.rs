//! RESP2/RESP3 (the Redis serialization protocol): the request parser, the reply type
//! and its encoder, the typed command layer and a Redis-style glob matcher
//! (docs/PROTOCOL.md, "RESP", is the reference).
//!
//! Like `crate::protocol`, this module is pure: no sockets, no clocks, no engine access;
//! it depends only on `std` and `thiserror`. The server owns the buffers, the per-connection
//! state (protocol version, client name) and executes each [`Command`] against the engine.
//!
//! ```text
//! loop {
//!     match parse_command(&buf, &limits) {
//!         Ok(Some((frame, n))) => {
//!             // empty inline line / `*0`: no reply
//!             if !frame.is_empty() {
//!                 let reply = match Command::parse(&frame.args(&buf), &limits) {  // args read in place
//!                     Ok(cmd) => cmd.stateless_reply(&limits).unwrap_or_else(|| execute(cmd)),
//!                     Err(e) => e.reply(),                    // recoverable: -ERR ..., go on
//!                 };
//!                 encode(&reply, conn.proto, &mut out);
//!             }
//!             buf.drain(..n);
//!         }
//!         Ok(None) => read_more(&mut buf),                  // only bytes are missing
//!         Err(e) => { encode(&e.reply(), conn.proto, &mut out); flush(out); close(); break }
//!     }
//! }
//! ```
//!
//! Invariants: parsing never panics on any input (the lints below keep `unwrap` and slice
//! indexing out of this module); every announced length is checked against [`RespLimits`]
//! before anything is allocated; `Ok(None)` is returned for every strict prefix of a
//! well-formed command.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

pub mod command;
pub mod encode;
pub mod error;
pub mod glob;
pub mod limits;
pub mod parse;
pub mod value;

#[cfg(test)]
mod tests;

pub use command::{
    config_get, config_set, hello_reply, hot_key, incr_value, is_plain_set, plain_get, plain_set, ClientCommand,
    Command, CommandError, CommandSub, ConfigCommand, ScanArgs, SetCondition, TypeFilter, ERR_EXPIRY_UNSUPPORTED,
    ERR_STRING_TOO_LONG, REDIS_COMPAT_VERSION, SUPPORTED_COMMANDS,
};
pub use encode::{encode, encode_bulk, encode_command};
pub use error::RespError;
pub use glob::{glob_match, Glob};
pub use limits::RespLimits;
pub use parse::{parse_command, ArgSlices, Frame};
pub use value::{ProtoVersion, Reply};
