//! Builds one block: prefix-compressed entries, then restart offsets.
//!
//! Entry: `shared` varint, `unshared` varint, `value_len` varint, key suffix,
//! 8-byte LE seq/kind trailer, value. Every `restart_interval`-th entry is a
//! restart point (shared = 0) so a reader can binary search without decoding
//! the whole block.

use crate::storage::codec::{put_varint, varint_len};

/// A block being built at the end of a buffer that the caller holds: a
/// table's image (`TableBuilder`), so that each entry is written once, where
/// the file will have it, or a [`BlockBuilder`]'s own buffer. The block's
/// bytes are `out[start..]` from its first entry on; [`BlockWriter::finish`]
/// appends the restart array.
pub struct BlockWriter {
    /// Where the block's first entry starts in the buffer.
    start: usize,
    restarts: Vec<u32>,
    /// Entries since the last restart point.
    counter: usize,
    restart_interval: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockWriter {
    pub fn new(restart_interval: usize) -> Self {
        BlockWriter {
            start: 0,
            restarts: Vec::new(),
            counter: 0,
            // 0 would mean "never restart", which breaks the first-entry invariant.
            restart_interval: restart_interval.max(1),
            last_key: Vec::new(),
            entries: 0,
        }
    }

    /// Append an entry to `out`, the same buffer every time until
    /// [`finish`](Self::finish), with nothing else written to it in between.
    /// Keys must be added in non-decreasing user-key order (the table builder
    /// checks the full internal order).
    pub fn add(&mut self, out: &mut Vec<u8>, key: &[u8], seq_kind: u64, value: &[u8]) {
        debug_assert!(self.entries == 0 || self.last_key.as_slice() <= key);
        if self.entries == 0 {
            self.start = out.len();
        }
        let shared = if self.counter.is_multiple_of(self.restart_interval) {
            // The table builder keeps blocks far below MAX_BLOCK_LEN (< 4 GiB).
            self.restarts.push(u32::try_from(out.len() - self.start).unwrap_or(u32::MAX));
            self.counter = 0;
            0
        } else {
            common_prefix(&self.last_key, key)
        };
        let suffix = key.get(shared..).unwrap_or_default();
        put_varint(out, shared as u64);
        put_varint(out, suffix.len() as u64);
        put_varint(out, value.len() as u64);
        out.extend_from_slice(suffix);
        out.extend_from_slice(&seq_kind.to_le_bytes());
        out.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(suffix);
        self.counter += 1;
        self.entries += 1;
    }

    /// Offset of the restart entry the last entry added follows (or is).
    pub fn last_restart(&self) -> u32 {
        self.restarts.last().copied().unwrap_or(0)
    }

    /// Where the block starts in the buffer of `out_len` bytes it is built in.
    pub fn start(&self, out_len: usize) -> usize {
        if self.entries == 0 {
            out_len
        } else {
            self.start
        }
    }

    /// Bytes [`finish`](Self::finish) would append: the restart array.
    pub fn trailer_size(&self) -> usize {
        4 * self.restarts.len() + 4
    }

    /// Size of the block contents if finished now, built in a buffer of
    /// `out_len` bytes.
    pub fn estimated_size(&self, out_len: usize) -> usize {
        out_len - self.start(out_len) + self.trailer_size()
    }

    /// Size after adding this entry (upper bound: assumes no shared prefix).
    pub fn size_after(&self, out_len: usize, key: &[u8], value: &[u8]) -> usize {
        let entry = varint_len(key.len() as u64) + 1 + varint_len(value.len() as u64) + key.len() + 8 + value.len();
        self.estimated_size(out_len) + entry + 4
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Append the restart array to `out`, so that the whole block is
    /// `out[start..]`, and reset for the next block. Returns `start`.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> usize {
        let start = self.start(out.len());
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        let n = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&n.to_le_bytes());
        self.restarts.clear();
        self.counter = 0;
        self.last_key.clear();
        self.entries = 0;
        start
    }
}

/// A [`BlockWriter`] with a buffer of its own: for blocks built apart from
/// where they end up (a table's index) and for tests.
pub struct BlockBuilder {
    buf: Vec<u8>,
    w: BlockWriter,
}

impl BlockBuilder {
    pub fn new(restart_interval: usize) -> Self {
        BlockBuilder { buf: Vec::new(), w: BlockWriter::new(restart_interval) }
    }

    /// See [`BlockWriter::add`].
    pub fn add(&mut self, key: &[u8], seq_kind: u64, value: &[u8]) {
        self.w.add(&mut self.buf, key, seq_kind, value);
    }

    /// Offset of the restart entry the last entry added follows (or is).
    pub fn last_restart(&self) -> u32 {
        self.w.last_restart()
    }

    /// Size of the block contents if finished now.
    pub fn estimated_size(&self) -> usize {
        self.w.estimated_size(self.buf.len())
    }

    /// Size after adding this entry (upper bound: assumes no shared prefix).
    pub fn size_after(&self, key: &[u8], value: &[u8]) -> usize {
        self.w.size_after(self.buf.len(), key, value)
    }

    pub fn is_empty(&self) -> bool {
        self.w.is_empty()
    }

    pub fn last_key(&self) -> &[u8] {
        self.w.last_key()
    }

    /// Append the finished block contents to `out` and reset for the next block.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        self.w.finish(&mut self.buf);
        out.extend_from_slice(&self.buf);
        self.buf.clear();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A block built at the end of a buffer that already holds bytes (as in
    /// a table's image) is the block a `BlockBuilder` makes on its own, and
    /// the sizes it reports are measured from its own start.
    #[test]
    fn a_block_written_in_place_is_the_block_built_apart() {
        for interval in [1, 3, 16] {
            let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..40u32)
                .map(|i| (format!("key{:04}", i * 7).into_bytes(), vec![i as u8; (i as usize * 13) % 50]))
                .collect();
            let mut apart = BlockBuilder::new(interval);
            let mut w = BlockWriter::new(interval);
            let mut image = vec![0xEE; 1234];
            assert_eq!(w.estimated_size(image.len()), apart.estimated_size());
            for (i, (k, v)) in entries.iter().enumerate() {
                assert_eq!(w.size_after(image.len(), k, v), apart.size_after(k, v));
                apart.add(k, i as u64, v);
                w.add(&mut image, k, i as u64, v);
                assert_eq!(w.estimated_size(image.len()), apart.estimated_size());
                assert_eq!(w.last_restart(), apart.last_restart());
                assert_eq!(w.start(image.len()), 1234);
            }
            let block = apart.finish();
            assert_eq!(w.finish(&mut image), 1234);
            let (before, written) = image.split_at(1234);
            assert_eq!(written, block.as_slice());
            assert!(before.iter().all(|&b| b == 0xEE));
            // The next block starts where this one ended.
            assert!(w.is_empty() && w.start(image.len()) == image.len());
            w.add(&mut image, b"a", 0, b"v");
            assert_eq!(w.start(image.len()), 1234 + block.len());
        }
    }
}
