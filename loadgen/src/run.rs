//! `ringkv-loadgen run`: drive a ringkv node (native protocol or RESP) or a
//! Redis server with a YCSB-style workload, closed loop or open loop at a
//! fixed rate, and report latency percentiles and throughput over time.
//!
//! Threads: each is one glommio executor with `connections / threads`
//! connections; each connection has `pipeline` tasks, so that many requests
//! are outstanding on it. Open loop (`--rate`): every thread has a schedule of
//! intended send times (rate / threads per second); a task takes the next
//! slot, waits for it, sends, and its latency is measured from the intended
//! time, so a slow server is charged for the requests it delayed (no
//! coordinated omission).

use std::cell::{Cell, RefCell};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;

use crate::report::{self, Bucket, RunResult};
use crate::target::{Client, OpError, Target};
use crate::verify::{self, VerifyLog};
use crate::workload::{Dist, KeyChooser, KeySpace, Mix, OpKind, Preset, Rng, ValuePool, ValueSize};

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// native://HOST:PORT (ringkv's protocol) or resp://HOST:PORT (ringkv's RESP port, or Redis)
    #[arg(long)]
    pub target: Target,
    /// YCSB preset: a (50/50 read/update), b (95/5), c (read only), d (95 read latest / 5 insert),
    /// e (95 short scans / 5 insert), f (50 read / 50 read-modify-write). Default: --read-pct mix.
    #[arg(long, value_enum)]
    pub workload: Option<Preset>,
    /// Without --workload: percentage of reads; the rest are updates.
    #[arg(long, default_value_t = 50.0)]
    pub read_pct: f64,
    /// Key distribution (default: the preset's, else uniform).
    #[arg(long, value_enum)]
    pub dist: Option<Dist>,
    /// Zipfian constant.
    #[arg(long, default_value_t = 0.99)]
    pub theta: f64,
    /// Key space: keys user0 .. user{N-1}.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// Zero-pad key numbers to the width of N-1 (user000042), so that keys
    /// sort in number order: `--dist sequential` then writes in key order.
    #[arg(long)]
    pub zero_pad: bool,
    /// Value size in bytes: N, or A..B (uniform).
    #[arg(long, default_value = "100")]
    pub value_size: ValueSize,
    /// Longest scan (items); each scan's length is uniform in 1..=N.
    #[arg(long, default_value_t = 100)]
    pub scan_len: u32,
    /// Connections in all (spread over the threads). A native connection is one
    /// shard-aware client: one TCP connection per shard plus the main one.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Requests outstanding per connection.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Client threads, each its own glommio executor.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Measured seconds (after the warm-up). Ignored with --ops.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Stop after this many measured operations instead of after --duration.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Seconds at the start whose operations are not counted.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Open loop: send at this many operations per second in all; latency is
    /// measured from each request's intended send time.
    #[arg(long)]
    pub rate: Option<f64>,
    /// First write every key once (not measured).
    #[arg(long)]
    pub load: bool,
    /// Write the results as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write latency.svg and throughput.svg into this directory.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Log every write (begun and acknowledged) here, for `check --verify`.
    #[arg(long)]
    pub verify: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// A name for this run in the summary and the JSON.
    #[arg(long)]
    pub label: Option<String>,
}

pub struct Config {
    pub args: RunArgs,
    pub mix: Mix,
    pub dist: Dist,
    pub workload_name: String,
    /// Each operation task's key chooser starts as a clone of this one: a
    /// zipfian's zeta over the key space is computed once, not per task
    /// (it was, and with 800 tasks over 1M keys the client spent its first
    /// ~15 s on it while the server idled).
    pub chooser: KeyChooser,
}

/// Counters one thread publishes while it runs (read by the progress reporter).
#[derive(Default)]
pub struct Live {
    pub done: AtomicU64,
    pub errors: AtomicU64,
    pub interval: Mutex<Option<Histogram<u64>>>,
}

pub struct Shared {
    pub stop: AtomicBool,
    pub measuring: AtomicBool,
    pub abort: AtomicBool,
    pub claimed: AtomicU64,
    pub load_next: AtomicU64,
    pub keyspace: KeySpace,
    pub live: Vec<Live>,
    pub barrier: Barrier,
    pub pool: ValuePool,
    pub verify: Option<VerifyLog>,
    pub first_error: Mutex<Vec<String>>,
}

