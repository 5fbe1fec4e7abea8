//! `ringkv-loadgen run` and `check` against the real `ringkv serve` on
//! loopback (127.0.0.x): native and RESP runs with JSON and SVG output, and a
//! `--verify` run across a SIGKILL of the server.
//!
//! The server binary is the workspace's `ringkv`, built first with the same
//! cargo (`cargo build -p ringkv --bin ringkv`) into the same target directory.
//! Every process is killed and every directory removed by Drop guards, and
//! every wait is bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const LOADGEN: &str = env!("CARGO_BIN_EXE_ringkv-loadgen");

/// Build (once per test process) and return the path of the `ringkv` binary.
fn server_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root).args(["build", "-p", "ringkv", "--bin", "ringkv"]);
        // The same profile as this test binary: target/<profile>/deps/<test> -> target/<profile>.
        let exe_dir = Path::new(LOADGEN).parent().unwrap().to_path_buf();
        if exe_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(target) = exe_dir.parent() {
            cmd.arg("--target-dir").arg(target);
        }
        let st = run_bounded(cmd.stdout(Stdio::null()), Duration::from_secs(900)).expect("cargo build -p ringkv");
        assert!(st.status.success(), "cargo build -p ringkv failed:\n{}", String::from_utf8_lossy(&st.stderr));
        let bin = exe_dir.join("ringkv");
        assert!(bin.exists(), "no server binary at {}", bin.display());
        bin
    })
    .clone()
}

#[path = "../../tests/common/bounded.rs"]
mod bounded;
use bounded::{run_bounded, wait_bounded};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("loadgen-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_addr(ip: &str) -> SocketAddr {
    static GIVEN: std::sync::Mutex<Vec<SocketAddr>> = std::sync::Mutex::new(Vec::new());
    loop {
        let a = TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap();
        let mut g = GIVEN.lock().unwrap();
        if !g.contains(&a) {
            g.push(a);
            return a;
        }
    }
}

