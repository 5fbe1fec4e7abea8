//! Memtable insert and point lookup (16-byte keys, 100-byte values).
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ringkv::storage::memtable::Memtable;
use ringkv::storage::ValueKind;

const N: u64 = 100_000;

fn key(i: u64) -> Vec<u8> {
    // Scatter the keys so inserts are random, as in fillrandom.
    format!("{:016}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 10_000_000_000_000_000).into_bytes()
}

fn bench(c: &mut Criterion) {
    let value = vec![7u8; 100];
    let mut seq = 0u64;
    let m = Memtable::new();
    c.bench_function("memtable/insert", |b| {
        b.iter(|| {
            seq += 1;
            m.insert(&key(seq % N), seq, ValueKind::Value, &value);
        })
    });
    let full = Memtable::new();
    for i in 0..N {
        full.insert(&key(i), i + 1, ValueKind::Value, &value);
    }
    let mut i = 0;
    c.bench_function("memtable/get_hit", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(full.get(&key(i), u64::MAX))
        })
    });
    c.bench_function("memtable/get_miss", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(full.get(&key(i + N), u64::MAX))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
