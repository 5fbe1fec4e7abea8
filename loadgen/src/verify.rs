//! `--verify FILE`: a log of every write a run sends ("B key digest" before
//! sending, "A key digest" once acknowledged), and `check`, which reads every
//! logged key back and proves no acknowledged write was lost.
//!
//! What a key may hold after a crash: lines are in real-time order (one
//! writer, a line is written before a request is sent and after its reply
//! arrived). Let M be the position of the latest "B" among acknowledged writes
//! of the key. The key must hold the value of a write whose ack came after M
//! (the last acknowledged write, or one acknowledged concurrently with it), or
//! of a write never acknowledged (in flight at the crash, it may have landed).
//! It may be absent only if no write of it was acknowledged. Values are stamped
//! with a unique id per write, so digests (xxh3-64) tell writes apart.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

use clap::Args;

use crate::target::{Client, Target};

pub const HEADER: &str = "# ringkv-loadgen verify v1";

pub fn digest(v: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(v)
}

/// The writer side, shared by all threads (a mutex keeps lines in real-time order).
pub struct VerifyLog {
    w: Mutex<BufWriter<std::fs::File>>,
}

impl VerifyLog {
    pub fn create(path: &Path) -> Result<VerifyLog, String> {
        let f = std::fs::File::create(path).map_err(|e| format!("create {}: {e}", path.display()))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        writeln!(w, "{HEADER}").map_err(|e| e.to_string())?;
        Ok(VerifyLog { w: Mutex::new(w) })
    }
    pub fn begin(&self, key: &[u8], d: u64) {
        self.line(b'B', key, d)
    }
    pub fn ack(&self, key: &[u8], d: u64) {
        self.line(b'A', key, d)
    }
    fn line(&self, kind: u8, key: &[u8], d: u64) {
        let mut w = self.w.lock().unwrap();
        let _ = w.write_all(&[kind, b' ']);
        let _ = w.write_all(key);
        let _ = writeln!(w, " {d:016x}");
    }
    pub fn finish(&self) -> Result<(), String> {
        let mut w = self.w.lock().unwrap();
        w.flush().map_err(|e| format!("verify log: {e}"))?;
        w.get_ref().sync_all().map_err(|e| format!("verify log: {e}"))
    }
}

#[derive(Debug, Default, Clone)]
struct Write_ {
    digest: u64,
    begin: usize,
    ack: Option<usize>,
}

/// Writes of one key, in begin order.
#[derive(Debug, Default, Clone)]
pub struct KeyHistory {
    writes: Vec<Write_>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// An acknowledged write exists but the key is absent.
    Missing {
        last_acked: u64,
    },
    /// The value is none of the acceptable writes.
    Wrong {
        got: u64,
        last_acked: Option<u64>,
    },
}

impl KeyHistory {
    fn max_acked_begin(&self) -> Option<usize> {
        self.writes.iter().filter(|w| w.ack.is_some()).map(|w| w.begin).max()
    }
    fn last_acked(&self) -> Option<u64> {
        let m = self.max_acked_begin()?;
        self.writes.iter().find(|w| w.begin == m).map(|w| w.digest)
    }
    pub fn judge(&self, value: Option<u64>) -> Verdict {
        let m = self.max_acked_begin();
        match (value, m) {
            (None, None) => Verdict::Ok,
            (None, Some(_)) => Verdict::Missing { last_acked: self.last_acked().unwrap() },
            (Some(d), m) => {
                let ok = self.writes.iter().any(|w| {
                    w.digest == d
                        && match (w.ack, m) {
                            (None, _) | (_, None) => true,
                            (Some(a), Some(m)) => a > m,
                        }
                });
                if ok {
                    Verdict::Ok
                } else {
                    Verdict::Wrong { got: d, last_acked: self.last_acked() }
                }
            }
        }
    }
}

/// Parse a verify log into per-key histories (key order is first appearance).
/// Keys in order of first appearance, and each key's writes.
pub type Parsed = (Vec<Vec<u8>>, HashMap<Vec<u8>, KeyHistory>);

pub fn parse(r: impl BufRead) -> Result<Parsed, String> {
    let mut order = Vec::new();
    let mut keys: HashMap<Vec<u8>, KeyHistory> = HashMap::new();
    let mut pending: HashMap<(Vec<u8>, u64), Vec<usize>> = HashMap::new();
    for (pos, line) in r.split(b'\n').enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let bad = || format!("verify log line {}: {:?}", pos + 1, String::from_utf8_lossy(&line));
        if line.len() < 2 + 1 + 17 || line[1] != b' ' {
            return Err(bad());
        }
        let (head, hex) = line.split_at(line.len() - 16);
        let d = u64::from_str_radix(std::str::from_utf8(hex).map_err(|_| bad())?, 16).map_err(|_| bad())?;
        if head[head.len() - 1] != b' ' {
            return Err(bad());
        }
        let key = head[2..head.len() - 1].to_vec();
        match line[0] {
            b'B' => {
                let h = keys.entry(key.clone()).or_insert_with(|| {
                    order.push(key.clone());
                    KeyHistory::default()
                });
                pending.entry((key, d)).or_default().push(h.writes.len());
                h.writes.push(Write_ { digest: d, begin: pos, ack: None });
            }
            b'A' => {
                let idx =
                    pending
                        .get_mut(&(key.clone(), d))
                        .and_then(|v| if v.is_empty() { None } else { Some(v.remove(0)) });
                let Some(i) = idx else { return Err(format!("{}: ack without begin", bad())) };
                keys.get_mut(&key).unwrap().writes[i].ack = Some(pos);
            }
            _ => return Err(bad()),
        }
    }
    Ok((order, keys))
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The log written by `run --verify FILE`.
    #[arg(long)]
    pub verify: PathBuf,
    /// native://HOST:PORT or resp://HOST:PORT
    #[arg(long)]
    pub target: Target,
    /// Reads in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
}