/// One RESP command on a fresh connection; the raw reply.
fn resp(addr: SocketAddr, cmd: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(cmd.as_bytes()).ok()?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// `ringkv serve` with a RESP port; killed on drop.
struct Server {
    child: Option<Child>,
    native: SocketAddr,
    resp: SocketAddr,
}

impl Server {
    fn start(ip: &str, data: &Path, extra: &[&str]) -> Server {
        let (native, resp_addr) = (free_addr(ip), free_addr(ip));
        let child = Command::new(server_bin())
            .args(["serve", "--listen", &native.to_string(), "--resp-listen", &resp_addr.to_string(), "--data-dir"])
            .arg(data)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ringkv");
        let mut s = Server { child: Some(child), native, resp: resp_addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        // A real answer, not just a TCP connect (a SIGKILLed predecessor's
        // socket may linger for a moment).
        while resp(resp_addr, "*1\r\n$4\r\nPING\r\n").as_deref() != Some("+PONG\r\n") {
            if let Some(st) = s.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("ringkv exited during startup: {st}");
            }
            assert!(Instant::now() < deadline, "ringkv did not start on {resp_addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn loadgen(args: &[&str], limit: Duration) -> Output {
    run_bounded(Command::new(LOADGEN).args(args), limit).unwrap_or_else(|e| panic!("ringkv-loadgen {args:?}: {e}"))
}

fn json_of(path: &Path) -> serde_json::Value {
    let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: not JSON: {e}\n{s}", path.display()))
}

#[test]
fn ycsb_a_over_native_and_resp_writes_json_and_plots() {
    let dir = TempDir::new("runs");
    let server = Server::start("127.0.0.41", &dir.0.join("data"), &["--shards", "2", "--sync", "none"]);
    for (name, target) in
        [("native", format!("native://{}", server.native)), ("resp", format!("resp://{}", server.resp))]
    {
        let out = dir.0.join(format!("{name}.json"));
        let plot = dir.0.join(format!("{name}-plots"));
        let o = loadgen(
            &[
                "run",
                "--target",
                &target,
                "--workload",
                "a",
                "--keys",
                "2000",
                "--load",
                "--pipeline",
                "4",
                "--connections",
                "2",
                "--duration",
                "2",
                "--warmup",
                "0.5",
                "--out",
                out.to_str().unwrap(),
                "--plot",
                plot.to_str().unwrap(),
            ],
            Duration::from_secs(60),
        );
        let stdout = String::from_utf8_lossy(&o.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{name}: run failed\n{stdout}\n{stderr}");
        assert!(stdout.contains("p99.99") && stdout.contains("update"), "{name}: no summary table\n{stdout}");
        assert!(stderr.contains("ops/s") && stderr.contains("p99"), "{name}: no progress line\n{stderr}");
        let j = json_of(&out);
        assert_eq!(j["protocol"], name);
        assert_eq!(j["workload"], "ycsb-a");
        assert_eq!(j["errors"], 0, "{name}: errors\n{j}");
        assert!(j["ops_per_sec"].as_f64().unwrap() > 0.0, "{name}: no throughput\n{j}");
        assert!(j["latency_us"]["read"]["count"].as_u64().unwrap() > 0);
        assert!(j["latency_us"]["update"]["p99"].as_f64().unwrap() > 0.0);
        assert_eq!(j["read_misses"], 0, "{name}: --load wrote every key");
        assert!(!j["timeline"].as_array().unwrap().is_empty());
        for svg in ["latency.svg", "throughput.svg"] {
            let s = std::fs::read_to_string(plot.join(svg)).unwrap_or_else(|e| panic!("{name}: {svg}: {e}"));
            assert!(
                s.starts_with("<svg") && s.trim_end().ends_with("</svg>") && s.contains("<polyline"),
                "{name}: {svg}"
            );
        }
    }
}

#[test]
fn a_zipfian_over_millions_of_keys_spends_the_run_on_operations() {
    // Each of the 128 operation tasks once computed its own zipfian zeta over
    // the whole key space: over 2M keys that held the client thread for the
    // whole run, a handful of operations done. Now it is computed once.
    let dir = TempDir::new("zipf");
    let server = Server::start("127.0.0.42", &dir.0.join("data"), &["--shards", "1", "--sync", "none"]);
    let out = dir.0.join("zipf.json");
    let target = format!("native://{}", server.native);
    let args = ["run", "--target", &target, "--dist", "zipfian", "--keys", "2000000", "--read-pct", "50"];
    let more = ["--connections", "8", "--pipeline", "16", "--duration", "2", "--warmup", "0.5", "--out"];
    let all: Vec<&str> = args.iter().chain(&more).copied().chain([out.to_str().unwrap()]).collect();
    let o = loadgen(&all, Duration::from_secs(120));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j = json_of(&out);
    let rate = j["ops_per_sec"].as_f64().unwrap();
    assert!(rate > 500.0, "{rate} ops/s: the client spent the run elsewhere\n{j}");
}

/// Writes with `--verify` over `proto` (native or resp), a SIGKILL of the
/// server mid-run, a restart, and a `check` over both protocols that finds
/// every acknowledged write. Returns the restarted server and the log.
fn kill_mid_run_then_check(dir: &TempDir, ip: &str, proto: &str) -> (Server, PathBuf) {
    let data = dir.0.join(format!("data-{proto}"));
    let log = dir.0.join(format!("verify-{proto}.log"));
    let mut server = Server::start(ip, &data, &["--shards", "2", "--sync", "always"]);
    let target =
        if proto == "resp" { format!("resp://{}", server.resp) } else { format!("native://{}", server.native) };
    // Writes only (read-pct 0) over a small key space, so keys are rewritten often.
    let mut run = Command::new(LOADGEN)
        .args(["run", "--target", &target, "--read-pct", "0", "--keys", "300"])
        .args(["--pipeline", "8", "--connections", "2", "--duration", "10", "--warmup", "0", "--verify"])
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ringkv-loadgen");
    struct KillOnDrop(Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    server.kill9(); // mid-run: writes are in flight
    let st = wait_bounded(&mut run, Duration::from_secs(30)).expect("loadgen did not stop after the server died");
    let _guard = KillOnDrop(run);
    assert!(st.success(), "run should report errors and exit 0, got {st}");
    let text = std::fs::read_to_string(&log).unwrap();
    let acks = text.lines().filter(|l| l.starts_with("A ")).count();
    assert!(acks > 100, "too few acknowledged writes logged over {proto}: {acks}");

    let server = Server::start(ip, &data, &["--shards", "2", "--sync", "always"]);
    for target in [format!("native://{}", server.native), format!("resp://{}", server.resp)] {
        let o = loadgen(&["check", "--verify", log.to_str().unwrap(), "--target", &target], Duration::from_secs(60));
        assert!(
            o.status.success(),
            "check over {target} of writes over {proto} failed:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(String::from_utf8_lossy(&o.stdout).contains("0 lost, 0 wrong value"));
    }
    (server, log)
}

#[test]
fn verify_run_across_sigkill_then_check() {
    let dir = TempDir::new("verify");
    drop(kill_mid_run_then_check(&dir, "127.0.0.43", "resp"));
    let (server, log) = kill_mid_run_then_check(&dir, "127.0.0.42", "native");
    let text = std::fs::read_to_string(&log).unwrap();

    // A lost write must be caught: overwrite one logged key behind the log's back.
    let key = text.lines().find(|l| l.starts_with("A ")).unwrap().split(' ').nth(1).unwrap().to_string();
    let cmd = format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$5\r\nbogus\r\n", key.len());
    assert_eq!(resp(server.resp, &cmd).as_deref(), Some("+OK\r\n"));
    let o = loadgen(
        &["check", "--verify", log.to_str().unwrap(), "--target", &format!("native://{}", server.native)],
        Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(1), "check must fail:\n{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("{key}: WRONG")));
}