/// What a thread hands back.
pub struct ThreadOut {
    pub hists: Vec<Histogram<u64>>, // per OpKind, measured only
    pub errors: u64,
    pub misses: u64,
}

pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap()
}

fn record(h: &mut Histogram<u64>, ns: u64) {
    let _ = h.record(ns.clamp(1, 3_600_000_000_000));
}

pub fn run(args: RunArgs) -> Result<(), String> {
    let (mix, preset_dist, workload_name) = match args.workload {
        Some(p) => {
            let (m, d) = Mix::preset(p);
            (m, d, format!("ycsb-{}", format!("{p:?}").to_lowercase()))
        }
        None => {
            if !(0.0..=100.0).contains(&args.read_pct) {
                return Err("--read-pct must be in 0..=100".into());
            }
            (
                Mix::read_write(args.read_pct),
                Dist::Uniform,
                format!("read{}-update{}", args.read_pct, 100.0 - args.read_pct),
            )
        }
    };
    let dist = args.dist.unwrap_or(preset_dist);
    if args.threads == 0 || args.connections == 0 || args.pipeline == 0 {
        return Err("--threads, --connections and --pipeline must be at least 1".into());
    }
    if args.connections < args.threads {
        return Err(format!("--connections {} is fewer than --threads {}", args.connections, args.threads));
    }
    if args.keys == 0 {
        return Err("--keys must be at least 1".into());
    }
    if !(args.theta > 0.0 && args.theta < 1.0) {
        return Err("--theta must be in (0, 1)".into());
    }
    if let Some(r) = args.rate {
        if r.is_nan() || r <= 0.0 {
            return Err("--rate must be positive".into());
        }
    }
    if args.verify.is_some() && args.value_size.min < 16 {
        return Err(
            "--verify needs values of at least 16 bytes (each write's value carries a unique 16-byte stamp)".into()
        );
    }
    if mix.scan > 0.0 && args.scan_len == 0 {
        return Err("--scan-len must be at least 1".into());
    }
    let verify = match &args.verify {
        Some(p) => Some(VerifyLog::create(p)?),
        None => None,
    };
    let chooser = KeyChooser::new(dist, args.keys, args.theta);
    let cfg = Arc::new(Config { args: args.clone(), mix, dist, workload_name, chooser });
    let threads = args.threads;
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        measuring: AtomicBool::new(false),
        abort: AtomicBool::new(false),
        claimed: AtomicU64::new(0),
        load_next: AtomicU64::new(0),
        keyspace: if args.zero_pad { KeySpace::zero_padded(args.keys) } else { KeySpace::new(args.keys) },
        live: (0..threads).map(|_| Live { interval: Mutex::new(Some(new_hist())), ..Default::default() }).collect(),
        barrier: Barrier::new(threads + 1),
        pool: ValuePool::new(args.value_size.max, args.seed),
        verify,
        first_error: Mutex::new(Vec::new()),
    });
    let mut handles = Vec::new();
    for t in 0..threads {
        let (cfg, shared) = (cfg.clone(), shared.clone());
        handles.push(
            std::thread::Builder::new()
                .name(format!("loadgen-{t}"))
                .spawn(move || thread_main(t, cfg, shared))
                .map_err(|e| e.to_string())?,
        );
    }
    let tty = std::io::stderr().is_terminal();
    eprintln!(
        "ringkv-loadgen run: {} {} dist={} keys={} value={} connections={} pipeline={} threads={} {}",
        args.target,
        cfg.workload_name,
        dist.name(),
        args.keys,
        args.value_size,
        args.connections,
        args.pipeline,
        threads,
        match args.rate {
            Some(r) => format!("open loop at {r} ops/s"),
            None => "closed loop".into(),
        }
    );
    shared.barrier.wait(); // every thread connected (or failed to)
    if shared.abort.load(Ordering::SeqCst) {
        shared.barrier.wait();
        for h in handles {
            let _ = h.join();
        }
        let e = shared.first_error.lock().unwrap().first().cloned().unwrap_or_default();
        return Err(e);
    }
    let load_start = Instant::now();
    if args.load {
        eprintln!("loading {} keys ...", args.keys);
    }
    shared.barrier.wait(); // load done
    if args.load {
        let s = load_start.elapsed().as_secs_f64();
        let e: u64 = shared.live.iter().map(|l| l.errors.swap(0, Ordering::Relaxed)).sum();
        eprintln!("loaded {} keys in {s:.2} s ({:.0} keys/s), {e} errors", args.keys, args.keys as f64 / s);
        for l in &shared.live {
            l.done.store(0, Ordering::Relaxed);
            *l.interval.lock().unwrap() = Some(new_hist());
        }
    }

    // The reporter: warm-up, duration, progress line, per-second buckets.
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(args.warmup.max(0.0));
    let mut measure_start = if args.warmup <= 0.0 {
        shared.measuring.store(true, Ordering::SeqCst);
        Some(start)
    } else {
        None
    };
    let mut buckets: Vec<Bucket> = Vec::new();
    let mut last_tick = start;
    let mut last_done = 0u64;
    let mut last_err = 0u64;
    let mut stop_at: Option<Instant> = None;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if measure_start.is_none() && now >= warm_end {
            shared.measuring.store(true, Ordering::SeqCst);
            measure_start = Some(now);
        }
        if args.ops.is_none() {
            if let Some(ms) = measure_start {
                if now >= ms + Duration::from_secs_f64(args.duration) {
                    shared.stop.store(true, Ordering::SeqCst);
                }
            }
        }
        let finished = handles.iter().all(|h| h.is_finished());
        let stopping = shared.stop.load(Ordering::SeqCst) || finished;
        if now.duration_since(last_tick) >= Duration::from_secs(1) || stopping {
            let dt = now.duration_since(last_tick).as_secs_f64();
            if dt > 0.05 {
                let done: u64 = shared.live.iter().map(|l| l.done.load(Ordering::Relaxed)).sum();
                let errs: u64 = shared.live.iter().map(|l| l.errors.load(Ordering::Relaxed)).sum();
                let mut h = new_hist();
                for l in &shared.live {
                    if let Some(x) = l.interval.lock().unwrap().replace(new_hist()) {
                        let _ = h.add(&x);
                    }
                }
                let b = Bucket {
                    t: now.duration_since(start).as_secs_f64(),
                    ops_per_sec: (done - last_done) as f64 / dt,
                    p50_us: h.value_at_quantile(0.5) as f64 / 1e3,
                    p99_us: h.value_at_quantile(0.99) as f64 / 1e3,
                    errors: errs - last_err,
                    warmup: !matches!(measure_start, Some(ms) if ms <= last_tick),
                };
                let line = format!(
                    "[{:6.1}s] {:>11} ops/s  p99 {:>9}  errors {}{}",
                    b.t,
                    report::thousands(b.ops_per_sec as u64),
                    report::fmt_us(b.p99_us),
                    errs,
                    if b.warmup { "  (warm-up)" } else { "" }
                );
                if tty {
                    eprint!("\r{line:<70}");
                } else {
                    eprintln!("{line}");
                }
                buckets.push(b);
                last_done = done;
                last_err = errs;
                last_tick = now;
            }
        }
        if stopping {
            stop_at.get_or_insert(now);
            shared.stop.store(true, Ordering::SeqCst);
            if finished {
                break;
            }
        }
    }
    if tty {
        eprintln!();
    }
    let end = Instant::now();
    let mut outs = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(o)) => outs.push(o),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("a client thread panicked".into()),
        }
    }
    if let Some(v) = &shared.verify {
        v.finish()?;
    }
    let measured = measure_start.map(|ms| end.duration_since(ms).as_secs_f64()).unwrap_or(0.0);
    let mut hists: Vec<Histogram<u64>> = OpKind::ALL.iter().map(|_| new_hist()).collect();
    let (mut errors, mut misses) = (0, 0);
    for o in &outs {
        for (a, b) in hists.iter_mut().zip(&o.hists) {
            let _ = a.add(b);
        }
        errors += o.errors;
        misses += o.misses;
    }
    let result = RunResult {
        cfg: &cfg,
        elapsed_s: measured,
        hists,
        errors,
        misses,
        error_samples: shared.first_error.lock().unwrap().clone(),
        buckets,
    };
    report::print_summary(&result);
    if let Some(p) = &args.out {
        report::write_json(&result, p)?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(d) = &args.plot {
        report::write_plots(&result, d)?;
        eprintln!("wrote {}/latency.svg and {}/throughput.svg", d.display(), d.display());
    }
    Ok(())
}

