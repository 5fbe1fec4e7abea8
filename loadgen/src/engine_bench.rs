//! `ringkv-loadgen engine`: a db_bench-style benchmark of the storage engine,
//! embedded in one glommio `LocalExecutor` (no server, no network).
//!
//! Semantics follow RocksDB's db_bench so the numbers can be set side by side:
//! - `fillseq`: `num` puts of keys 0..num in order, into a fresh directory.
//! - `fillrandom`: `num` puts of keys drawn uniformly from 0..num (so about
//!   63% distinct), into a fresh directory.
//! - `overwrite`: `num` puts of keys drawn uniformly from 0..num, on what is there.
//! - `readrandom`: `reads` gets of keys drawn uniformly from 0..num; counts found.
//! - `readseq`: one scan from the first key, up to `reads` rows, in pages of
//!   `--scan-batch` rows (the engine's scan returns a materialized page).
//! - `readmissing`: `reads` gets of keys that are never present (a random key
//!   with one byte appended, as db_bench does).
//!
//! Keys are the key index as zero-padded decimal, exactly `--key-size` bytes
//! (db_bench uses the big-endian binary index padded with '0'; both sort in
//! index order). Values are `--value-size` bytes taken at a rolling offset from
//! a 1 MiB pool of random bytes (as db_bench's RandomGenerator; the engine does
//! not compress, so compressibility does not matter).
//!
//! Output: one line per benchmark in db_bench 7.x's form, then per-benchmark
//! latency percentiles (HdrHistogram) and the engine's write and space
//! amplification.

use std::cell::{Cell, RefCell};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use ringkv::storage::{CompactionStrategy, DmaDisk, Engine, Options, SyncMode};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Benchmark {
    Fillseq,
    Fillrandom,
    Overwrite,
    Readrandom,
    Readseq,
    Readmissing,
}