pub fn check(a: CheckArgs) -> Result<bool, String> {
    let f = std::fs::File::open(&a.verify).map_err(|e| format!("open {}: {e}", a.verify.display()))?;
    let (order, keys) = parse(std::io::BufReader::new(f))?;
    let writes: usize = keys.values().map(|h| h.writes.len()).sum();
    let acked: usize = keys.values().map(|h| h.writes.iter().filter(|w| w.ack.is_some()).count()).sum();
    eprintln!("check: {} keys, {writes} writes begun, {acked} acknowledged; reading from {}", order.len(), a.target);
    let target = a.target.clone();
    let conc = a.concurrency.max(1);
    let order = Rc::new(order);
    let order2 = order.clone();
    let got: Vec<Result<Option<u64>, String>> = ringkv::rt::block_on(async move {
        let order = order2;
        let client = Client::connect(&target).await?;
        let results = Rc::new(std::cell::RefCell::new(vec![Ok(None); order.len()]));
        let next = Rc::new(std::cell::Cell::new(0usize));
        let mut tasks = Vec::new();
        for _ in 0..conc {
            let (client, order, results, next) = (client.clone(), order.clone(), results.clone(), next.clone());
            tasks.push(glommio::spawn_local(async move {
                loop {
                    let i = next.get();
                    if i >= order.len() {
                        break;
                    }
                    next.set(i + 1);
                    let r = client.get(&order[i]).await.map(|v| v.map(|v| digest(&v))).map_err(|e| e.msg);
                    results.borrow_mut()[i] = r;
                }
            }));
        }
        for t in tasks {
            t.await;
        }
        let v = results.borrow().clone();
        Ok::<_, String>(v)
    })?;
    let (mut ok, mut missing, mut wrong, mut errors) = (0usize, 0usize, 0usize, 0usize);
    let mut report = Vec::new();
    for (key, r) in order.iter().zip(got) {
        let name = String::from_utf8_lossy(key).into_owned();
        match r {
            Err(e) => {
                errors += 1;
                report.push(format!("{name}: read failed: {e}"));
            }
            Ok(v) => match keys[key].judge(v) {
                Verdict::Ok => ok += 1,
                Verdict::Missing { last_acked } => {
                    missing += 1;
                    report.push(format!("{name}: LOST: absent, last acknowledged write {last_acked:016x}"));
                }
                Verdict::Wrong { got, last_acked } => {
                    wrong += 1;
                    let la = last_acked.map(|d| format!("{d:016x}")).unwrap_or_else(|| "none".into());
                    report.push(format!("{name}: WRONG: holds {got:016x}, last acknowledged write {la}"));
                }
            },
        }
    }
    println!("check: {} keys: {ok} ok, {missing} lost, {wrong} wrong value, {errors} read errors", keys.len());
    for l in report.iter().take(50) {
        println!("  {l}");
    }
    if report.len() > 50 {
        println!("  ... and {} more", report.len() - 50);
    }
    Ok(missing + wrong + errors == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(log: &str) -> KeyHistory {
        let (_, mut k) = parse(std::io::Cursor::new(log.as_bytes())).unwrap();
        k.remove(b"k".as_slice()).unwrap()
    }

    const A: &str = "0000000000000001";
    const B: &str = "0000000000000002";
    const C: &str = "0000000000000003";

    #[test]
    fn last_acked_or_later_begun() {
        let h = hist(&format!("B k {A}\nA k {A}\nB k {B}\nA k {B}\nB k {C}\n"));
        assert_eq!(h.judge(Some(2)), Verdict::Ok);
        assert_eq!(h.judge(Some(3)), Verdict::Ok, "in flight at the crash");
        assert_eq!(h.judge(Some(1)), Verdict::Wrong { got: 1, last_acked: Some(2) });
        assert_eq!(h.judge(None), Verdict::Missing { last_acked: 2 });
        assert!(matches!(h.judge(Some(9)), Verdict::Wrong { .. }));
    }

    #[test]
    fn concurrent_writes_either_order() {
        // A and B overlap; both acked: the server may have applied them in either order.
        let h = hist(&format!("B k {A}\nB k {B}\nA k {B}\nA k {A}\n"));
        assert_eq!(h.judge(Some(1)), Verdict::Ok);
        assert_eq!(h.judge(Some(2)), Verdict::Ok);
    }

    #[test]
    fn never_acked_may_be_absent() {
        let h = hist(&format!("B k {A}\n"));
        assert_eq!(h.judge(None), Verdict::Ok);
        assert_eq!(h.judge(Some(1)), Verdict::Ok);
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(parse(std::io::Cursor::new(b"X k 0000000000000001\n".as_slice())).is_err());
        assert!(parse(std::io::Cursor::new(format!("A k {A}\n").into_bytes())).is_err());
        assert!(parse(std::io::Cursor::new(b"B k zz\n".as_slice())).is_err());
    }
}