fn thread_main(tid: usize, cfg: Arc<Config>, sh: Arc<Shared>) -> Result<ThreadOut, String> {
    let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name(&format!("loadgen-{tid}"))
        .io_memory(ringkv::rt::EMBEDDED_IO_MEMORY_BYTES)
        .make();
    let ex = match ex {
        Ok(ex) => ex,
        Err(e) => {
            sh.abort.store(true, Ordering::SeqCst);
            sh.first_error.lock().unwrap().push(format!("cannot start a glommio executor: {e}"));
            sh.barrier.wait();
            sh.barrier.wait();
            return Err(format!("cannot start a glommio executor: {e}"));
        }
    };
    ex.run(thread_async(tid, cfg, sh))
}

fn conns_of(tid: usize, cfg: &Config) -> usize {
    let (c, t) = (cfg.args.connections, cfg.args.threads);
    c / t + usize::from(tid < c % t)
}

/// Per-thread state shared by its tasks.
struct Local {
    tid: usize,
    cfg: Arc<Config>,
    sh: Arc<Shared>,
    hists: RefCell<Vec<Histogram<u64>>>,
    errors: Cell<u64>,
    misses: Cell<u64>,
    next_slot: Cell<u64>,
    stamp: Cell<u64>,
    t0: Instant,
    interval_ns: Option<f64>,
}