impl Benchmark {
    fn name(self) -> &'static str {
        match self {
            Benchmark::Fillseq => "fillseq",
            Benchmark::Fillrandom => "fillrandom",
            Benchmark::Overwrite => "overwrite",
            Benchmark::Readrandom => "readrandom",
            Benchmark::Readseq => "readseq",
            Benchmark::Readmissing => "readmissing",
        }
    }
    fn is_write(self) -> bool {
        matches!(self, Benchmark::Fillseq | Benchmark::Fillrandom | Benchmark::Overwrite)
    }
    /// db_bench starts these from an empty database.
    fn wants_fresh_db(self) -> bool {
        matches!(self, Benchmark::Fillseq | Benchmark::Fillrandom)
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SyncArg {
    /// fdatasync the WAL before acknowledging each write (group commit).
    Always,
    /// Never sync on the write path (like db_bench's default --sync=0).
    None,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompactionArg {
    Leveled,
    Tiered,
}

#[derive(Args, Debug)]
pub struct EngineArgs {
    /// Comma-separated list, run in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "fillrandom,readrandom")]
    pub benchmarks: Vec<Benchmark>,
    /// Number of keys (the key space is 0..num) and of write operations.
    #[arg(long, default_value_t = 1_000_000)]
    pub num: u64,
    /// Number of read operations (readrandom, readmissing; row cap for readseq). Default: num.
    #[arg(long)]
    pub reads: Option<u64>,
    #[arg(long, default_value_t = 16)]
    pub key_size: usize,
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Engine directory. Wiped before fillseq/fillrandom unless --use-existing.
    #[arg(long)]
    pub dir: PathBuf,
    #[arg(long, value_enum, default_value = "none")]
    pub sync: SyncArg,
    #[arg(long, value_enum, default_value = "leveled")]
    pub compaction: CompactionArg,
    /// Base seed of the key and value generators (each benchmark and task derives its own).
    #[arg(long, default_value_t = 301)]
    pub seed: u64,
    /// Executor threads. The engine is one shard on one core: only 1 is supported.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Concurrent glommio tasks issuing operations (not readseq, which is one
    /// cursor). Default: 64 with --sync always (so group commit can work), else 1.
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Keep the existing data: fill benchmarks do not wipe the directory first.
    #[arg(long)]
    pub use_existing: bool,
    /// Memtable size before a flush, in bytes (default: the engine's).
    #[arg(long)]
    pub memtable_bytes: Option<usize>,
    /// Block cache size in bytes (default: the engine's).
    #[arg(long)]
    pub block_cache_bytes: Option<usize>,
    /// Bloom filter bits per key in new tables (default: the engine's; 0 disables).
    #[arg(long)]
    pub bloom_bits: Option<u32>,
    /// Rows per scan call in readseq.
    #[arg(long, default_value_t = 1024)]
    pub scan_batch: usize,
    /// After the last benchmark, flush and compact until idle, then report the
    /// space amplification of the settled tree (logical bytes counted by a full scan).
    #[arg(long)]
    pub settle: bool,
}

pub fn run(args: EngineArgs) -> Res<()> {
    validate(&args)?;
    let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("engine-bench")
        .make()
        .map_err(|e| format!("cannot start the glommio executor: {e}"))?;
    ex.run(run_async(args))
}

fn validate(a: &EngineArgs) -> Res<()> {
    if a.threads != 1 {
        return Err(format!(
            "--threads {}: only 1 is supported (one engine is one shard on one core; use --concurrency for concurrent tasks)",
            a.threads
        )
        .into());
    }
    if a.num == 0 {
        return Err("--num must be > 0".into());
    }
    let digits = (a.num - 1).to_string().len();
    if a.key_size < digits {
        return Err(
            format!("--key-size {} is too small for --num {} (needs {digits} digits)", a.key_size, a.num).into()
        );
    }
    if a.benchmarks.is_empty() {
        return Err("--benchmarks is empty".into());
    }
    if a.concurrency == Some(0) {
        return Err("--concurrency must be >= 1".into());
    }
    if a.scan_batch == 0 {
        return Err("--scan-batch must be >= 1".into());
    }
    let dir = a.dir.canonicalize().unwrap_or_else(|_| a.dir.clone());
    if dir.parent().is_none() {
        return Err(format!("refusing to use {} as the engine directory", a.dir.display()).into());
    }
    Ok(())
}

/// What one benchmark run measured.
struct Report {
    bench: Benchmark,
    ops: u64,
    elapsed: Duration,
    bytes: u64,
    found: Option<u64>,
    concurrency: usize,
    /// Per-operation latency in nanoseconds (for readseq: per scan page).
    hist: Histogram<u64>,
    /// Engine counters before and after.
    stats_before: StatsSnap,
    stats_after: StatsSnap,
}

/// The engine counters this tool reports, copied out of `Engine::stats()`.
#[derive(Clone, Debug, Default)]
struct StatsSnap {
    user_bytes: u64,
    wal_bytes: u64,
    flush_bytes: u64,
    compaction_bytes_read: u64,
    compaction_bytes: u64,
    flushes: u64,
    compactions: u64,
    live_table_bytes: u64,
    tables_per_level: Vec<usize>,
    memtable_bytes: usize,
    immutable_memtables: usize,
    write_delay_micros: u64,
    write_stall_micros: u64,
    cache_hits: u64,
    cache_misses: u64,
}

impl StatsSnap {
    fn of(e: &Engine<DmaDisk>) -> Self {
        let s = e.stats();
        StatsSnap {
            user_bytes: s.user_bytes_written,
            wal_bytes: s.wal_bytes_written,
            flush_bytes: s.flush_bytes_written,
            compaction_bytes_read: s.compaction_bytes_read,
            compaction_bytes: s.compaction_bytes_written,
            flushes: s.flushes,
            compactions: s.compactions,
            live_table_bytes: s.live_table_bytes,
            tables_per_level: s.tables_per_level,
            memtable_bytes: s.memtable_bytes,
            immutable_memtables: s.immutable_memtables,
            write_delay_micros: s.write_delay_micros,
            write_stall_micros: s.write_stall_micros,
            cache_hits: s.cache_hits,
            cache_misses: s.cache_misses,
        }
    }
    fn disk_bytes(&self) -> u64 {
        self.wal_bytes + self.flush_bytes + self.compaction_bytes
    }
    /// Counters accumulated between `before` and `self` (gauges are `self`'s).
    fn delta(&self, before: &StatsSnap) -> StatsSnap {
        StatsSnap {
            user_bytes: self.user_bytes.saturating_sub(before.user_bytes),
            wal_bytes: self.wal_bytes.saturating_sub(before.wal_bytes),
            flush_bytes: self.flush_bytes.saturating_sub(before.flush_bytes),
            compaction_bytes_read: self.compaction_bytes_read.saturating_sub(before.compaction_bytes_read),
            compaction_bytes: self.compaction_bytes.saturating_sub(before.compaction_bytes),
            flushes: self.flushes.saturating_sub(before.flushes),
            compactions: self.compactions.saturating_sub(before.compactions),
            write_delay_micros: self.write_delay_micros.saturating_sub(before.write_delay_micros),
            write_stall_micros: self.write_stall_micros.saturating_sub(before.write_stall_micros),
            cache_hits: self.cache_hits.saturating_sub(before.cache_hits),
            cache_misses: self.cache_misses.saturating_sub(before.cache_misses),
            ..self.clone()
        }
    }
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "n/a".to_string()
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

/// Everything the workers share. Single-threaded: `Rc` and `Cell` are enough.
struct Ctx {
    engine: Rc<Engine<DmaDisk>>,
    num: u64,
    key_size: usize,
    value_size: usize,
    /// Random bytes that values are sliced from.
    value_pool: Vec<u8>,
}

/// The key for index `i`: zero-padded decimal, exactly `key_size` bytes
/// (`key_size` is at least the digit count of `num - 1`, checked up front).
fn format_key(i: u64, key_size: usize, buf: &mut Vec<u8>) {
    use std::io::Write;
    buf.clear();
    write!(buf, "{:0width$}", i, width = key_size).expect("write to Vec");
}

/// The next `len` bytes of `pool` at `*pos`, wrapping to the start.
fn next_value<'a>(pool: &'a [u8], len: usize, pos: &mut usize) -> &'a [u8] {
    if *pos + len > pool.len() {
        *pos = 0;
    }
    let v = &pool[*pos..*pos + len];
    *pos += len;
    v
}

fn new_engine_options(a: &EngineArgs) -> Options {
    let mut opts = Options::new(a.dir.clone());
    opts.sync = match a.sync {
        SyncArg::Always => SyncMode::Always,
        SyncArg::None => SyncMode::None,
    };
    opts.compaction = match a.compaction {
        CompactionArg::Leveled => CompactionStrategy::Leveled(Default::default()),
        CompactionArg::Tiered => CompactionStrategy::Tiered(Default::default()),
    };
    if let Some(m) = a.memtable_bytes {
        opts.memtable_bytes_max = m;
    }
    if let Some(c) = a.block_cache_bytes {
        opts.block_cache_bytes = c;
    }
    if let Some(b) = a.bloom_bits {
        opts.table.bloom_bits_per_key = b;
    }
    opts
}

async fn open_engine(a: &EngineArgs) -> Res<Rc<Engine<DmaDisk>>> {
    let opts = new_engine_options(a);
    let e = Engine::open(DmaDisk, opts).await.map_err(|e| format!("opening the engine in {}: {e}", a.dir.display()))?;
    Ok(e)
}

/// Remove the engine directory, refusing anything that does not look like one.
fn wipe_dir(dir: &Path) -> Res<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", dir.display()).into()),
        Ok(m) if !m.is_dir() => return Err(format!("{} exists and is not a directory", dir.display()).into()),
        Ok(_) => {}
    }
    // Only files and the engine's own subdirectories are expected; refuse a
    // directory tree that is clearly something else (e.g. a mistyped --dir).
    let mut n = 0usize;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        n += 1;
        if e.file_name().to_string_lossy().starts_with(".git") || n > 100_000 {
            return Err(format!("refusing to wipe {}: it does not look like an engine directory", dir.display()).into());
        }
    }
    std::fs::remove_dir_all(dir).map_err(|e| format!("wiping {}: {e}", dir.display()))?;
    Ok(())
}

