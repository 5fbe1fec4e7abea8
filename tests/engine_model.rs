//! Property test: random operation sequences against a BTreeMap oracle.
//!
//! Operations: put, delete, get (also without waiting, `get_latest_now`),
//! scan (and count over the same range), flush, WAL checkpoint, compact, clean reopen, and
//! crash-reopen (SimDisk drops everything not synced: with sync `always`,
//! every acknowledged write must survive). Run for both compaction strategies,
//! with tiny memtables and tables so flushes and compactions happen often.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::rc::Rc;

use proptest::prelude::*;
use ringkv::storage::compaction::{CompactionStrategy, LeveledOptions, TieredOptions};
use ringkv::storage::{Engine, Options, SimDisk};

#[derive(Debug, Clone)]
enum Op {
    Put(u16, u16),
    Delete(u16),
    Get(u16),
    Scan(u16, u16, u8),
    Flush,
    Checkpoint,
    Compact,
    Reopen,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (0u16..400, any::<u16>()).prop_map(|(k, v)| Op::Put(k, v)),
        8 => (0u16..400).prop_map(Op::Delete),
        15 => (0u16..400).prop_map(Op::Get),
        4 => (0u16..400, 0u16..400, 1u8..50).prop_map(|(a, b, n)| Op::Scan(a, b, n)),
        3 => Just(Op::Flush),
        2 => Just(Op::Checkpoint),
        2 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

fn key(k: u16) -> Vec<u8> {
    format!("key{k:05}").into_bytes()
}

fn value(k: u16, v: u16) -> Vec<u8> {
    // Variable sizes, some large enough to span blocks.
    let n = (v as usize % 7) * (v as usize % 300);
    let mut out = format!("v{k}-{v}-").into_bytes();
    out.resize(out.len() + n, b'x');
    out
}

fn options(strategy: &CompactionStrategy, fill_cache: bool) -> Options {
    let mut o = Options::new("/db");
    // Off: flushed tables lend their images, read from them (and scanned,
    // and compacted) until compactions or newer flushes take them back.
    o.flush_fills_block_cache = fill_cache;
    o.memtable_bytes_max = 8 << 10;
    o.wal_segment_bytes = 64 << 10;
    o.block_cache_bytes = 64 << 10;
    o.background = false;
    o.compaction = strategy.clone();
    o
}

fn strategies() -> Vec<CompactionStrategy> {
    let leveled = LeveledOptions {
        l0_trigger_files: 2,
        base_level_bytes: 16 << 10,
        target_file_bytes: 8 << 10,
        level_size_ratio: 4,
        ..LeveledOptions::default()
    };
    let tiered = TieredOptions { min_merge_width: 2, ..TieredOptions::default() };
    vec![CompactionStrategy::Leveled(leveled), CompactionStrategy::Tiered(tiered)]
}

async fn check(ops: Vec<Op>, strategy: CompactionStrategy, fill_cache: bool) -> Result<(), TestCaseError> {
    let disk = SimDisk::new();
    let opts = options(&strategy, fill_cache);
    let mut engine: Rc<Engine<SimDisk>> = Engine::open(disk.clone(), opts.clone()).await.unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            Op::Put(k, v) => {
                engine.put(&key(k), &value(k, v)).await.unwrap();
                model.insert(key(k), value(k, v));
            }
            Op::Delete(k) => {
                engine.delete(&key(k)).await.unwrap();
                model.remove(&key(k));
            }
            Op::Get(k) => {
                // The no-wait read agrees whenever it answers, and it answers
                // once a read has brought the key's block into the cache.
                let now = |e: &Engine<SimDisk>| e.get_latest_now(&key(k)).map(|r| r.unwrap().and_then(|(_, v)| v));
                if let Some(got) = now(&engine) {
                    prop_assert_eq!(got.as_ref(), model.get(&key(k)), "get_latest_now {} at op {}", k, i);
                }
                let got = engine.get(&key(k)).await.unwrap();
                prop_assert_eq!(got.as_ref(), model.get(&key(k)), "get {} at op {}", k, i);
                prop_assert_eq!(now(&engine), Some(got), "get_latest_now {} after get at op {}", k, i);
            }
            Op::Scan(a, b, n) => {
                let (lo, hi) = (key(a.min(b)), key(a.max(b)));
                let got = engine.scan(Bound::Included(&lo), Bound::Excluded(&hi), n as usize).await.unwrap();
                let want: Vec<_> = model
                    .range::<Vec<u8>, _>((Bound::Included(&lo), Bound::Excluded(&hi)))
                    .take(n as usize)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                prop_assert_eq!(got, want, "scan at op {}", i);
                // count: the same range, unlimited, through a filter on what it sees.
                let even = |v: &[u8]| v.len().is_multiple_of(2);
                let counted = engine.count(Bound::Included(&lo), Bound::Excluded(&hi), |_, v| even(v)).await.unwrap();
                let want =
                    model.range::<Vec<u8>, _>((Bound::Included(&lo), Bound::Excluded(&hi))).filter(|(_, v)| even(v));
                prop_assert_eq!(counted, want.count() as u64, "count at op {}", i);
            }
            Op::Flush => engine.flush().await.unwrap(),
            Op::Checkpoint => {
                engine.checkpoint_wal().await.unwrap();
            }
            Op::Compact => engine.compact_until_idle().await.unwrap(),
            Op::Reopen => {
                engine.close().await.unwrap();
                drop(engine);
                engine = Engine::open(disk.clone(), opts.clone()).await.unwrap();
            }
            Op::Crash => {
                drop(engine);
                disk.crash();
                engine = Engine::open(disk.clone(), opts.clone()).await.unwrap();
            }
        }
    }
    // Final full comparison, after a last compaction and a crash.
    engine.compact_until_idle().await.unwrap();
    drop(engine);
    disk.crash();
    let engine = Engine::open(disk.clone(), opts).await.unwrap();
    let all = engine.scan(Bound::Unbounded, Bound::Unbounded, usize::MAX).await.unwrap();
    let want: Vec<_> = model.into_iter().collect();
    prop_assert_eq!(all, want);
    engine.verify().await.unwrap();
    // A file removed while open has its blocks freed by whoever closes it
    // last, which on a shard is the shard itself (docs/ARCHITECTURE.md,
    // "Removing replaced tables").
    prop_assert_eq!(disk.removed_while_open(), 0, "files removed while open");
    Ok(())
}

fn run_cases(strategy: CompactionStrategy, cases: u32, fill_cache: bool) {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases, ..ProptestConfig::default() });
    let result = runner.run(&proptest::collection::vec(op(), 1..400), |ops| {
        let s = strategy.clone();
        ringkv::rt::block_on(async move { check(ops, s, fill_cache).await })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn model_leveled() {
    run_cases(strategies()[0].clone(), 256, true);
}

#[test]
fn model_leveled_flushes_lending_their_images() {
    run_cases(strategies()[0].clone(), 128, false);
}

#[test]
fn model_tiered() {
    run_cases(strategies()[1].clone(), 256, true);
}
