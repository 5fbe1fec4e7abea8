//! `ringkv`: the server (`ringkv serve`) and a command-line client.

use std::io::Write;
use std::ops::Bound;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ringkv::client::{Client, ClientError};
use ringkv::config::{parse_compaction, ServeConfig};

/// glibc malloc took about a fifth of the server's CPU on the write path
/// (docs/benchmarks.md, "what looked slow"); mimalloc's thread-local pages suit
/// one executor per core.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mimalloc.h` (`mi_option_e`); its
/// default in the v3 sources libmimalloc-sys 0.1.49 builds is 1000 (ms), which
/// `keep_freed_memory` checks first so a different layout is left alone.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keep freed memory instead of returning it to the kernel a second later: the
/// server frees and reallocates tens of MiB per memtable flush, and each
/// returned page comes back with a page fault and zeroing (5-12% of CPU under
/// SET, docs/benchmarks.md). RSS then stays at its peak, which the memtable
/// and block cache limits bound. `MIMALLOC_PURGE_DELAY` (ms) overrides this.
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: plain option calls, made before any other thread exists.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == 1000 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        } else {
            tracing::warn!("mimalloc option layout differs from the one expected; purge delay left alone");
        }
    }
}

/// Keep the server's memory on 4 KiB pages. mimalloc marks its arena for
/// transparent huge pages (`madvise`), so the first touch of each 2 MiB region
/// faults in and zeroes all of it (and, with the kernel's default `defrag`,
/// may compact memory first), on the shard's core, in the request path. A
/// fresh server spent its first ~150 ms clearing pages, and SETs had
/// multi-millisecond stalls: with huge pages, durable SET p99.9 was 18 ms
/// against 8 ms without (P16; 20 ms against 3 ms at P1). The price is TLB
/// misses: memory-speed GETs ran 5-14% slower (docs/benchmarks.md, tenth
/// pass). Redis, RocksDB and MongoDB advise against THP for the same stalls.
/// With `MIMALLOC_ALLOW_THP` set (to anything) mimalloc decides instead
/// (tuning/README.md).
fn small_pages_only() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: prctl with integer arguments only; it sets a flag on this process.
    if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot turn transparent huge pages off");
    }
}

#[derive(Parser)]
#[command(name = "ringkv", version, about = "Thread-per-core, shared-nothing key-value storage node")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a storage node (default: 127.0.0.1:7070, data in ./ringkv-data).
    Serve(Box<ServeArgs>),
    /// Store VALUE under KEY ("partition" or "partition/sort").
    Put {
        key: String,
        value: String,
        #[command(flatten)]
        c: ClientArgs,
    },
    /// Print the value of KEY followed by a newline; exit 1 if there is none.
    Get {
        key: String,
        #[command(flatten)]
        c: ClientArgs,
    },
    /// Delete KEY.
    Del {
        key: String,
        #[command(flatten)]
        c: ClientArgs,
    },
    /// Run N local nodes on 127.0.0.1 in the foreground (Ctrl-C stops them all).
    DevCluster {
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        #[arg(long, default_value = "./ringkv-dev-cluster")]
        base_dir: PathBuf,
        /// Node i serves the native protocol on base-port + i.
        #[arg(long, default_value_t = 7070)]
        base_port: u16,
        /// Node i serves RESP on resp-base-port + i.
        #[arg(long, default_value_t = 6380)]
        resp_base_port: u16,
        /// Shards per node.
        #[arg(long, default_value_t = 1)]
        shards: usize,
        /// Extra flags for every `serve`, e.g. --extra=--sync=none
        #[arg(long, allow_hyphen_values = true)]
        extra: Vec<String>,
    },
    /// List items of PARTITION as "sort<TAB>value" lines, in sort-key order.
    Scan {
        partition: String,
        /// First sort key (inclusive).
        #[arg(long)]
        from: Option<String>,
        /// Sort key to stop before (exclusive).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[arg(long, default_value = "127.0.0.1:7070")]
        addr: String,
    },
}