fn print_header(a: &EngineArgs, concurrency: usize, reads: u64) {
    let opts = new_engine_options(a);
    println!("ringkv:      engine benchmark (embedded, one glommio executor, DmaDisk O_DIRECT)");
    println!("Keys:        {} bytes each (zero-padded decimal)", a.key_size);
    println!("Values:      {} bytes each (random, no compression)", a.value_size);
    println!("Entries:     {}", a.num);
    println!("Reads:       {}", reads);
    println!("RawSize:     {:.1} MB (estimated)", (a.num as f64 * (a.key_size + a.value_size) as f64) / 1048576.0);
    println!("Sync:        {:?}", opts.sync);
    println!("Compaction:  {:?}", opts.compaction);
    println!(
        "Memtable:    {} bytes, max {} sealed; WAL segment {} bytes; write_delay_max {:?}",
        opts.memtable_bytes_max, opts.max_immutable_memtables, opts.wal_segment_bytes, opts.write_delay_max
    );
    println!("BlockCache:  {} bytes", opts.block_cache_bytes);
    println!("Table:       {:?}", opts.table);
    println!("Concurrency: {} task(s) per benchmark (readseq: 1 cursor, {} rows per scan)", concurrency, a.scan_batch);
    println!("Seed:        {}", a.seed);
    println!("DB path:     [{}]", a.dir.display());
}

