//! Sorted string tables: immutable, sorted files of internal entries.
//!
//! A table is built in memory by [`TableBuilder`] (one aligned write of the
//! whole image), opened as a [`Table`] whose index, Bloom filter and
//! properties stay in memory, and read either by point lookups (through the
//! shared [`BlockCache`]) or by a streaming [`TableIter`]. The byte layout is
//! documented in docs/FORMAT.md, section "SSTable".
//!
//! All decoding here is of untrusted bytes: no unwraps, no indexing, checked
//! arithmetic on lengths read from disk. Pure decoders return `DecodeError`;
//! [`Table`] turns them into `Error::Corruption` with file and offset.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod block;
mod block_builder;
mod bloom;
mod builder;
mod cache;
mod format;
mod hash_index;
mod properties;
mod table;
#[cfg(test)]
mod tests;

pub use block::{Block, BlockIter, Found};
pub use block_builder::BlockBuilder;
pub use bloom::{build_filter, hash_key, Bloom};
pub use builder::{TableBuilder, TableOptions};
pub use cache::BlockCache;
pub use format::{BlockHandle, Footer, BLOCK_TRAILER_LEN, FOOTER_LEN, FORMAT_VERSION, TABLE_MAGIC};
pub use properties::TableMeta;
pub use table::{Table, TableIter, READAHEAD_BYTES};
