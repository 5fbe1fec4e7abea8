//! Server configuration: defaults, a TOML file, and command-line flags on top.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::replication::ReplicationConfig;
use crate::storage::compaction::{CompactionStrategy, LeveledOptions, TieredOptions};
use crate::storage::wal::SyncMode;

/// Everything `ringkv serve` needs. Built from [`FileConfig`] and flags.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub shards: usize,
    pub sync: SyncMode,
    pub compaction: CompactionStrategy,
    /// Per shard; 0 (the default): [`auto_memtable_bytes`] of the machine's
    /// memory, resolved by [`ServeConfig::memtable_bytes`].
    pub memtable_bytes_max: usize,
    /// For all shards together.
    pub block_cache_bytes: usize,
    /// Keep each shard's WAL zero-filled this far past its end (0: preallocate
    /// segments instead); see tuning/README.md.
    pub wal_zero_ahead_bytes: u64,
    /// Back each shard's first memtable with memory at start, not under the
    /// first writes; see tuning/README.md.
    pub prefault_memory: bool,
    /// A flush puts every block of its table in the block cache (true), or
    /// lends the table its image and caches only blocks read; see tuning/README.md.
    pub flush_fills_block_cache: bool,
    /// `--sync always`: how long a group commit may wait, in microseconds,
    /// while its group keeps growing (0: it starts at once); see tuning/README.md.
    pub wal_group_grow_micros: u64,
    /// Most requests one connection may have in flight before the server stops reading from it.
    pub max_in_flight_per_connection: usize,
    /// Pin shard i to CPU i (or to `cpus[i]`).
    pub pin_cores: bool,
    /// The CPUs the shards run on, in shard order (empty: CPUs 0, 1, ...).
    /// Setting it sets `shards` to its length unless `shards` is set with it.
    pub cpus: Vec<usize>,
    pub node_id: String,
    /// Shard i also listens on `listen`'s host at this port + i (None: a free port).
    pub shard_port_base: Option<u16>,
    /// Host clients should use to reach the shard ports (default: the listen host).
    pub advertise_host: Option<String>,
    /// The RESP (Redis protocol) port; None: off.
    pub resp_listen: Option<SocketAddr>,
    /// Client addresses of other nodes to join (empty: a cluster of one).
    pub seeds: Vec<String>,
    /// N, R, W (clamped to the cluster size).
    pub replication: ReplicationConfig,
    pub vnodes: u32,
    /// A quorum request fails with "quorum not reached" after this long.
    pub request_timeout_ms: u64,
    /// Last-writer-wins for every write (opt-in); otherwise concurrent writes become siblings.
    pub lww: bool,
}

/// Parse a RESP listen address, or `off`.
pub fn parse_resp_listen(s: &str) -> Result<Option<SocketAddr>, String> {
    if s == "off" {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|e| format!("resp listen {s:?}: {e} (HOST:PORT or off)"))
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            data_dir: PathBuf::from("./ringkv-data"),
            listen: "127.0.0.1:7070".parse().expect("valid default address"),
            shards: std::thread::available_parallelism().map_or(1, |n| n.get()),
            sync: SyncMode::Always,
            compaction: CompactionStrategy::default(),
            memtable_bytes_max: 0,
            block_cache_bytes: 256 << 20,
            wal_zero_ahead_bytes: 4 << 20,
            prefault_memory: true,
            flush_fills_block_cache: true,
            wal_group_grow_micros: 500,
            max_in_flight_per_connection: 1024,
            pin_cores: true,
            cpus: Vec::new(),
            node_id: "node1".into(),
            shard_port_base: None,
            advertise_host: None,
            resp_listen: Some("127.0.0.1:6380".parse().expect("valid default address")),
            seeds: Vec::new(),
            replication: ReplicationConfig::default(),
            vnodes: crate::ring::DEFAULT_VNODES,
            request_timeout_ms: 2000,
            lww: false,
        }
    }
}

/// The TOML file: every field optional; flags override it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub shards: Option<usize>,
    pub sync: Option<String>,
    pub compaction: Option<String>,
    pub memtable_bytes_max: Option<usize>,
    pub block_cache_bytes: Option<usize>,
    pub wal_zero_ahead_bytes: Option<u64>,
    pub prefault_memory: Option<bool>,
    pub flush_fills_block_cache: Option<bool>,
    pub wal_group_grow_micros: Option<u64>,
    pub max_in_flight_per_connection: Option<usize>,
    pub pin_cores: Option<bool>,
    /// A CPU list as `taskset -c` takes it: "1", "0,2", "0-3,6".
    pub cpus: Option<String>,
    pub node_id: Option<String>,
    pub shard_port_base: Option<u16>,
    pub advertise_host: Option<String>,
    pub resp_listen: Option<String>,
    pub seeds: Option<Vec<String>>,
    pub replicas: Option<usize>,
    pub read_quorum: Option<usize>,
    pub write_quorum: Option<usize>,
    pub vnodes: Option<u32>,
    pub request_timeout_ms: Option<u64>,
    pub lww: Option<bool>,
}