async fn run_async(a: EngineArgs) -> Res<()> {
    let concurrency = a.concurrency.unwrap_or(match a.sync {
        SyncArg::Always => 64,
        SyncArg::None => 1,
    });
    let reads = a.reads.unwrap_or(a.num);
    print_header(&a, concurrency, reads);

    // Same pool for every benchmark, like db_bench's RandomGenerator.
    let mut pool = vec![0u8; 1 << 20];
    StdRng::seed_from_u64(a.seed ^ 0x9e37_79b9_7f4a_7c15).fill_bytes(&mut pool);
    let mut value_pool = Some(pool);

    let mut engine: Option<Rc<Engine<DmaDisk>>> = None;
    let mut ctx: Option<Rc<Ctx>> = None;
    let mut reports = Vec::new();

    for (bi, &bench) in a.benchmarks.iter().enumerate() {
        if bench.wants_fresh_db() && !a.use_existing {
            if let Some(e) = engine.take() {
                let c = ctx.take().expect("ctx with engine");
                value_pool = Some(Rc::try_unwrap(c).unwrap_or_else(|_| panic!("no task holds ctx")).value_pool);
                close_engine(e).await?;
            }
            wipe_dir(&a.dir)?;
        }
        if engine.is_none() {
            std::fs::create_dir_all(&a.dir)?;
            let e = open_engine(&a).await?;
            ctx = Some(Rc::new(Ctx {
                engine: e.clone(),
                num: a.num,
                key_size: a.key_size,
                value_size: a.value_size,
                value_pool: value_pool.take().expect("value pool"),
            }));
            engine = Some(e);
        }
        let c = ctx.clone().expect("ctx");
        let seed = a.seed.wrapping_add((bi as u64 + 1) * 1_000_003);
        let r = match bench {
            Benchmark::Readseq => run_readseq(&c, reads, a.scan_batch).await?,
            _ => {
                let n = if bench.is_write() { a.num } else { reads };
                run_ops(&c, bench, n, concurrency, seed).await?
            }
        };
        print_db_bench_line(&r);
        reports.push(r);
    }

    let engine = engine.expect("at least one benchmark ran");
    let end = StatsSnap::of(&engine);
    let settled = if a.settle {
        let t = Instant::now();
        engine.flush().await?;
        engine.compact_until_idle().await?;
        let s = StatsSnap::of(&engine);
        let settle_secs = t.elapsed().as_secs_f64();
        let (rows, logical) = count_live(&engine, a.scan_batch.max(4096)).await?;
        println!(
            "settle       : flush + compact_until_idle took {:.3} seconds; {} live keys, {} logical bytes",
            settle_secs, rows, logical
        );
        Some((s, logical))
    } else {
        None
    };

    print_latencies(&reports);
    print_engine_counters(&reports);
    print_amplification(&end, settled.as_ref());

    drop(ctx);
    close_engine(engine).await?;
    Ok(())
}

async fn close_engine(e: Rc<Engine<DmaDisk>>) -> Res<()> {
    e.close().await?;
    Ok(())
}

fn new_hist() -> Histogram<u64> {
    // 1 ns .. 100 s, 3 significant digits.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("histogram bounds")
}

