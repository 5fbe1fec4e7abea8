//! Workloads of `ringkv-loadgen run`: operation mixes (YCSB A–F presets or a
//! read/write percentage), key distributions (uniform, YCSB's scrambled
//! zipfian, latest, sequential) and value sizes. Pure: no I/O.

use std::sync::atomic::{AtomicU64, Ordering};

/// A small, fast PRNG (splitmix64). Each task has its own.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n); n > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// YCSB's `ZipfianGenerator` (Gray et al., "Quickly generating billion-record
/// synthetic databases"): item 0 is the most popular. The item count may grow
/// (for `latest`); zeta is then extended incrementally, as YCSB does.
#[derive(Clone, Debug)]
pub struct Zipfian {
    theta: f64,
    alpha: f64,
    zeta2: f64,
    items: u64,
    zetan: f64,
    eta: f64,
}

pub fn zeta(from: u64, to: u64, theta: f64, start: f64) -> f64 {
    let mut s = start;
    for i in from..to {
        s += 1.0 / ((i + 1) as f64).powf(theta);
    }
    s
}

impl Zipfian {
    pub fn new(items: u64, theta: f64) -> Zipfian {
        let items = items.max(1);
        let zeta2 = zeta(0, 2, theta, 0.0);
        let zetan = zeta(0, items, theta, 0.0);
        let mut z = Zipfian { theta, alpha: 1.0 / (1.0 - theta), zeta2, items, zetan, eta: 0.0 };
        z.eta = z.eta_of();
        z
    }
    fn eta_of(&self) -> f64 {
        (1.0 - (2.0 / self.items as f64).powf(1.0 - self.theta)) / (1.0 - self.zeta2 / self.zetan)
    }
    /// Next item in [0, items); `items` may have grown since the last call.
    pub fn next(&mut self, rng: &mut Rng, items: u64) -> u64 {
        let items = items.max(1);
        if items > self.items {
            self.zetan = zeta(self.items, items, self.theta, self.zetan);
            self.items = items;
            self.eta = self.eta_of();
        }
        let u = rng.next_f64();
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(items - 1);
        }
        let v = (items as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        v.min(items - 1)
    }
}

/// YCSB's `Utils.fnvhash64` (FNV-1a over the 8 bytes of the number, low byte first).
pub fn fnv64(mut v: u64) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for _ in 0..8 {
        let octet = v & 0xff;
        v >>= 8;
        h ^= octet;
        h = h.wrapping_mul(1_099_511_628_211);
    }
    h
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Dist {
    Uniform,
    /// YCSB's scrambled zipfian: zipfian ranks hashed (FNV-1a) over the key space,
    /// so the popular keys are spread out rather than 0, 1, 2, ...
    Zipfian,
    /// YCSB's skewed-latest: zipfian over the most recently inserted keys.
    Latest,
    /// 0, 1, 2, ... (wrapping), shared by all tasks.
    Sequential,
}

impl Dist {
    pub fn name(self) -> &'static str {
        match self {
            Dist::Uniform => "uniform",
            Dist::Zipfian => "zipfian",
            Dist::Latest => "latest",
            Dist::Sequential => "sequential",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// 50% read, 50% update (zipfian)
    A,
    /// 95% read, 5% update (zipfian)
    B,
    /// 100% read (zipfian)
    C,
    /// 95% read, 5% insert (latest)
    D,
    /// 95% short scan, 5% insert (zipfian)
    E,
    /// 50% read, 50% read-modify-write (zipfian)
    F,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    Read,
    Update,
    Insert,
    Scan,
    Rmw,
}

impl OpKind {
    pub const ALL: [OpKind; 5] = [OpKind::Read, OpKind::Update, OpKind::Insert, OpKind::Scan, OpKind::Rmw];
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Update => "update",
            OpKind::Insert => "insert",
            OpKind::Scan => "scan",
            OpKind::Rmw => "rmw",
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Proportions in percent (they sum to 100).
#[derive(Clone, Debug, PartialEq)]
pub struct Mix {
    pub read: f64,
    pub update: f64,
    pub insert: f64,
    pub scan: f64,
    pub rmw: f64,
}

impl Mix {
    pub fn preset(p: Preset) -> (Mix, Dist) {
        let z = Mix { read: 0.0, update: 0.0, insert: 0.0, scan: 0.0, rmw: 0.0 };
        match p {
            Preset::A => (Mix { read: 50.0, update: 50.0, ..z }, Dist::Zipfian),
            Preset::B => (Mix { read: 95.0, update: 5.0, ..z }, Dist::Zipfian),
            Preset::C => (Mix { read: 100.0, ..z }, Dist::Zipfian),
            Preset::D => (Mix { read: 95.0, insert: 5.0, ..z }, Dist::Latest),
            Preset::E => (Mix { scan: 95.0, insert: 5.0, ..z }, Dist::Zipfian),
            Preset::F => (Mix { read: 50.0, rmw: 50.0, ..z }, Dist::Zipfian),
        }
    }
    pub fn read_write(read_pct: f64) -> Mix {
        Mix { read: read_pct, update: 100.0 - read_pct, insert: 0.0, scan: 0.0, rmw: 0.0 }
    }
    pub fn pick(&self, rng: &mut Rng) -> OpKind {
        let mut x = rng.next_f64() * 100.0;
        for (k, p) in [
            (OpKind::Read, self.read),
            (OpKind::Update, self.update),
            (OpKind::Insert, self.insert),
            (OpKind::Scan, self.scan),
            (OpKind::Rmw, self.rmw),
        ] {
            if x < p {
                return k;
            }
            x -= p;
        }
        // Rounding: the last kind with a share.
        [OpKind::Rmw, OpKind::Scan, OpKind::Insert, OpKind::Update, OpKind::Read]
            .into_iter()
            .find(|k| self.share(*k) > 0.0)
            .unwrap_or(OpKind::Read)
    }
    pub fn share(&self, k: OpKind) -> f64 {
        match k {
            OpKind::Read => self.read,
            OpKind::Update => self.update,
            OpKind::Insert => self.insert,
            OpKind::Scan => self.scan,
            OpKind::Rmw => self.rmw,
        }
    }
}

/// State shared by every task of every thread: the insert frontier and the
/// sequential cursor.
#[derive(Debug)]
pub struct KeySpace {
    pub keys: u64,
    /// Digits key numbers are zero-padded to (0: not padded), see [`KeySpace::name`].
    pub width: usize,
    /// Next key number an insert takes (starts at `keys`).
    pub insert_next: AtomicU64,
    pub seq_next: AtomicU64,
}

impl KeySpace {
    pub fn new(keys: u64) -> KeySpace {
        KeySpace { keys, width: 0, insert_next: AtomicU64::new(keys), seq_next: AtomicU64::new(0) }
    }