/// Smallest and largest memtable [`auto_memtable_bytes`] picks.
pub const AUTO_MEMTABLE_MIN_BYTES: usize = 64 << 20;
pub const AUTO_MEMTABLE_MAX_BYTES: usize = 256 << 20;

/// The memtable size per shard when none is set: a sixteenth of the
/// machine's memory (`mem_total`; None: unknown) per shard, between 64 and
/// 256 MiB. Per shard, memtables take at most about six times this (the
/// active one, the one flushed last, and up to four waiting for a flush),
/// so they stay under 3/8 of the memory. A larger memtable lets a key space
/// that fits stay in memory with no flush at all (overwrites take their
/// key's place), and makes fewer, larger flushes of one that does not: on
/// the test VM, at 256 against 64 MiB, 1M SETs of 100 B over 1M keys ran
/// 16% faster durable and 23% at memory speed, and 2.4M sustained SETs of
/// 1 KiB 50-60% faster (docs/benchmarks.md, twenty-eighth pass). The price
/// is the WAL kept and replayed at restart, up to four memtables' worth
/// (tuning/README.md).
pub fn auto_memtable_bytes(mem_total: Option<u64>, shards: usize) -> usize {
    let Some(total) = mem_total else { return AUTO_MEMTABLE_MIN_BYTES };
    let share = total / 16 / (shards.max(1) as u64);
    let share = usize::try_from(share).unwrap_or(usize::MAX);
    (share & !((1 << 20) - 1)).clamp(AUTO_MEMTABLE_MIN_BYTES, AUTO_MEMTABLE_MAX_BYTES)
}

/// The machine's memory in bytes (`sysinfo`), None if unknown.
pub fn total_memory() -> Option<u64> {
    // SAFETY: sysinfo fills the struct it is given; a zeroed one is valid.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a struct of the right type.
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return None;
    }
    (info.totalram as u64).checked_mul(u64::from(info.mem_unit.max(1)))
}

pub fn parse_compaction(s: &str) -> Result<CompactionStrategy, String> {
    match s {
        "leveled" => Ok(CompactionStrategy::Leveled(LeveledOptions::default())),
        "tiered" => Ok(CompactionStrategy::Tiered(TieredOptions::default())),
        _ => Err(format!("invalid compaction {s:?}: expected leveled or tiered")),
    }
}

/// Parse a CPU list as `taskset -c` takes it ("1", "0,2", "0-3,6"), in the
/// order given; each CPU at most once.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let bad = |why: &str| format!("cpus {s:?}: {why} (expected a list such as 1 or 0,2 or 0-3,6)");
    let num = |t: &str| t.trim().parse::<usize>().map_err(|_| bad(&format!("{t:?} is not a CPU number")));
    let mut out = Vec::new();
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            return Err(bad(&format!("range {lo}-{hi} runs backwards")));
        }
        if hi >= 4096 {
            return Err(bad(&format!("CPU {hi} is out of range")));
        }
        for c in lo..=hi {
            if out.contains(&c) {
                return Err(bad(&format!("CPU {c} is listed twice")));
            }
            out.push(c);
        }
    }
    Ok(out)
}

impl ServeConfig {
    /// Run the shards on `cpus`, one each, in order; with `shards` None, one
    /// shard per listed CPU.
    pub fn set_cpus(&mut self, cpus: Vec<usize>, shards: Option<usize>) {
        self.shards = shards.unwrap_or(cpus.len());
        self.cpus = cpus;
    }

    /// Where shard `i` runs: `cpus[i]`, else CPU i when there are enough
    /// CPUs (`available`) for one shard each, else anywhere.
    pub fn placement(&self, i: usize, available: usize) -> Option<usize> {
        if !self.cpus.is_empty() {
            return self.cpus.get(i).copied();
        }
        (self.pin_cores && self.shards <= available).then_some(i)
    }

    /// The memtable size per shard: `memtable_bytes_max`, or when that is 0
    /// (unset), [`auto_memtable_bytes`] of this machine.
    pub fn memtable_bytes(&self) -> usize {
        match self.memtable_bytes_max {
            0 => auto_memtable_bytes(total_memory(), self.shards),
            n => n,
        }
    }