/// Point operations (puts or gets) from `concurrency` tasks sharing one counter.
async fn run_ops(c: &Rc<Ctx>, bench: Benchmark, n: u64, concurrency: usize, seed: u64) -> Res<Report> {
    let stats_before = StatsSnap::of(&c.engine);
    let next = Rc::new(Cell::new(0u64));
    let found = Rc::new(Cell::new(0u64));
    let bytes = Rc::new(Cell::new(0u64));
    let hist = Rc::new(RefCell::new(new_hist()));
    let start = Instant::now();
    if concurrency == 1 {
        worker(c.clone(), bench, n, seed, 0, next.clone(), found.clone(), bytes.clone(), hist.clone()).await?;
    } else {
        let tasks: Vec<_> = (0..concurrency)
            .map(|t| {
                glommio::spawn_local(worker(
                    c.clone(),
                    bench,
                    n,
                    seed,
                    t,
                    next.clone(),
                    found.clone(),
                    bytes.clone(),
                    hist.clone(),
                ))
            })
            .collect();
        let mut first_err = None;
        for t in tasks {
            if let Err(e) = t.await {
                first_err.get_or_insert(e);
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
    }
    let elapsed = start.elapsed();
    let hist = Rc::try_unwrap(hist).unwrap_or_else(|_| panic!("tasks done")).into_inner();
    Ok(Report {
        bench,
        ops: next.get().min(n),
        elapsed,
        bytes: bytes.get(),
        found: (!bench.is_write()).then(|| found.get()),
        concurrency,
        hist,
        stats_before,
        stats_after: StatsSnap::of(&c.engine),
    })
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    c: Rc<Ctx>,
    bench: Benchmark,
    n: u64,
    seed: u64,
    task: usize,
    next: Rc<Cell<u64>>,
    found: Rc<Cell<u64>>,
    bytes: Rc<Cell<u64>>,
    hist: Rc<RefCell<Histogram<u64>>>,
) -> Res<()> {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x100_0000_01b3).wrapping_add(task as u64));
    let mut key = Vec::with_capacity(c.key_size + 1);
    // Tasks start at different places in the value pool.
    let mut vpos = (task * 4099 * c.value_size.max(1)) % c.value_pool.len().max(1);
    let entry_bytes = (c.key_size + c.value_size) as u64;
    loop {
        let i = next.get();
        if i >= n {
            return Ok(());
        }
        next.set(i + 1);
        let k = match bench {
            Benchmark::Fillseq => i,
            _ => rng.gen_range(0..c.num),
        };
        format_key(k, c.key_size, &mut key);
        let t0 = Instant::now();
        match bench {
            Benchmark::Fillseq | Benchmark::Fillrandom | Benchmark::Overwrite => {
                let v = next_value(&c.value_pool, c.value_size, &mut vpos);
                c.engine.put(&key, v).await?;
                bytes.set(bytes.get() + entry_bytes);
            }
            Benchmark::Readrandom => {
                if let Some(v) = c.engine.get(&key).await? {
                    found.set(found.get() + 1);
                    bytes.set(bytes.get() + (key.len() + v.len()) as u64);
                }
            }
            Benchmark::Readmissing => {
                key.push(b'.');
                if c.engine.get(&key).await?.is_some() {
                    found.set(found.get() + 1);
                }
            }
            Benchmark::Readseq => unreachable!("readseq is not a point operation"),
        }
        let ns = t0.elapsed().as_nanos() as u64;
        hist.borrow_mut().saturating_record(ns.max(1));
    }
}

/// One cursor from the first key, `batch` rows per scan call, up to `reads` rows.
async fn run_readseq(c: &Rc<Ctx>, reads: u64, batch: usize) -> Res<Report> {
    let stats_before = StatsSnap::of(&c.engine);
    let mut hist = new_hist();
    let mut rows_total = 0u64;
    let mut bytes = 0u64;
    let mut last: Option<Vec<u8>> = None;
    let start = Instant::now();
    loop {
        let want = batch.min((reads - rows_total) as usize);
        if want == 0 {
            break;
        }
        let lo = match &last {
            None => Bound::Unbounded,
            Some(k) => Bound::Excluded(k.as_slice()),
        };
        let t0 = Instant::now();
        let rows = c.engine.scan(lo, Bound::Unbounded, want).await?;
        hist.saturating_record((t0.elapsed().as_nanos() as u64).max(1));
        rows_total += rows.len() as u64;
        for (k, v) in &rows {
            bytes += (k.len() + v.len()) as u64;
        }
        let done = rows.len() < want;
        last = rows.into_iter().last().map(|(k, _)| k);
        if done || last.is_none() {
            break;
        }
    }
    let elapsed = start.elapsed();
    Ok(Report {
        bench: Benchmark::Readseq,
        ops: rows_total,
        elapsed,
        bytes,
        found: None,
        concurrency: 1,
        hist,
        stats_before,
        stats_after: StatsSnap::of(&c.engine),
    })
}

