//! `ringkv`: the server (`ringkv serve`) and a command-line client.

use std::io::Write;
use std::ops::Bound;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ringkv::client::{Client, ClientError};
use ringkv::config::{parse_compaction, ServeConfig};

#[derive(Parser)]
#[command(name = "ringkv", version, about = "Thread-per-core, shared-nothing key-value storage node")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a storage node (default: 127.0.0.1:7070, data in ./ringkv-data).
    Serve(ServeArgs),
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
    /// Number of shards (default: one per CPU).
    #[arg(long)]
    shards: Option<usize>,
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
    /// Memtable size in bytes before a flush.
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
        Cmd::Serve(a) => match serve_config(a).and_then(ringkv::server::serve) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
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