    /// Key numbers zero-padded to the width of the largest, `keys - 1`.
    pub fn zero_padded(keys: u64) -> KeySpace {
        KeySpace { width: keys.saturating_sub(1).to_string().len(), ..KeySpace::new(keys) }
    }

    /// `user{n}`, the key of key number n, its digits zero-padded to `width`.
    /// Padded names sort in number order below `10^width` (inserts past it,
    /// a digit longer, do not), so sequential keys are written in key order;
    /// unpadded, `user10` sorts before `user9`.
    pub fn name(&self, n: u64, out: &mut Vec<u8>) {
        use std::io::Write;
        out.clear();
        let _ = write!(out, "user{n:0width$}", width = self.width);
    }
    /// Keys that exist (loaded plus inserted so far).
    pub fn count(&self) -> u64 {
        self.insert_next.load(Ordering::Relaxed)
    }
}

/// Per-task key chooser.
#[derive(Clone, Debug)]
pub struct KeyChooser {
    dist: Dist,
    zipf: Option<Zipfian>,
}

impl KeyChooser {
    pub fn new(dist: Dist, keys: u64, theta: f64) -> KeyChooser {
        let zipf = match dist {
            Dist::Zipfian | Dist::Latest => Some(Zipfian::new(keys, theta)),
            _ => None,
        };
        KeyChooser { dist, zipf }
    }
    /// Key number of an existing key to read or update.
    pub fn next(&mut self, rng: &mut Rng, ks: &KeySpace) -> u64 {
        let n = ks.count().max(1);
        match self.dist {
            Dist::Uniform => rng.below(n),
            Dist::Sequential => ks.seq_next.fetch_add(1, Ordering::Relaxed) % n,
            Dist::Zipfian => {
                // Zipfian over the loaded key space, then scrambled across all keys.
                let r = self.zipf.as_mut().unwrap().next(rng, ks.keys.max(1));
                fnv64(r) % n
            }
            Dist::Latest => {
                let r = self.zipf.as_mut().unwrap().next(rng, n);
                n - 1 - r
            }
        }
    }
}

/// Value sizes: fixed, or uniform in a..=b.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueSize {
    pub min: usize,
    pub max: usize,
}

impl std::str::FromStr for ValueSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("value size {s:?}: expected N or A..B");
        if let Some((a, b)) = s.split_once("..") {
            let (a, b): (usize, usize) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
            if a > b {
                return Err(bad());
            }
            Ok(ValueSize { min: a, max: b })
        } else {
            let n = s.trim().parse().map_err(|_| bad())?;
            Ok(ValueSize { min: n, max: n })
        }
    }
}

impl std::fmt::Display for ValueSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

impl ValueSize {
    pub fn pick(&self, rng: &mut Rng) -> usize {
        if self.min == self.max {
            self.min
        } else {
            self.min + rng.below((self.max - self.min + 1) as u64) as usize
        }
    }
}

