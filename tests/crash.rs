//! Crash test: a child process writes with sync `always` and reports each
//! write it has been told is complete; the parent kills it with SIGKILL at a
//! random moment, reopens the data directory, and checks that every reported
//! write is there and no reported delete was undone. Repeated on the same
//! directory, so recovery also runs on top of earlier recoveries.
//!
//! The child is this same test binary, re-run with `--exact crash_child
//! --ignored` and RINGKV_CRASH_DIR set.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use ringkv::storage::{DmaDisk, Engine, Options};

const TASKS: u64 = 16;

fn options(dir: PathBuf) -> Options {
    let mut o = Options::new(dir);
    // Small memtables and tables so flushes and compactions happen under the kill too.
    o.memtable_bytes_max = 256 << 10;
    o.wal_segment_bytes = 1 << 20;
    o
}

/// The child: TASKS concurrent writers, each owning keys `t<task>-<n>`.
/// Line protocol on stdout: `begin <key> <val|->`, then `ack <key> <val|->`.
#[test]
#[ignore]
fn crash_child() {
    let Ok(dir) = std::env::var("RINGKV_CRASH_DIR") else { return };
    let seed: u64 = std::env::var("RINGKV_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    ringkv::rt::block_on(async move {
        let engine = Engine::open(DmaDisk, options(PathBuf::from(dir))).await.expect("open");
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let e: Rc<Engine<DmaDisk>> = engine.clone();
            tasks.push(glommio::spawn_local(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed * 1000 + t);
                for i in 0u64.. {
                    let key = format!("t{t}-{}", rng.gen_range(0..50));
                    if rng.gen_bool(0.2) {
                        println!("begin {key} -");
                        e.delete(key.as_bytes()).await.expect("delete");
                        println!("ack {key} -");
                    } else {
                        let val = format!("{seed}.{i}.{}", "x".repeat(rng.gen_range(0..200)));
                        println!("begin {key} {val}");
                        e.put(key.as_bytes(), val.as_bytes()).await.expect("put");
                        println!("ack {key} {val}");
                    }
                }
            }));
        }
        for t in tasks {
            t.await;
        }
    });
}

/// Per key: the last acknowledged value (None = deleted) and the values begun since.
#[derive(Default, Clone)]
struct KeyState {
    acked: Option<Option<String>>,
    in_flight: Vec<Option<String>>,
}

#[test]
fn sigkill_loses_no_acknowledged_write() {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let dir = root.join("db");
    let mut rng = rand::rngs::StdRng::seed_from_u64(std::process::id() as u64);
    let mut model: HashMap<String, KeyState> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let rounds = 8;
    for round in 0..rounds {
        assert!(Instant::now() < deadline, "crash test took too long");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env("RINGKV_CRASH_DIR", &dir)
            .env("RINGKV_CRASH_SEED", (round + 1).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let kill_after = Duration::from_millis(rng.gen_range(200..1500));
        let reader = std::thread::spawn(move || {
            // Only whole lines count: the kill can cut the last one short.
            let mut lines = Vec::new();
            let mut r = BufReader::new(stdout);
            loop {
                let mut buf = Vec::new();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if buf.last() == Some(&b'\n') => {
                        buf.pop();
                        lines.push(String::from_utf8_lossy(&buf).into_owned());
                    }
                    Ok(_) => break,
                }
            }
            lines
        });
        std::thread::sleep(kill_after);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        let mut acks = 0;
        for l in &lines {
            let mut parts = l.splitn(3, ' ');
            let (Some(kind), Some(key), Some(val)) = (parts.next(), parts.next(), parts.next()) else { continue };
            if kind != "begin" && kind != "ack" {
                continue; // the test harness's own lines
            }
            let val = (val != "-").then(|| val.to_string());
            let st = model.entry(key.to_string()).or_default();
            if kind == "begin" {
                st.in_flight.push(val);
            } else {
                acks += 1;
                st.acked = Some(val);
                st.in_flight.clear();
            }
        }
        eprintln!("round {round}: killed after {kill_after:?}, {acks} acknowledged writes, {} keys", model.len());
        assert!(acks > 0, "child acknowledged nothing in round {round}");
        // Reopen and check every key.
        let snapshot = model.clone();
        let dir2 = dir.clone();
        let found: HashMap<String, Option<String>> = ringkv::rt::block_on(async move {
            let e = Engine::open(DmaDisk, options(dir2)).await.expect("reopen after SIGKILL");
            let mut out = HashMap::new();
            for k in snapshot.keys() {
                let v = e.get(k.as_bytes()).await.expect("get");
                out.insert(k.clone(), v.map(|v| String::from_utf8(v).unwrap()));
            }
            e.close().await.expect("close");
            out
        });
        for (k, st) in model.iter_mut() {
            let got = found.get(k).cloned().flatten();
            let ok =
                st.acked.as_ref() == Some(&got) || st.in_flight.contains(&got) || (st.acked.is_none() && got.is_none());
            assert!(
                ok,
                "round {round}: key {k}: found {got:?}, last acknowledged {:?}, in flight {:?}",
                st.acked, st.in_flight
            );
            // What is on disk now is the truth the next round builds on.
            st.acked = Some(got);
            st.in_flight.clear();
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
}