    /// The compaction strategy for memtables of `memtable_bytes`: leveled
    /// L1's target is at least the L0 that triggers a compaction (its
    /// trigger count of memtable-sized tables), RocksDB's rule for
    /// `max_bytes_for_level_base`. Else each L0 compaction leaves L1 over
    /// target and sets off L1's at once: 1 KiB SETs with 256 MiB memtables
    /// ran 2 compactions where a 256 MiB L1 ran 3-5 (twenty-eighth pass).
    pub fn compaction_for(&self, memtable_bytes: usize) -> CompactionStrategy {
        let mut c = self.compaction.clone();
        if let CompactionStrategy::Leveled(l) = &mut c {
            let l0 = (l.l0_trigger_files as u64).saturating_mul(memtable_bytes as u64);
            l.base_level_bytes = l.base_level_bytes.max(l0);
        }
        c
    }

    /// Apply a config file's settings over `self`.
    pub fn apply_file(&mut self, f: FileConfig) -> Result<(), String> {
        if let Some(v) = f.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = f.listen {
            self.listen = v.parse().map_err(|e| format!("listen {v:?}: {e}"))?;
        }
        if let Some(v) = f.shards {
            self.shards = v;
        }
        if let Some(v) = f.sync {
            self.sync = v.parse()?;
        }
        if let Some(v) = f.compaction {
            self.compaction = parse_compaction(&v)?;
        }
        if let Some(v) = f.memtable_bytes_max {
            self.memtable_bytes_max = v;
        }
        if let Some(v) = f.block_cache_bytes {
            self.block_cache_bytes = v;
        }
        if let Some(v) = f.wal_zero_ahead_bytes {
            self.wal_zero_ahead_bytes = v;
        }
        if let Some(v) = f.prefault_memory {
            self.prefault_memory = v;
        }
        if let Some(v) = f.flush_fills_block_cache {
            self.flush_fills_block_cache = v;
        }
        if let Some(v) = f.wal_group_grow_micros {
            self.wal_group_grow_micros = v;
        }
        if let Some(v) = f.max_in_flight_per_connection {
            self.max_in_flight_per_connection = v;
        }
        if let Some(v) = f.pin_cores {
            self.pin_cores = v;
        }
        if let Some(v) = f.cpus {
            self.set_cpus(parse_cpu_list(&v)?, f.shards);
        }
        if let Some(v) = f.node_id {
            self.node_id = v;
        }
        if f.shard_port_base.is_some() {
            self.shard_port_base = f.shard_port_base;
        }
        if f.advertise_host.is_some() {
            self.advertise_host = f.advertise_host;
        }
        if let Some(v) = f.resp_listen {
            self.resp_listen = parse_resp_listen(&v)?;
        }
        if let Some(v) = f.seeds {
            self.seeds = v;
        }
        if let Some(v) = f.replicas {
            self.replication.n = v;
        }
        if let Some(v) = f.read_quorum {
            self.replication.r = v;
        }
        if let Some(v) = f.write_quorum {
            self.replication.w = v;
        }
        if let Some(v) = f.vnodes {
            self.vnodes = v;
        }
        if let Some(v) = f.request_timeout_ms {
            self.request_timeout_ms = v;
        }
        if let Some(v) = f.lww {
            self.lww = v;
        }
        Ok(())
    }

