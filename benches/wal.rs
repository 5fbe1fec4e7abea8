//! WAL append: encoding a batch and handing it to the log, and a group of 64
//! appends written as one record. On SimDisk and without fdatasync (SimDisk's
//! sync copies the whole file), so this measures the CPU path, not the disk;
//! the disk is measured by `ringkv-loadgen engine --sync always`.
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_lite::future::block_on;
use ringkv::storage::wal::{SyncMode, Wal, WalOptions};
use ringkv::storage::{SimDisk, WriteBatch};

fn bench(c: &mut Criterion) {
    let disk = SimDisk::new();
    let opts = WalOptions {
        dir: PathBuf::from("/bench"),
        sync: SyncMode::Always,
        segment_bytes: 1 << 30,
        max_pending_bytes: 64 << 20,
        zero_ahead_bytes: 0,
        // One segment of 1 GiB: nothing rotates or is released.
        recycle_segments: 0,
        // Commits start at once (holding a group needs a glommio executor).
        group_grow: std::time::Duration::ZERO,
    };
    let (wal, _) = block_on(Wal::open(disk, opts, 0, |_| {})).unwrap();
    let mut seq = 0u64;
    let mut b = WriteBatch::new();
    b.put(b"0000000000001234", &[7u8; 100]);
    let mut enc = Vec::new();
    c.bench_function("wal/append_encode", |bch| {
        bch.iter(|| {
            seq += 1;
            enc.clear();
            b.encode(seq, &mut enc);
            wal.append(&enc, seq).unwrap();
            if wal.pending_bytes() > 1 << 20 {
                block_on(wal.wait_written(seq, false)).unwrap();
            }
        })
    });
    c.bench_function("wal/group_write_64", |bch| {
        bch.iter(|| {
            for _ in 0..64 {
                seq += 1;
                enc.clear();
                b.encode(seq, &mut enc);
                wal.append(&enc, seq).unwrap();
            }
            block_on(wal.wait_written(seq, false)).unwrap();
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
