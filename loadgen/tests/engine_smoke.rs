//! Runs `ringkv-loadgen engine` end to end on a small key space (real DmaDisk,
//! so the directory must be on a filesystem with O_DIRECT: CARGO_TARGET_TMPDIR
//! is under target/, next to the sources).

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringkv-loadgen"))
}

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("loadgen-smoke").join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn run_ok(args: &[&str]) -> String {
    let out = bin().args(args).output().expect("run ringkv-loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ringkv-loadgen {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The db_bench-style result line of `bench`.
fn line<'a>(out: &'a str, bench: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{bench:<12} : ")) && l.contains("micros/op"))
        .unwrap_or_else(|| panic!("no {bench} line in:\n{out}"))
}

#[test]
fn every_benchmark_runs_and_reports() {
    let dir = scratch("all");
    let out = run_ok(&[
        "engine",
        "--benchmarks",
        "fillrandom,readrandom,overwrite,readseq,fillseq,readmissing",
        "--num",
        "3000",
        "--dir",
        dir.to_str().unwrap(),
        "--settle",
    ]);
    for b in ["fillrandom", "readrandom", "overwrite", "readseq", "fillseq", "readmissing"] {
        let l = line(&out, b);
        assert!(l.contains(" ops/sec ") && l.contains(" operations;"), "{l}");
    }
    // fillseq wiped the directory, then wrote every key once: all found, none missing.
    assert!(line(&out, "readmissing").ends_with("(0 of 3000 found)"), "{out}");
    let rr = line(&out, "readrandom");
    assert!(!rr.contains("(0 of 3000 found)") && rr.contains("of 3000 found)"), "{rr}");
    // readseq ran after fillrandom + overwrite: between 1 and 3000 distinct keys.
    let rs = line(&out, "readseq");
    let n: u64 = rs.split(" seconds ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((1..=3000).contains(&n), "{rs}");
    assert!(out.contains("Latency per operation") && out.contains("write-amp") && out.contains("space-amp"), "{out}");
    assert!(out.contains("3000 live keys"), "after fillseq every key is live:\n{out}");
}

#[test]
fn sync_always_uses_concurrent_tasks() {
    let dir = scratch("sync");
    let d = dir.to_str().unwrap();
    let out = run_ok(&[
        "engine",
        "--benchmarks",
        "fillrandom,readrandom",
        "--num",
        "500",
        "--sync",
        "always",
        "--concurrency",
        "8",
        "--dir",
        d,
    ]);
    assert!(line(&out, "fillrandom").ends_with("(concurrency 8)"), "{out}");
    assert!(out.contains("Concurrency: 8 task(s)"), "{out}");
    // --use-existing keeps the data: a readrandom-only run still finds keys.
    let again = run_ok(&["engine", "--benchmarks", "readrandom", "--num", "500", "--use-existing", "--dir", d]);
    assert!(!line(&again, "readrandom").contains("(0 of 500 found)"), "{again}");
}

#[test]
fn rejects_unsupported_threads() {
    let dir = scratch("threads");
    let out = bin().args(["engine", "--threads", "2", "--num", "10", "--dir", dir.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only 1 is supported"));
}