    pub fn load_file(&mut self, path: &std::path::Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let f: FileConfig = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        self.apply_file(f)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.shards == 0 || self.shards > 1024 {
            return Err(format!("shards must be 1..=1024, got {}", self.shards));
        }
        if self.resp_listen == Some(self.listen) {
            return Err(format!("the RESP port and the native port are both {}", self.listen));
        }
        let r = &self.replication;
        if r.n == 0 || r.r == 0 || r.w == 0 || r.r > r.n || r.w > r.n {
            return Err(format!("need 1 <= R, W <= N; got N={} R={} W={}", r.n, r.r, r.w));
        }
        if self.vnodes == 0 || self.vnodes > crate::ring::MAX_VNODES {
            return Err(format!("vnodes must be 1..={}", crate::ring::MAX_VNODES));
        }
        if !self.cpus.is_empty() && self.cpus.len() < self.shards {
            return Err(format!("{} shards but only {} CPUs listed in cpus", self.shards, self.cpus.len()));
        }
        if !self.cpus.is_empty() && !self.pin_cores {
            return Err("cpus pins the shards; it cannot go with pin_cores = false".into());
        }
        if self.max_in_flight_per_connection == 0 {
            return Err("max_in_flight_per_connection must be at least 1".into());
        }
        self.compaction.validate().map_err(|e| format!("compaction: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults_and_rejects_unknown_keys() {
        let mut c = ServeConfig::default();
        assert!(c.prefault_memory && c.flush_fills_block_cache);
        let f: FileConfig =
            toml::from_str("shards = 3\nsync = \"interval:5\"\ncompaction = \"tiered\"\nprefault_memory = false\nflush_fills_block_cache = false")
                .unwrap();
        c.apply_file(f).unwrap();
        assert!(!c.prefault_memory && !c.flush_fills_block_cache);
        assert_eq!(c.wal_group_grow_micros, 500);
        assert_eq!(c.shards, 3);
        assert_eq!(c.sync, SyncMode::Interval(std::time::Duration::from_millis(5)));
        assert!(matches!(c.compaction, CompactionStrategy::Tiered(_)));
        assert!(toml::from_str::<FileConfig>("shardz = 3").is_err());
        let bad: FileConfig = toml::from_str("sync = \"sometimes\"").unwrap();
        assert!(c.apply_file(bad).is_err());
    }

    #[test]
    fn cpu_lists_parse_as_taskset_takes_them_and_bad_ones_say_why() {
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert_eq!(parse_cpu_list("3,1").unwrap(), vec![3, 1]);
        assert_eq!(parse_cpu_list("0-3,6").unwrap(), vec![0, 1, 2, 3, 6]);
        assert_eq!(parse_cpu_list(" 2 - 3 ").unwrap(), vec![2, 3]);
        for (bad, why) in [
            ("", "not a CPU number"),
            ("1,", "not a CPU number"),
            ("a", "not a CPU number"),
            ("-1", "not a CPU number"),
            ("3-1", "backwards"),
            ("1,0-2", "listed twice"),
            ("0-99999999999", "out of range"),
        ] {
            let e = parse_cpu_list(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_memtable_is_a_sixteenth_of_memory_per_shard_between_64_and_256_mib() {
        const MIB: u64 = 1 << 20;
        const GIB: u64 = 1 << 30;
        let auto = |total, shards| auto_memtable_bytes(total, shards) as u64;
        assert_eq!(auto(Some(24 * GIB), 2), 256 * MIB, "capped");
        assert_eq!(auto(Some(8 * GIB), 4), 128 * MIB);
        assert_eq!(auto(Some(3 * GIB), 1), 192 * MIB);
        assert_eq!(auto(Some(2 * GIB + 12345), 1), 128 * MIB, "whole MiB");
        assert_eq!(auto(Some(4 * GIB), 64), 64 * MIB, "at least 64 MiB");
        assert_eq!(auto(None, 1), 64 * MIB, "memory unknown");
        assert_eq!(auto(Some(u64::MAX), 0), 256 * MIB);

        // Unset, it follows the machine; set, it is what was set.
        let mut c = ServeConfig::default();
        assert_eq!(c.memtable_bytes(), auto_memtable_bytes(total_memory(), c.shards));
        assert!(total_memory().is_some_and(|m| m > 0));
        c.apply_file(toml::from_str("memtable_bytes_max = 1048576").unwrap()).unwrap();
        assert_eq!(c.memtable_bytes(), 1 << 20);
    }

    #[test]
    fn leveled_l1_holds_at_least_the_l0_that_triggers_a_compaction() {
        const MIB: u64 = 1 << 20;
        let base = |c: &CompactionStrategy| match c {
            CompactionStrategy::Leveled(l) => Some((l.base_level_bytes, l.l0_trigger_files)),
            CompactionStrategy::Tiered(_) => None,
        };
        let c = ServeConfig::default();
        assert_eq!(base(&c.compaction_for(256 << 20)), Some((1024 * MIB, 4)));
        assert_eq!(base(&c.compaction_for(64 << 20)), Some((256 * MIB, 4)));
        assert_eq!(base(&c.compaction_for(1 << 20)), Some((256 * MIB, 4)), "never below the default");
        let t = ServeConfig { compaction: parse_compaction("tiered").unwrap(), ..ServeConfig::default() };
        assert_eq!(base(&t.compaction_for(256 << 20)), None);
    }

    #[test]
    fn cpus_place_the_shards_and_set_their_number_unless_shards_is_given() {
        let mut c = ServeConfig::default();
        c.apply_file(toml::from_str("cpus = \"1\"").unwrap()).unwrap();
        assert_eq!((c.shards, c.placement(0, 2)), (1, Some(1)));
        c.validate().unwrap();

        let mut c = ServeConfig::default();
        c.apply_file(toml::from_str("cpus = \"2,0\"\nshards = 1").unwrap()).unwrap();
        assert_eq!((c.shards, c.placement(0, 4)), (1, Some(2)));

        // More shards than CPUs listed, or listed CPUs without pinning: refused.
        c.shards = 3;
        assert!(c.validate().unwrap_err().contains("only 2 CPUs"));
        c.shards = 2;
        c.pin_cores = false;
        assert!(c.validate().is_err());

        // Without a list: CPU i while there are enough CPUs, else unpinned.
        let mut c = ServeConfig { shards: 2, ..ServeConfig::default() };
        assert_eq!((c.placement(0, 2), c.placement(1, 2)), (Some(0), Some(1)));
        assert_eq!(c.placement(1, 1), None);
        c.pin_cores = false;
        assert_eq!(c.placement(0, 2), None);
    }
}