#[derive(Args)]
struct ClientArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:7070")]
    addr: String,
    /// one | quorum | all (default: the server's R or W).
    #[arg(long)]
    consistency: Option<String>,
    /// Sort key; KEY is then the whole partition key (for keys containing '/').
    #[arg(long)]
    sort: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// TOML config file; flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Client address, HOST:PORT.
    #[arg(long)]
    listen: Option<String>,
    /// Number of shards (default: one per CPU, or per CPU in --cpus).
    #[arg(long)]
    shards: Option<usize>,
    /// CPUs to run the shards on, in shard order, as `taskset -c` takes them
    /// (e.g. 1 or 0,2 or 0-3); see tuning/README.md.
    #[arg(long)]
    cpus: Option<String>,
    /// always | interval:MS | none
    #[arg(long)]
    sync: Option<String>,
    /// leveled | tiered
    #[arg(long)]
    compaction: Option<String>,
    #[arg(long)]
    node_id: Option<String>,
    /// Shard i also listens on this port + i (default: a free port each).
    #[arg(long)]
    shard_port_base: Option<u16>,
    /// Host advertised for the shard ports (default: the listen host).
    #[arg(long)]
    advertise_host: Option<String>,
    /// RESP (Redis protocol) port, HOST:PORT or `off`.
    #[arg(long)]
    resp_listen: Option<String>,
    /// Client addresses (HOST:PORT) of other nodes to join, comma-separated.
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<String>>,
    /// Replicas per key, N (default 3; clamped to the cluster size).
    #[arg(long)]
    replicas: Option<usize>,
    /// Replies a read waits for, R (default 2).
    #[arg(long)]
    read_quorum: Option<usize>,
    /// Acknowledgements a write waits for, W (default 2).
    #[arg(long)]
    write_quorum: Option<usize>,
    /// Last-writer-wins for every write (default: concurrent writes become siblings).
    #[arg(long)]
    lww: bool,
    /// Memtable size per shard in bytes before a flush (default, or 0: a
    /// sixteenth of the machine's memory per shard, 64 to 256 MiB).
    #[arg(long)]
    memtable_bytes: Option<usize>,
    /// Block cache for the whole node, in bytes.
    #[arg(long)]
    block_cache_bytes: Option<usize>,
}

fn serve_config(a: ServeArgs) -> Result<ServeConfig, String> {
    let mut c = ServeConfig::default();
    if let Some(p) = &a.config {
        c.load_file(p)?;
    }
    if let Some(v) = a.data_dir {
        c.data_dir = v;
    }
    if let Some(v) = a.listen {
        c.listen = v.parse().map_err(|e| format!("--listen {v:?}: {e}"))?;
    }
    if let Some(v) = a.shards {
        c.shards = v;
    }
    if let Some(v) = a.cpus {
        c.set_cpus(ringkv::config::parse_cpu_list(&v)?, a.shards);
    }
    if let Some(v) = a.sync {
        c.sync = v.parse()?;
    }
    if let Some(v) = a.compaction {
        c.compaction = parse_compaction(&v)?;
    }
    if let Some(v) = a.node_id {
        c.node_id = v;
    }
    if a.shard_port_base.is_some() {
        c.shard_port_base = a.shard_port_base;
    }
    if a.advertise_host.is_some() {
        c.advertise_host = a.advertise_host;
    }
    if let Some(v) = a.resp_listen {
        c.resp_listen = ringkv::config::parse_resp_listen(&v)?;
    }
    if let Some(v) = a.seeds {
        c.seeds = v.into_iter().filter(|s| !s.is_empty()).collect();
    }
    if let Some(v) = a.replicas {
        c.replication.n = v;
    }
    if let Some(v) = a.read_quorum {
        c.replication.r = v;
    }
    if let Some(v) = a.write_quorum {
        c.replication.w = v;
    }
    if a.lww {
        c.lww = true;
    }
    if let Some(v) = a.memtable_bytes {
        c.memtable_bytes_max = v;
    }
    if let Some(v) = a.block_cache_bytes {
        c.block_cache_bytes = v;
    }
    Ok(c)
}

/// Split "partition/sort" unless the sort key is given separately.
fn split_key(key: &str, sort: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    match sort {
        Some(s) => (key.as_bytes().to_vec(), s.as_bytes().to_vec()),
        None => match key.split_once('/') {
            Some((p, s)) => (p.as_bytes().to_vec(), s.as_bytes().to_vec()),
            None => (key.as_bytes().to_vec(), Vec::new()),
        },
    }
}

fn consistency(s: Option<&str>) -> Result<ringkv::protocol::Consistency, String> {
    use ringkv::protocol::Consistency::*;
    Ok(match s {
        None => Default,
        Some("one") => One,
        Some("quorum") => Quorum,
        Some("all") => All,
        Some(o) => return Err(format!("--consistency {o:?}: expected one, quorum or all")),
    })
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("ringkv: {e}");
    ExitCode::from(2)
}