/// A pool of random bytes; values are slices of it at random offsets (as
/// db_bench's `RandomGenerator`), optionally stamped with a unique id.
pub struct ValuePool {
    bytes: Vec<u8>,
}

/// Random bytes a value may start in: 64k distinct values, and a pool that
/// stays in the client's L2 cache. With 1 MiB, copying a value out was a
/// cache miss, 9% of the client's samples at P16 (a client sharing the
/// machine with the server takes that CPU from both).
const POOL_STARTS: usize = 64 << 10;

impl ValuePool {
    pub fn new(max_value: usize, seed: u64) -> ValuePool {
        let mut rng = Rng::new(seed);
        let len = POOL_STARTS + max_value;
        let mut bytes = Vec::with_capacity(len + 8);
        while bytes.len() < len {
            bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        bytes.truncate(len);
        ValuePool { bytes }
    }
    /// A value of `len` bytes into `out`. With `stamp`, its first bytes (up to 16)
    /// are the stamp, so that every write of a run has a distinct value.
    pub fn fill(&self, rng: &mut Rng, len: usize, stamp: Option<u128>, out: &mut Vec<u8>) {
        let off = rng.below((self.bytes.len() - len + 1) as u64) as usize;
        out.clear();
        out.extend_from_slice(&self.bytes[off..off + len]);
        if let Some(s) = stamp {
            let b = s.to_le_bytes();
            let n = len.min(16);
            out[..n].copy_from_slice(&b[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipfian_is_skewed_and_in_range() {
        let mut z = Zipfian::new(1000, 0.99);
        let mut rng = Rng::new(1);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            let v = z.next(&mut rng, 1000);
            counts[v as usize] += 1;
        }
        // Item 0 gets about 1/zeta(1000) ~ 13% of draws; the tail far less.
        assert!(counts[0] > 10_000, "{}", counts[0]);
        assert!(counts[0] > 20 * counts[500].max(1));
    }

    #[test]
    fn zipfian_grows() {
        let mut z = Zipfian::new(10, 0.99);
        let mut rng = Rng::new(2);
        for _ in 0..1000 {
            assert!(z.next(&mut rng, 20) < 20);
        }
        let fresh = Zipfian::new(20, 0.99);
        assert!((z.zetan - fresh.zetan).abs() < 1e-9);
    }

    #[test]
    fn presets_sum_to_100_and_pick_kinds() {
        let mut rng = Rng::new(3);
        for p in [Preset::A, Preset::B, Preset::C, Preset::D, Preset::E, Preset::F] {
            let (m, _) = Mix::preset(p);
            let sum = m.read + m.update + m.insert + m.scan + m.rmw;
            assert_eq!(sum, 100.0);
            for _ in 0..100 {
                assert!(m.share(m.pick(&mut rng)) > 0.0);
            }
        }
        let m = Mix::read_write(95.0);
        let reads = (0..10_000).filter(|_| m.pick(&mut rng) == OpKind::Read).count();
        assert!((9300..9700).contains(&reads), "{reads}");
    }

    #[test]
    fn padded_key_names_sort_in_number_order() {
        let ks = KeySpace::zero_padded(1000);
        let names: Vec<Vec<u8>> = [0, 7, 42, 100, 999]
            .iter()
            .map(|&n| {
                let mut k = Vec::new();
                ks.name(n, &mut k);
                k
            })
            .collect();
        assert_eq!(names[0], b"user000");
        assert_eq!(names[4], b"user999");
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        let mut k = Vec::new();
        KeySpace::new(1000).name(42, &mut k);
        assert_eq!(k, b"user42");
    }

    #[test]
    fn latest_prefers_new_keys() {
        let ks = KeySpace::new(1000);
        let mut c = KeyChooser::new(Dist::Latest, 1000, 0.99);
        let mut rng = Rng::new(4);
        let recent = (0..1000).filter(|_| c.next(&mut rng, &ks) >= 900).count();
        assert!(recent > 500, "{recent}");
    }

    #[test]
    fn value_size_parses() {
        assert_eq!("100".parse::<ValueSize>().unwrap(), ValueSize { min: 100, max: 100 });
        assert_eq!("10..20".parse::<ValueSize>().unwrap(), ValueSize { min: 10, max: 20 });
        assert!("20..10".parse::<ValueSize>().is_err());
        let mut rng = Rng::new(5);
        let v = ValueSize { min: 10, max: 20 };
        assert!((0..100).all(|_| (10..=20).contains(&v.pick(&mut rng))));
    }

    #[test]
    fn stamped_values_differ() {
        let pool = ValuePool::new(100, 1);
        let mut rng = Rng::new(6);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        pool.fill(&mut rng, 100, Some(1), &mut a);
        pool.fill(&mut rng, 100, Some(2), &mut b);
        assert_eq!(a.len(), 100);
        assert_ne!(a[..16], b[..16]);
    }
}