async fn thread_async(tid: usize, cfg: Arc<Config>, sh: Arc<Shared>) -> Result<ThreadOut, String> {
    let mut clients = Vec::new();
    for _ in 0..conns_of(tid, &cfg) {
        match Client::connect(&cfg.args.target).await {
            Ok(c) => clients.push(c),
            Err(e) => {
                sh.abort.store(true, Ordering::SeqCst);
                sh.first_error.lock().unwrap().push(e);
                break;
            }
        }
    }
    sh.barrier.wait();
    let aborted = sh.abort.load(Ordering::SeqCst);
    let per_thread_rate = cfg.args.rate.map(|r| r / cfg.args.threads as f64);
    let local = Rc::new(Local {
        tid,
        cfg: cfg.clone(),
        sh: sh.clone(),
        hists: RefCell::new(OpKind::ALL.iter().map(|_| new_hist()).collect()),
        errors: Cell::new(0),
        misses: Cell::new(0),
        next_slot: Cell::new(0),
        stamp: Cell::new(0),
        t0: Instant::now(),
        interval_ns: per_thread_rate.map(|r| 1e9 / r),
    });
    if !aborted && cfg.args.load {
        let mut tasks = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            for p in 0..cfg.args.pipeline {
                let (l, c) = (local.clone(), c.clone());
                let seed = cfg.args.seed ^ ((tid as u64) << 40) ^ ((i as u64) << 20) ^ p as u64 ^ 0x10AD;
                tasks.push(glommio::spawn_local(load_task(l, c, seed)));
            }
        }
        for t in tasks {
            t.await;
        }
    }
    sh.barrier.wait();
    if aborted {
        return Err("aborted".into());
    }
    let local = Rc::new(Local { t0: Instant::now(), ..Rc::try_unwrap(local).ok().expect("load tasks done") });
    let mut tasks = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        for p in 0..cfg.args.pipeline {
            let (l, c) = (local.clone(), c.clone());
            let seed = cfg.args.seed ^ ((tid as u64) << 40) ^ ((i as u64) << 20) ^ p as u64;
            tasks.push(glommio::spawn_local(op_task(l, c, seed)));
        }
    }
    for t in tasks {
        t.await;
    }
    drop(clients);
    let l = Rc::try_unwrap(local).ok().expect("tasks done");
    Ok(ThreadOut { hists: l.hists.into_inner(), errors: l.errors.get(), misses: l.misses.get() })
}

impl Local {
    fn next_stamp(&self) -> u128 {
        let s = self.stamp.get();
        self.stamp.set(s + 1);
        ((self.tid as u128) << 64) | s as u128 | (1u128 << 127)
    }