fn connect(addr: &str) -> Result<Client, ClientError> {
    Client::connect(addr)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "ringkv=info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve(a) => {
            keep_freed_memory();
            small_pages_only();
            match serve_config(*a).and_then(ringkv::server::serve) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Cmd::Put { key, value, c } => {
            let (p, s) = split_key(&key, c.sort.as_deref());
            let level = match consistency(c.consistency.as_deref()) {
                Ok(l) => l,
                Err(e) => return fail(e),
            };
            // From a shell, "put" means "make this the value": overwrite.
            match connect(&c.addr).and_then(|mut cl| cl.put_overwrite(&p, &s, value.as_bytes(), level)) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Cmd::Get { key, c } => {
            let (p, s) = split_key(&key, c.sort.as_deref());
            let level = match consistency(c.consistency.as_deref()) {
                Ok(l) => l,
                Err(e) => return fail(e),
            };
            match connect(&c.addr).and_then(|mut cl| cl.get_all(&p, &s, level)) {
                Ok((values, _)) if values.is_empty() => ExitCode::from(1),
                Ok((values, _)) => {
                    if values.len() > 1 {
                        eprintln!("ringkv: {} concurrent values (siblings), one per line", values.len());
                    }
                    let mut out = std::io::stdout().lock();
                    for v in values {
                        let _ = out.write_all(&v).and_then(|_| out.write_all(b"\n"));
                    }
                    let _ = out.flush();
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Cmd::Del { key, c } => {
            let (p, s) = split_key(&key, c.sort.as_deref());
            let level = match consistency(c.consistency.as_deref()) {
                Ok(l) => l,
                Err(e) => return fail(e),
            };
            match connect(&c.addr).and_then(|mut cl| cl.delete_with(&p, &s, level)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Cmd::DevCluster { nodes, base_dir, base_port, resp_base_port, shards, extra } => {
            match dev_cluster(nodes, &base_dir, base_port, resp_base_port, shards, &extra) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Cmd::Scan { partition, from, to, limit, addr } => {
            let from = from.map_or(Bound::Unbounded, |f| Bound::Included(f.into_bytes()));
            let to = to.map_or(Bound::Unbounded, |t| Bound::Excluded(t.into_bytes()));
            match connect(&addr).and_then(|mut cl| cl.scan(partition.as_bytes(), from, to, limit)) {
                Ok(items) => {
                    let mut out = std::io::stdout().lock();
                    for (s, v) in items {
                        let _ = out.write_all(&s).and_then(|_| out.write_all(b"\t"));
                        let _ = out.write_all(&v).and_then(|_| out.write_all(b"\n"));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
    }
}

/// `ringkv dev-cluster`: start N `ringkv serve` children that know each other,
/// print where they listen, and stop them all on Ctrl-C / SIGTERM.
fn dev_cluster(
    nodes: usize,
    base_dir: &std::path::Path,
    base_port: u16,
    resp_base_port: u16,
    shards: usize,
    extra: &[String],
) -> Result<(), String> {
    if nodes == 0 || nodes > 64 {
        return Err("--nodes must be 1..=64".into());
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let addr = |i: usize| format!("127.0.0.1:{}", base_port as usize + i);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| e.to_string())?;
    }
    let mut children = Vec::new();
    for i in 0..nodes {
        let seeds: Vec<String> = (0..nodes).filter(|&j| j != i).map(addr).collect();
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("serve")
            .args(["--node-id", &format!("node{}", i + 1)])
            .args(["--listen", &addr(i)])
            .args(["--resp-listen", &format!("127.0.0.1:{}", resp_base_port as usize + i)])
            .arg("--data-dir")
            .arg(base_dir.join(format!("node{}", i + 1)))
            .args(["--shards", &shards.to_string()])
            .args(extra);
        if !seeds.is_empty() {
            cmd.args(["--seeds", &seeds.join(",")]);
        }
        let child = cmd.spawn().map_err(|e| format!("start node{}: {e}", i + 1))?;
        println!(
            "node{}: native {} RESP 127.0.0.1:{} data {} (pid {})",
            i + 1,
            addr(i),
            resp_base_port as usize + i,
            base_dir.join(format!("node{}", i + 1)).display(),
            child.id()
        );
        children.push(child);
    }
    println!("{nodes} nodes running; Ctrl-C stops them all");
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        if let Some((i, st)) =
            children.iter_mut().enumerate().find_map(|(i, c)| c.try_wait().ok().flatten().map(|s| (i, s)))
        {
            eprintln!("ringkv: node{} exited ({st}); stopping the others", i + 1);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for c in &children {
        // SAFETY: signalling our own child processes.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    }
    for mut c in children {
        let _ = c.wait();
    }
    Ok(())
}