fn print_db_bench_line(r: &Report) {
    println!("{}", db_bench_line(r.bench.name(), r.ops, r.elapsed.as_secs_f64(), r.bytes, r.found, r.concurrency));
}

/// One result line as db_bench 7.x prints it:
/// `%-12s : %11.3f micros/op %ld ops/sec %.3f seconds %lu operations;%s%s`,
/// where the tail is ` %6.1f MB/s` (when bytes were counted) and a message
/// (`(X of N found)` for point reads; here also `(concurrency C)` when C > 1).
fn db_bench_line(name: &str, ops: u64, secs: f64, bytes: u64, found: Option<u64>, concurrency: usize) -> String {
    let micros_per_op = secs * 1e6 / ops.max(1) as f64;
    let ops_per_sec = if secs > 0.0 { (ops as f64 / secs) as i64 } else { 0 };
    let mut extra = String::new();
    if bytes > 0 && secs > 0.0 {
        extra.push_str(&format!("{:6.1} MB/s", bytes as f64 / 1048576.0 / secs));
    }
    let mut msg = Vec::new();
    if let Some(f) = found {
        msg.push(format!("({f} of {ops} found)"));
    }
    if concurrency > 1 {
        msg.push(format!("(concurrency {concurrency})"));
    }
    if !msg.is_empty() {
        if !extra.is_empty() {
            extra.push(' ');
        }
        extra.push_str(&msg.join(" "));
    }
    format!(
        "{:<12} : {:>11.3} micros/op {} ops/sec {:.3} seconds {} operations;{}{}",
        name,
        micros_per_op,
        ops_per_sec,
        secs,
        ops,
        if extra.is_empty() { "" } else { " " },
        extra
    )
}

fn print_latencies(reports: &[Report]) {
    println!();
    println!("Latency per operation, microseconds (readseq: per scan page)");
    println!(
        "{:<12} {:>11} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11}",
        "benchmark", "concurrency", "p50", "p99", "p99.9", "max", "mean", "count"
    );
    for r in reports {
        let h = &r.hist;
        let us = |ns: u64| ns as f64 / 1000.0;
        println!(
            "{:<12} {:>11} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>11}",
            r.bench.name(),
            r.concurrency,
            us(h.value_at_quantile(0.50)),
            us(h.value_at_quantile(0.99)),
            us(h.value_at_quantile(0.999)),
            us(h.max()),
            h.mean() / 1000.0,
            h.len()
        );
    }
}

/// Live keys and their key+value bytes, by a full scan.
async fn count_live(e: &Engine<DmaDisk>, batch: usize) -> Res<(u64, u64)> {
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut last: Option<Vec<u8>> = None;
    loop {
        let lo = match &last {
            None => Bound::Unbounded,
            Some(k) => Bound::Excluded(k.as_slice()),
        };
        let page = e.scan(lo, Bound::Unbounded, batch).await?;
        rows += page.len() as u64;
        bytes += page.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum::<u64>();
        let done = page.len() < batch;
        last = page.into_iter().last().map(|(k, _)| k);
        if done || last.is_none() {
            return Ok((rows, bytes));
        }
    }
}

fn mb(b: u64) -> f64 {
    b as f64 / 1048576.0
}

