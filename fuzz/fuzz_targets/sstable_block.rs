#![no_main]
//! SSTable data/index blocks, Bloom filters and footers: never panic.
use std::rc::Rc;

use libfuzzer_sys::fuzz_target;
use ringkv::storage::sstable::{Block, BlockIter, Bloom, Footer};

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::decode(data.to_vec()) {
        let mut it = BlockIter::new(Rc::new(block));
        let mut steps = 0;
        if it.seek_to_first().is_ok() {
            while it.valid() && steps < 10_000 && it.advance().is_ok() {
                steps += 1;
            }
        }
    }
    if let Ok(b) = Bloom::decode(data.to_vec()) {
        let _ = b.may_contain(b"key");
    }
    let _ = Footer::decode(data, data.len() as u64);
});
