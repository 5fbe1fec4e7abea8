//! The real `ringkv serve` on loopback: CLI and client round trips, SIGKILL
//! and restart, garbage on one connection, SIGTERM, and the data-dir lock.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::Bound;
use std::time::Duration;

use common::{free_addr, Server, TempDir};
use ringkv::client::Client;
use ringkv::protocol::{self, Consistency, GetRequest, Key, Limits, PutRequest, Request, Response};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn cli_round_trips() {
    let dir = TempDir::new("srv-cli");
    let s = Server::start(free_addr("127.0.0.2"), &dir.0, &["--shards", "2"]);
    let put = s.cli(&["put", "user1/name", "ada lovelace"]);
    assert!(put.status.success(), "{put:?}");
    let get = s.cli(&["get", "user1/name"]);
    assert_eq!(get.status.code(), Some(0));
    assert_eq!(stdout(&get), "ada lovelace\n");
    // Not found: exit 1, nothing on stdout.
    let miss = s.cli(&["get", "user1/nope"]);
    assert_eq!(miss.status.code(), Some(1));
    assert_eq!(stdout(&miss), "");
    // A partition key containing '/' with --sort.
    assert!(s.cli(&["put", "a/b", "v1", "--sort", "s"]).status.success());
    assert_eq!(stdout(&s.cli(&["get", "a/b", "--sort", "s"])), "v1\n");
    assert_eq!(s.cli(&["get", "a/b"]).status.code(), Some(1));
    // Scan with bounds and limit.
    for (sk, v) in [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")] {
        assert!(s.cli(&["put", &format!("p/{sk}"), v]).status.success());
    }
    assert_eq!(stdout(&s.cli(&["scan", "p"])), "a\t1\nb\t2\nc\t3\nd\t4\n");
    assert_eq!(stdout(&s.cli(&["scan", "p", "--from", "b", "--to", "d"])), "b\t2\nc\t3\n");
    assert_eq!(stdout(&s.cli(&["scan", "p", "--limit", "1"])), "a\t1\n");
    // Delete.
    assert!(s.cli(&["del", "user1/name"]).status.success());
    assert_eq!(s.cli(&["get", "user1/name"]).status.code(), Some(1));
    // Errors: exit 2 with a message.
    let bad = common::Server::cli(&s, &["get", &"k".repeat(2000)]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(!bad.stderr.is_empty());
}

#[test]
fn client_scan_pages_and_shard_awareness() {
    let dir = TempDir::new("srv-client");
    let s = Server::start(free_addr("127.0.0.3"), &dir.0, &["--shards", "2"]);
    let mut c = Client::connect(&s.addr.to_string()).unwrap();
    assert_eq!(c.topology().shards(), 2);
    c.ping().unwrap();
    for i in 0..2500u32 {
        c.put(b"big", format!("{i:06}").as_bytes(), format!("v{i}").as_bytes()).unwrap();
    }
    // More than one page (the server caps pages), reassembled in order.
    let all = c.scan(b"big", Bound::Unbounded, Bound::Unbounded, usize::MAX).unwrap();
    assert_eq!(all.len(), 2500);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    let some = c.scan(b"big", Bound::Excluded(b"000010".to_vec()), Bound::Included(b"000020".to_vec()), 100).unwrap();
    assert_eq!(some.first().unwrap().0, b"000011");
    assert_eq!(some.len(), 10);
    // Keys on both shards, through the direct shard connections and through a
    // non-shard-aware client (forwarded over the mesh): same answers.
    let mut plain = Client::connect_with(&s.addr.to_string(), Duration::from_secs(10), false).unwrap();
    for i in 0..200u32 {
        let p = format!("key{i}");
        c.put(p.as_bytes(), b"", p.as_bytes()).unwrap();
        assert_eq!(plain.get(p.as_bytes(), b"").unwrap().as_deref(), Some(p.as_bytes()));
    }
    // Pipelining: many requests in flight, answers matched by id.
    let reqs: Vec<Request> = (0..500u32)
        .map(|i| {
            Request::Put(PutRequest {
                consistency: Consistency::Default,
                key: Key::new(format!("pipe{i}"), ""),
                value: vec![b'x'; (i % 50) as usize],
                context: vec![],
            })
        })
        .collect();
    let resp = plain.pipeline(&reqs).unwrap();
    assert!(resp.iter().all(|r| matches!(r, Response::Put(_))));
    let gets: Vec<Request> = (0..500u32)
        .map(|i| Request::Get(GetRequest { consistency: Consistency::Default, key: Key::new(format!("pipe{i}"), "") }))
        .collect();
    for (i, r) in plain.pipeline(&gets).unwrap().into_iter().enumerate() {
        match r {
            Response::Get(g) => assert_eq!(g.values, vec![vec![b'x'; i % 50]]),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn sigkill_then_restart_keeps_acknowledged_writes() {
    let dir = TempDir::new("srv-kill");
    let mut s = Server::start(free_addr("127.0.0.4"), &dir.0, &["--shards", "2", "--memtable-bytes", "65536"]);
    let mut c = Client::connect(&s.addr.to_string()).unwrap();
    for i in 0..3000u32 {
        c.put(format!("k{i}").as_bytes(), b"", format!("value-{i}").as_bytes()).unwrap();
    }
    for i in (0..3000u32).step_by(3) {
        c.delete(format!("k{i}").as_bytes(), b"").unwrap();
    }
    drop(c);
    s.kill9();
    s.restart();
    let mut c = Client::connect(&s.addr.to_string()).unwrap();
    for i in 0..3000u32 {
        let got = c.get(format!("k{i}").as_bytes(), b"").unwrap();
        if i % 3 == 0 {
            assert_eq!(got, None, "deleted k{i} came back");
        } else {
            assert_eq!(got, Some(format!("value-{i}").into_bytes()), "k{i} lost");
        }
    }
}

#[test]
fn flushes_that_lend_their_images_read_back_before_and_after_a_restart() {
    // flush_fills_block_cache = false: flushed tables are read from the
    // images they keep, then (older, or after the restart) from the disk.
    let dir = TempDir::new("srv-lend");
    let config = dir.0.join("lend.toml");
    std::fs::write(&config, "flush_fills_block_cache = false\n").unwrap();
    let args = ["--shards", "2", "--memtable-bytes", "65536", "--config", config.to_str().unwrap()];
    let mut s = Server::start(free_addr("127.0.0.8"), &dir.0.join("data"), &args);
    let mut c = Client::connect(&s.addr.to_string()).unwrap();
    let value = |i: u32| format!("value-{i}-").repeat(20).into_bytes();
    for i in 0..4000u32 {
        c.put(format!("k{i}").as_bytes(), b"", &value(i)).unwrap();
    }
    let check = |c: &mut Client| {
        for i in 0..4000u32 {
            assert_eq!(c.get(format!("k{i}").as_bytes(), b"").unwrap(), Some(value(i)), "k{i}");
        }
    };
    check(&mut c);
    drop(c);
    s.kill9();
    s.restart();
    check(&mut Client::connect(&s.addr.to_string()).unwrap());
}

#[test]
fn garbage_on_one_connection_does_not_disturb_others() {
    let dir = TempDir::new("srv-garbage");
    let s = Server::start(free_addr("127.0.0.5"), &dir.0, &["--shards", "2"]);
    let mut good = Client::connect(&s.addr.to_string()).unwrap();
    good.put(b"stable", b"", b"yes").unwrap();

    // 1. Pure garbage: the server answers a fatal error with id 0 and closes.
    let mut bad = TcpStream::connect(s.addr).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    bad.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = bad.read_to_end(&mut buf);
    match protocol::decode_response(&buf, &Limits::DEFAULT).unwrap() {
        Some((f, _)) => {
            assert_eq!(f.request_id, 0);
            assert!(matches!(f.body, Response::Error(_)));
        }
        None => panic!("no error frame before close: {buf:?}"),
    }

    // 2. A valid header with a malformed body: ERROR for that id, connection stays usable.
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut frame = Vec::new();
    protocol::encode_request(&Request::Ping, 41, &mut frame);
    frame[5] = 0x7e; // unknown opcode, same (empty) body
    protocol::encode_request(&Request::Ping, 42, &mut frame);
    conn.write_all(&frame).unwrap();
    let mut got = Vec::new();
    let mut rbuf = Vec::new();
    let mut chunk = [0u8; 4096];
    while got.len() < 2 {
        let n = conn.read(&mut chunk).unwrap();
        assert!(n > 0, "closed");
        rbuf.extend_from_slice(&chunk[..n]);
        while let Some((f, used)) = protocol::decode_response(&rbuf, &Limits::DEFAULT).unwrap() {
            rbuf.drain(..used);
            got.push((f.request_id, f.body));
        }
    }
    got.sort_by_key(|g| g.0);
    assert!(matches!(got[0], (41, Response::Error(_))));
    assert!(matches!(got[1], (42, Response::Pong)));

    // 3. An oversized frame header: fatal, closed; others unaffected.
    let mut big = TcpStream::connect(s.addr).unwrap();
    let mut hdr = Vec::new();
    protocol::encode_request(&Request::Ping, 5, &mut hdr);
    hdr[16..20].copy_from_slice(&(64u32 << 20).to_le_bytes());
    big.write_all(&hdr).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut sink = Vec::new();
    let _ = big.read_to_end(&mut sink);

    assert_eq!(good.get(b"stable", b"").unwrap().as_deref(), Some(&b"yes"[..]));
    good.put(b"after", b"", b"garbage").unwrap();
    assert_eq!(good.get(b"after", b"").unwrap().as_deref(), Some(&b"garbage"[..]));
}

#[test]
fn sigterm_exits_zero_and_keeps_data_and_lock_refuses_second_start() {
    let dir = TempDir::new("srv-term");
    let mut s = Server::start(free_addr("127.0.0.6"), &dir.0, &["--shards", "2", "--sync", "none"]);
    let mut c = Client::connect(&s.addr.to_string()).unwrap();
    for i in 0..500u32 {
        c.put(format!("t{i}").as_bytes(), b"", b"v").unwrap();
    }
    // A second server on the same data dir is refused with a clear message.
    let mut second = std::process::Command::new(common::BIN);
    second.args(["serve", "--listen", &free_addr("127.0.0.6").to_string(), "--data-dir"]).arg(&dir.0);
    let other = common::run_bounded(&mut second, Duration::from_secs(30)).unwrap();
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("in use"), "{other:?}");
    drop(c);
    let st = s.terminate();
    assert!(st.success(), "exit status {st}");
    // sync none, but a clean shutdown syncs the WAL: everything is there.
    s.restart();
    let mut c = Client::connect(&s.addr.to_string()).unwrap();
    for i in 0..500u32 {
        assert!(c.get(format!("t{i}").as_bytes(), b"").unwrap().is_some(), "t{i}");
    }
}

#[test]
fn a_second_server_on_the_same_ports_is_refused() {
    // The shards share their ports with SO_REUSEPORT, which would let a
    // second process join silently and take half the connections.
    let dir = TempDir::new("srv-ports");
    let resp = free_addr("127.0.0.7").to_string();
    let s = Server::start(free_addr("127.0.0.7"), &dir.0.join("a"), &["--shards", "1", "--resp-listen", &resp]);
    let taken = [
        ("native", s.addr.to_string(), free_addr("127.0.0.7").to_string()),
        ("RESP", free_addr("127.0.0.7").to_string(), resp.clone()),
    ];
    for (which, native, resp) in taken {
        let data = dir.0.join(format!("b-{which}")).display().to_string();
        refused(&["serve", "--listen", &native, "--resp-listen", &resp, "--data-dir", &data], "in use");
    }
    // The first server still has every connection.
    let mut c = Client::connect(&s.addr.to_string()).unwrap();
    c.put(b"k", b"", b"v").unwrap();
    assert_eq!(c.get(b"k", b"").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn default_relative_data_dir_works() {
    // `ringkv serve` with no --data-dir uses ./ringkv-data, a relative path.
    let dir = TempDir::new("srv-reldir");
    let addr = free_addr("127.0.0.23");
    let child = std::process::Command::new(common::BIN)
        .current_dir(&dir.0)
        .args(["serve", "--listen", &addr.to_string(), "--resp-listen", "off", "--shards", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut s = Server { child: Some(child), addr, data_dir: dir.0.join("ringkv-data"), args: vec![] };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !common::ping(addr) {
        assert!(std::time::Instant::now() < deadline, "server with the default data dir did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = Client::connect(&addr.to_string()).unwrap();
    c.put(b"rel", b"", b"ok").unwrap();
    assert_eq!(c.get(b"rel", b"").unwrap().as_deref(), Some(&b"ok"[..]));
    assert!(dir.0.join("ringkv-data/shard-0").is_dir());
    assert!(s.terminate().success());
}

/// `ringkv serve ARGS` must refuse to start: exit code 2 with `why` on stderr.
fn refused(args: &[&str], why: &str) {
    let mut child = std::process::Command::new(common::BIN)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} started; it should have been refused ({why})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{args:?}: {out:?}");
}

#[test]
fn cpus_puts_the_shard_on_the_cpu_named_and_bad_lists_are_refused() {
    let dir = TempDir::new("srv-cpus");
    // The last CPU this test may run on: a shard there is not on CPU 0.
    // `Cpus_allowed_list` of a /proc status file.
    let allowed =
        |status: &str| status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap().trim().to_string();
    let mine = allowed(&std::fs::read_to_string("/proc/self/status").unwrap());
    let cpu = ringkv::config::parse_cpu_list(&mine).unwrap().into_iter().max().unwrap().to_string();
    let mut s = Server::start(free_addr("127.0.0.26"), &dir.0.join("a"), &["--cpus", &cpu]);
    let pid = s.child.as_ref().unwrap().id();
    let shards: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| {
            let t = t.unwrap().path();
            let comm = std::fs::read_to_string(t.join("comm")).ok()?;
            comm.starts_with("shard-").then(|| std::fs::read_to_string(t.join("status")).unwrap())
        })
        .collect();
    assert!(!shards.is_empty(), "no shard thread in /proc/{pid}/task");
    for st in shards {
        assert_eq!(allowed(&st), cpu, "a shard thread of `--cpus {cpu}`");
    }
    // One CPU listed: one shard.
    let c = Client::connect(&s.addr.to_string()).unwrap();
    assert_eq!(c.topology().shards(), 1);
    assert!(s.terminate().success());

    let addr = free_addr("127.0.0.26").to_string();
    let base = ["serve", "--listen", &addr, "--resp-listen", "off", "--data-dir"];
    let data = dir.0.join("b").display().to_string();
    let with = |more: &[&'static str]| [&base[..], &[data.as_str()], more].concat();
    refused(&with(&["--cpus", "1-0"]), "runs backwards");
    refused(&with(&["--cpus", "0", "--shards", "2"]), "2 shards but only 1 CPUs listed");
    refused(&with(&["--cpus", "4095"]), "CPU 4095 doesn't exist");
}

#[test]
fn the_server_keeps_its_memory_off_transparent_huge_pages() {
    // `MIMALLOC_ALLOW_THP` in the environment hands the choice back to mimalloc.
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    let dir = TempDir::new("srv-thp");
    let mut s = Server::start(free_addr("127.0.0.2"), &dir.0, &["--shards", "1"]);
    let pid = s.child.as_ref().expect("running").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    // Older kernels have no such line; there is nothing to check then.
    if let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    }
    assert!(s.terminate().success());
}
