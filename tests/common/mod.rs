//! Helpers for integration tests that run the real `ringkv` binary on
//! loopback: a free port on a 127.0.0.x address, a temp dir, and a process
//! that is killed (and its dir removed) when the test ends, pass or fail.
#![allow(dead_code)]

mod bounded;
pub use bounded::run_bounded;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ringkv");

/// A fresh directory under the target dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
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

/// A free TCP port on `ip` (a 127.0.0.x address), never the same one twice
/// in this test process (the kernel may hand a just-closed port out again,
/// and ringkv's listeners use SO_REUSEPORT, so a clash would not even fail).
pub fn free_addr(ip: &str) -> SocketAddr {
    static GIVEN: std::sync::Mutex<Vec<SocketAddr>> = std::sync::Mutex::new(Vec::new());
    loop {
        let a = TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap();
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&a) {
            given.push(a);
            return a;
        }
    }
}

/// True if a ringkv node answers a PING at `addr`.
pub fn ping(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut frame = Vec::new();
    ringkv::protocol::encode_request(&ringkv::protocol::Request::Ping, 1, &mut frame);
    if s.write_all(&frame).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            return false;
        }
        got.extend_from_slice(&buf[..n]);
        if let Ok(Some((f, _))) = ringkv::protocol::decode_response(&got, &ringkv::protocol::Limits::DEFAULT) {
            return matches!(f.body, ringkv::protocol::Response::Pong);
        }
    }
    false
}

pub struct Server {
    pub child: Option<Child>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub args: Vec<String>,
}

impl Server {
    /// Start `ringkv serve` on `addr` with data in `data_dir`, and wait until it accepts.
    pub fn start(addr: SocketAddr, data_dir: &Path, extra: &[&str]) -> Server {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            addr.to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        // Tests run in parallel: none may take the default RESP port (a
        // server refuses a port that another one listens on).
        if !extra.contains(&"--resp-listen") {
            args.extend(["--resp-listen".to_string(), "off".to_string()]);
        }
        let mut s = Server { child: None, addr, data_dir: data_dir.to_path_buf(), args };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let child = Command::new(BIN)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(match std::env::var_os("RINGKV_TEST_LOG") {
                Some(_) => Stdio::inherit(),
                None => Stdio::null(),
            })
            .spawn()
            .expect("start ringkv");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        // A real request, not just a TCP connect: after a SIGKILL the old
        // process's io_uring may keep its listening socket alive for a few
        // milliseconds (the kernel tears rings down asynchronously), and that
        // socket accepts connections and then resets them.
        while !ping(self.addr) {
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("ringkv exited during startup: {st}");
            }
            assert!(Instant::now() < deadline, "ringkv did not start listening on {}", self.addr);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, for real.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (bounded) for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("ringkv did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
    }

    /// The RESP address given with `--resp-listen`, if any.
    pub fn resp_addr(&self) -> Option<SocketAddr> {
        let i = self.args.iter().position(|a| a == "--resp-listen")?;
        self.args.get(i + 1)?.parse().ok()
    }

    /// Run redis-cli against this server's RESP port.
    pub fn redis_cli(&self, args: &[&str]) -> String {
        let a = self.resp_addr().expect("server started with --resp-listen");
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", &a.ip().to_string(), "-p", &a.port().to_string()]).args(args);
        let out = run_bounded(&mut cmd, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("redis-cli {args:?} (Debian package redis-tools; .ci/run installs it): {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run the CLI against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args).arg("--addr").arg(self.addr.to_string());
        run_bounded(&mut cmd, Duration::from_secs(30)).unwrap_or_else(|e| panic!("ringkv {args:?}: {e}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}