    fn note_error(&self, e: &OpError) {
        self.errors.set(self.errors.get() + 1);
        self.sh.live[self.tid].errors.fetch_add(1, Ordering::Relaxed);
        let mut f = self.sh.first_error.lock().unwrap();
        if f.len() < 10 {
            f.push(e.msg.clone());
        }
    }

    async fn write(&self, c: &Client, key: &[u8], rng: &mut Rng, val: &mut Vec<u8>) -> Result<(), OpError> {
        let len = self.cfg.args.value_size.pick(rng);
        let stamp = self.sh.verify.as_ref().map(|_| self.next_stamp());
        self.sh.pool.fill(rng, len, stamp, val);
        match &self.sh.verify {
            None => c.put(key, val).await,
            Some(v) => {
                let d = verify::digest(val);
                v.begin(key, d);
                c.put(key, val).await?;
                v.ack(key, d);
                Ok(())
            }
        }
    }
}

async fn load_task(l: Rc<Local>, c: Client, seed: u64) {
    let mut rng = Rng::new(seed);
    let (mut key, mut val) = (Vec::new(), Vec::new());
    loop {
        let n = l.sh.load_next.fetch_add(1, Ordering::Relaxed);
        if n >= l.cfg.args.keys {
            break;
        }
        l.sh.keyspace.name(n, &mut key);
        if let Err(e) = l.write(&c, &key, &mut rng, &mut val).await {
            l.note_error(&e);
            if e.fatal {
                break;
            }
        }
    }
}

async fn op_task(l: Rc<Local>, c: Client, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut chooser = l.cfg.chooser.clone();
    let (mut key, mut val) = (Vec::new(), Vec::new());
    let ks = &l.sh.keyspace;
    loop {
        if l.sh.stop.load(Ordering::Relaxed) {
            break;
        }
        let intended = match l.interval_ns {
            None => Instant::now(),
            Some(iv) => {
                let i = l.next_slot.get();
                l.next_slot.set(i + 1);
                let t = l.t0 + Duration::from_nanos((i as f64 * iv) as u64);
                let now = Instant::now();
                if t > now {
                    glommio::timer::sleep(t - now).await;
                    if l.sh.stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                t
            }
        };
        let measuring = l.sh.measuring.load(Ordering::Relaxed);
        if measuring {
            if let Some(n) = l.cfg.args.ops {
                if l.sh.claimed.fetch_add(1, Ordering::Relaxed) >= n {
                    l.sh.stop.store(true, Ordering::Relaxed);
                    break;
                }
            }
        }
        let kind = l.cfg.mix.pick(&mut rng);
        let r: Result<(), OpError> = match kind {
            OpKind::Read => {
                ks.name(chooser.next(&mut rng, ks), &mut key);
                match c.get(&key).await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => {
                        l.misses.set(l.misses.get() + u64::from(measuring));
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            OpKind::Update => {
                ks.name(chooser.next(&mut rng, ks), &mut key);
                l.write(&c, &key, &mut rng, &mut val).await
            }
            OpKind::Insert => {
                ks.name(ks.insert_next.fetch_add(1, Ordering::Relaxed), &mut key);
                l.write(&c, &key, &mut rng, &mut val).await
            }
            OpKind::Scan => {
                ks.name(chooser.next(&mut rng, ks), &mut key);
                let len = 1 + rng.below(l.cfg.args.scan_len as u64) as u32;
                c.scan(&key, len).await.map(|_| ())
            }
            OpKind::Rmw => {
                ks.name(chooser.next(&mut rng, ks), &mut key);
                match c.get(&key).await {
                    Ok(_) => l.write(&c, &key, &mut rng, &mut val).await,
                    Err(e) => Err(e),
                }
            }
        };
        let ns = intended.elapsed().as_nanos() as u64;
        match r {
            Ok(()) => {
                if measuring {
                    record(&mut l.hists.borrow_mut()[kind.index()], ns);
                }
                let live = &l.sh.live[l.tid];
                live.done.fetch_add(1, Ordering::Relaxed);
                if let Some(h) = live.interval.lock().unwrap().as_mut() {
                    record(h, ns);
                }
            }
            Err(e) => {
                l.note_error(&e);
                if e.fatal {
                    break;
                }
            }
        }
    }
}
