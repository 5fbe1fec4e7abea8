//! The native Rust client.
//!
//! - [`Client`]: blocking (std sockets), shard-aware, with `pipeline` for
//!   sending many requests before reading the answers. Used by the CLI.
//! - [`AsyncClient`]: glommio, shard-aware and pipelined: any number of
//!   requests in flight per connection, matched to their responses by id.
//!
//! Shard awareness: the handshake returns the shard count and each shard's
//! direct address; the client hashes the partition key exactly as the server
//! does and sends each request to the owning shard's connection. Wrong routing
//! is never an error (the server forwards), only a wasted hop.

mod async_client;
mod blocking;
pub mod oneshot;

pub use async_client::{AsyncClient, AsyncConn};
pub use blocking::Client;

use crate::protocol::{ErrorReply, HandshakeReply};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("server error {}: {}", .0.code, .0.message)]
    Server(ErrorReply),
    #[error("connection closed")]
    Closed,
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// What a connection learned from its handshake.
#[derive(Debug, Clone)]
pub struct Topology {
    pub node_id: String,
    pub shard_addrs: Vec<String>,
}

impl From<HandshakeReply> for Topology {
    fn from(h: HandshakeReply) -> Self {
        Topology { node_id: h.node_id, shard_addrs: h.shard_addrs }
    }
}

impl Topology {
    pub fn shards(&self) -> usize {
        self.shard_addrs.len().max(1)
    }
    pub fn shard_of(&self, partition: &[u8]) -> usize {
        crate::ring::shard_of(crate::ring::token(partition), self.shards())
    }
}

pub(crate) const CLIENT_NAME: &str = concat!("ringkv-client/", env!("CARGO_PKG_VERSION"));
