//! Builds one block: prefix-compressed entries, then restart offsets.
//!
//! Entry: `shared` varint, `unshared` varint, `value_len` varint, key suffix,
//! 8-byte LE seq/kind trailer, value. Every `restart_interval`-th entry is a
//! restart point (shared = 0) so a reader can binary search without decoding
//! the whole block.

use crate::storage::codec::{put_varint, varint_len};

pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    /// Entries since the last restart point.
    counter: usize,
    restart_interval: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockBuilder {
    pub fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: Vec::new(),
            counter: 0,
            // 0 would mean "never restart", which breaks the first-entry invariant.
            restart_interval: restart_interval.max(1),
            last_key: Vec::new(),
            entries: 0,
        }
    }

    /// Keys must be added in non-decreasing user-key order (the table builder
    /// checks the full internal order).
    pub fn add(&mut self, key: &[u8], seq_kind: u64, value: &[u8]) {
        debug_assert!(self.entries == 0 || self.last_key.as_slice() <= key);
        let shared = if self.counter.is_multiple_of(self.restart_interval) {
            self.restarts.push(self.offset_u32());
            self.counter = 0;
            0
        } else {
            common_prefix(&self.last_key, key)
        };
        let suffix = key.get(shared..).unwrap_or_default();
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, suffix.len() as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(suffix);
        self.buf.extend_from_slice(&seq_kind.to_le_bytes());
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(suffix);
        self.counter += 1;
        self.entries += 1;
    }

    /// Offset of the restart entry the last entry added follows (or is).
    pub fn last_restart(&self) -> u32 {
        self.restarts.last().copied().unwrap_or(0)
    }

    fn offset_u32(&self) -> u32 {
        // The table builder keeps blocks far below MAX_BLOCK_LEN (< 4 GiB).
        u32::try_from(self.buf.len()).unwrap_or(u32::MAX)
    }

    /// Size of the block contents if finished now.
    pub fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// Size after adding this entry (upper bound: assumes no shared prefix).
    pub fn size_after(&self, key: &[u8], value: &[u8]) -> usize {
        let entry = varint_len(key.len() as u64) + 1 + varint_len(value.len() as u64) + key.len() + 8 + value.len();
        self.estimated_size() + entry + 4
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Append the finished block contents to `out` and reset for the next block.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        let n = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&n.to_le_bytes());
        self.buf.clear();
        self.restarts.clear();
        self.counter = 0;
        self.last_key.clear();
        self.entries = 0;
    }

    /// Convenience for tests and benches: the finished block as its own Vec.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.estimated_size());
        self.finish_into(&mut v);
        v
    }
}

pub(crate) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
