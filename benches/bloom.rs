//! Bloom filter probes on a 100k-key filter at 10 bits/key.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ringkv::storage::sstable::{build_filter, hash_key, Bloom};

const N: usize = 100_000;

fn keys(prefix: &str) -> Vec<Vec<u8>> {
    (0..N).map(|i| format!("{prefix}{i:08}").into_bytes()).collect()
}

fn bench(c: &mut Criterion) {
    let present = keys("user");
    let absent = keys("nope");
    let hashes: Vec<u64> = present.iter().map(|k| hash_key(k)).collect();
    let bloom = Bloom::decode(build_filter(&hashes, 10)).unwrap();
    let mut i = 0;
    c.bench_function("bloom/probe_hit", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(bloom.may_contain(&present[i]))
        })
    });
    c.bench_function("bloom/probe_miss", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(bloom.may_contain(&absent[i]))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