fn print_engine_counters(reports: &[Report]) {
    println!();
    println!("Engine counters per benchmark, MB = 2^20 bytes (background flush/compaction is attributed to the");
    println!("benchmark during which it finished; 'tables' is tables per level at the end)");
    println!(
        "{:<12} {:>8} {:>8} {:>9} {:>10} {:>8} {:>7} {:>9} {:>9} {:>8} {:>10}  tables",
        "benchmark",
        "user MB",
        "wal MB",
        "flush MB",
        "compact MB",
        "w-amp",
        "flushes",
        "compacts",
        "stall ms",
        "delay ms",
        "cache hit%"
    );
    for r in reports {
        let d = r.stats_after.delta(&r.stats_before);
        let lookups = d.cache_hits + d.cache_misses;
        println!(
            "{:<12} {:>8.1} {:>8.1} {:>9.1} {:>10.1} {:>8} {:>7} {:>9} {:>9.0} {:>8.0} {:>10}  {:?}",
            r.bench.name(),
            mb(d.user_bytes),
            mb(d.wal_bytes),
            mb(d.flush_bytes),
            mb(d.compaction_bytes),
            ratio(d.disk_bytes(), d.user_bytes),
            d.flushes,
            d.compactions,
            d.write_stall_micros as f64 / 1000.0,
            d.write_delay_micros as f64 / 1000.0,
            if lookups == 0 { "-".to_string() } else { format!("{:.1}", 100.0 * d.cache_hits as f64 / lookups as f64) },
            d.tables_per_level,
        );
    }
}

fn print_amplification(end: &StatsSnap, settled: Option<&(StatsSnap, u64)>) {
    let wa = |label: &str, s: &StatsSnap| {
        println!(
            "{label}: write-amp {} = (wal {:.1} + flush {:.1} + compaction {:.1} MB) / user {:.1} MB; compaction read {:.1} MB",
            ratio(s.disk_bytes(), s.user_bytes),
            mb(s.wal_bytes),
            mb(s.flush_bytes),
            mb(s.compaction_bytes),
            mb(s.user_bytes),
            mb(s.compaction_bytes_read),
        );
    };
    println!();
    println!("Amplification (counters since the engine was last opened; MB = 2^20 bytes, as in db_bench's MB/s)");
    wa("end of run   ", end);
    println!(
        "end of run   : live tables {:.1} MB {:?}, memtable {:.1} MB + {} sealed (not in tables yet)",
        mb(end.live_table_bytes),
        end.tables_per_level,
        mb(end.memtable_bytes as u64),
        end.immutable_memtables
    );
    match settled {
        Some((s, logical)) => {
            wa("after settle ", s);
            println!(
                "after settle : space-amp {} = live tables {:.1} MB {:?} / live logical (key+value) {:.1} MB",
                ratio(s.live_table_bytes, *logical),
                mb(s.live_table_bytes),
                s.tables_per_level,
                mb(*logical)
            );
        }
        None => println!(
            "space-amp    : run with --settle (flush + compact until idle, then a full scan counts live bytes)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_matches_db_bench_form() {
        // Shapes of real db_bench 7.8.3 lines (numbers chosen to round the same way).
        assert_eq!(
            db_bench_line("fillrandom", 1_000_000, 4.0, 116_000_000, None, 1),
            "fillrandom   :       4.000 micros/op 250000 ops/sec 4.000 seconds 1000000 operations;   27.7 MB/s"
        );
        assert_eq!(
            db_bench_line("readrandom", 1_000_000, 2.0, 632_000 * 116, Some(632_000), 1),
            "readrandom   :       2.000 micros/op 500000 ops/sec 2.000 seconds 1000000 operations;   35.0 MB/s \
             (632000 of 1000000 found)"
        );
        assert_eq!(
            db_bench_line("readmissing", 1_000_000, 1.0, 0, Some(0), 1),
            "readmissing  :       1.000 micros/op 1000000 ops/sec 1.000 seconds 1000000 operations; (0 of 1000000 found)"
        );
        assert!(db_bench_line("fillrandom", 20_000, 0.5, 20_000 * 116, None, 64).ends_with("MB/s (concurrency 64)"));
    }

    #[test]
    fn keys_are_zero_padded_to_key_size() {
        let mut k = Vec::new();
        format_key(42, 16, &mut k);
        assert_eq!(k, b"0000000000000042");
        format_key(999_999, 16, &mut k);
        assert_eq!(k, b"0000000000999999");
        let pool = vec![7u8; 1 << 20];
        let mut pos = (1 << 20) - 50;
        assert_eq!(next_value(&pool, 100, &mut pos).len(), 100);
        assert_eq!(pos, 100, "wraps to the start of the pool");
    }
}
