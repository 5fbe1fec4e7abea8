//! Table::get on a 10k-entry table on SimDisk, block cache warm.
use std::path::PathBuf;
use std::rc::Rc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use futures_lite::future::block_on;
use ringkv::storage::disk::{Disk, DiskFile, SimDisk};
use ringkv::storage::sstable::{BlockCache, Table, TableBuilder, TableOptions};
use ringkv::storage::types::ValueKind;

const N: usize = 10_000;

fn key(i: usize) -> Vec<u8> {
    format!("user{:012}", i * 2).into_bytes()
}

fn setup() -> Table<<SimDisk as Disk>::File> {
    let mut b = TableBuilder::new(&TableOptions::default());
    for i in 0..N {
        b.add(&key(i), i as u64 + 1, ValueKind::Value, &[b'v'; 100]);
    }
    let (image, _) = b.finish();
    let disk = SimDisk::new();
    let path = PathBuf::from("/bench/1.sst");
    block_on(async {
        let f = disk.create(&path).await.unwrap();
        f.write_at(0, &image).await.unwrap();
        let t = Table::open(1, path, f, Rc::new(BlockCache::new(64 << 20))).await.unwrap();
        for i in 0..N {
            t.get(&key(i)).await.unwrap().unwrap(); // warm the cache
        }
        t
    })
}

fn bench(c: &mut Criterion) {
    let t = setup();
    let present: Vec<Vec<u8>> = (0..N).map(key).collect();
    let absent: Vec<Vec<u8>> = (0..N).map(|i| format!("user{:012}", i * 2 + 1).into_bytes()).collect();
    let mut i = 0;
    c.bench_function("sstable/get_hit (10k entries, warm cache)", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(block_on(t.get(&present[i])).unwrap())
        })
    });
    c.bench_function("sstable/get_miss (10k entries)", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(block_on(t.get(&absent[i])).unwrap())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
