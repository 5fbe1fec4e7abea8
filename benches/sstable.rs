//! Table::get on a 10k-entry table on SimDisk, block cache warm, with the
//! hash index and without it (the filter and index block).
use std::path::PathBuf;
use std::rc::Rc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use futures_lite::future::block_on;
use ringkv::storage::disk::{Disk, DiskFile, SimDisk};
use ringkv::storage::sstable::{hash_key, BlockCache, Table, TableBuilder, TableOptions};
use ringkv::storage::types::ValueKind;

const N: usize = 10_000;

fn key(i: usize) -> Vec<u8> {
    format!("user{:012}", i * 2).into_bytes()
}

fn setup(hash_index: bool) -> Table<<SimDisk as Disk>::File> {
    let mut b = TableBuilder::new(&TableOptions { hash_index, ..TableOptions::default() });
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
            let k = key(i);
            t.get(&k, hash_key(&k)).await.unwrap().unwrap(); // warm the cache
        }
        t
    })
}

/// Building a table of 100k entries of 100 B (a flush of ~14 MB): what the
/// hash index or the Bloom filter adds to the write path; and of 20k entries
/// of 1 KiB (~21 MB).
fn bench_build(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> =
        (0..100_000).map(|i| key(i * 7919 % 100_000)).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    for (hash_index, how) in [(true, "hash index"), (false, "Bloom filter")] {
        let opts = TableOptions { hash_index, ..TableOptions::default() };
        c.bench_function(&format!("sstable/build (100k entries of 100 B, {how})"), |b| {
            b.iter(|| {
                let mut t = TableBuilder::new(&opts);
                for (i, k) in keys.iter().enumerate() {
                    t.add(k, i as u64 + 1, ValueKind::Value, &[b'v'; 100]);
                }
                black_box(t.finish())
            })
        });
    }
    // Values of 1 KiB: what copying each value costs a flush. The image
    // buffer is handed back each time, as the engine does (a fresh one would
    // measure the allocator's page faults).
    let big: Vec<Vec<u8>> = keys.iter().take(20_000).cloned().collect();
    let value = vec![b'v'; 1024];
    c.bench_function("sstable/build (20k entries of 1 KiB, hash index)", |b| {
        let opts = TableOptions::default();
        let mut spare = Vec::new();
        b.iter(|| {
            let mut t = TableBuilder::with_buffer(&opts, std::mem::take(&mut spare));
            for (i, k) in big.iter().enumerate() {
                t.add(k, i as u64 + 1, ValueKind::Value, &value);
            }
            let (image, meta) = t.finish();
            black_box(&meta);
            spare = image;
        })
    });
}

fn bench(c: &mut Criterion) {
    let present: Vec<Vec<u8>> = (0..N).map(key).collect();
    let absent: Vec<Vec<u8>> = (0..N).map(|i| format!("user{:012}", i * 2 + 1).into_bytes()).collect();
    for (hash_index, how) in [(true, "hash index"), (false, "index block")] {
        let t = setup(hash_index);
        let mut i = 0;
        c.bench_function(&format!("sstable/get_hit (10k entries, warm cache, {how})"), |b| {
            b.iter(|| {
                i = (i + 7919) % N;
                let k = &present[i];
                black_box(block_on(t.get(k, hash_key(k))).unwrap())
            })
        });
        c.bench_function(&format!("sstable/get_miss (10k entries, {how})"), |b| {
            b.iter(|| {
                i = (i + 7919) % N;
                let k = &absent[i];
                black_box(block_on(t.get(k, hash_key(k))).unwrap())
            })
        });
    }
}

criterion_group!(benches, bench, bench_build);
criterion_main!(benches);
