//! Point seek inside one ~4 KiB data block (restart interval 16).
use std::rc::Rc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ringkv::storage::sstable::{Block, BlockBuilder, BlockIter};
use ringkv::storage::types::{pack_seq_kind, ValueKind};

fn bench(c: &mut Criterion) {
    let mut b = BlockBuilder::new(16);
    let mut keys = Vec::new();
    let mut i = 0u64;
    while b.estimated_size() < 4000 {
        let k = format!("user{:012}", i * 3).into_bytes();
        b.add(&k, pack_seq_kind(i + 1, ValueKind::Value), &[b'v'; 16]);
        keys.push(k);
        i += 1;
    }
    let block = Rc::new(Block::decode(b.finish()).unwrap());
    let n = keys.len();
    let mut j = 0;
    c.bench_function(&format!("block/find_first_ge ({n} entries)"), |bch| {
        bch.iter(|| {
            j = (j + 31) % n;
            black_box(block.find_first_ge(&keys[j]).unwrap().unwrap().seq)
        })
    });
    let mut it = BlockIter::new(block.clone());
    c.bench_function(&format!("block/iter_seek ({n} entries)"), |bch| {
        bch.iter(|| {
            j = (j + 31) % n;
            it.seek(&keys[j]).unwrap();
            black_box(it.seq())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
