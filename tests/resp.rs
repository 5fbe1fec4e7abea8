//! The RESP port driven by the real redis-cli and redis-benchmark (Debian
//! package redis-tools, installed by .ci/run) and by raw sockets.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_addr, run_bounded, Server, TempDir};

fn start(name: &str, ip: &str, extra: &[&str]) -> (TempDir, Server) {
    start_shards(name, ip, "2", extra)
}

fn start_shards(name: &str, ip: &str, shards: &str, extra: &[&str]) -> (TempDir, Server) {
    let dir = TempDir::new(name);
    let resp = free_addr(ip).to_string();
    let mut args = vec!["--shards", shards, "--resp-listen", resp.as_str()];
    args.extend_from_slice(extra);
    let s = Server::start(free_addr(ip), &dir.0, &args);
    (dir, s)
}

/// The number after `name:` in INFO's text.
fn info_field(info: &str, name: &str) -> u64 {
    let line = info.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {info}"));
    line[name.len() + 1..].trim().parse().unwrap()
}

#[test]
fn redis_cli_commands() {
    let (_d, s) = start("resp-cli", "127.0.0.7", &[]);
    // Each call is one connection with one command (`--scan`: one per SCAN).
    let calls = std::cell::Cell::new(0u64);
    let c = |args: &[&str]| {
        calls.set(calls.get() + 1);
        s.redis_cli(args)
    };
    assert_eq!(c(&["PING"]), "PONG\n");
    assert_eq!(c(&["SET", "greeting", "hello world"]), "OK\n");
    assert_eq!(c(&["GET", "greeting"]), "hello world\n");
    assert_eq!(c(&["GET", "missing"]), "\n");
    assert_eq!(c(&["APPEND", "greeting", "!"]), "12\n");
    assert_eq!(c(&["STRLEN", "greeting"]), "12\n");
    assert_eq!(c(&["INCR", "counter"]), "1\n");
    assert_eq!(c(&["INCRBY", "counter", "41"]), "42\n");
    assert_eq!(c(&["DECR", "counter"]), "41\n");
    assert!(c(&["INCR", "greeting"]).contains("not an integer"));
    assert_eq!(c(&["MSET", "a", "1", "b", "2", "c", "3"]), "OK\n");
    assert_eq!(c(&["MGET", "a", "b", "nope", "c"]), "1\n2\n\n3\n");
    assert_eq!(c(&["EXISTS", "a", "b", "nope", "a"]), "3\n");
    assert_eq!(c(&["DEL", "a", "nope"]), "1\n");
    assert_eq!(c(&["SETNX", "b", "x"]), "0\n");
    assert_eq!(c(&["SET", "b", "y", "NX"]), "\n");
    assert_eq!(c(&["SET", "b", "y", "XX", "GET"]), "2\n");
    assert_eq!(c(&["GETSET", "b", "z"]), "y\n");
    assert_eq!(c(&["GETDEL", "b"]), "z\n");
    assert_eq!(c(&["TYPE", "c"]), "string\n");
    assert_eq!(c(&["TYPE", "b"]), "none\n");
    assert_eq!(c(&["TTL", "c"]), "-1\n");
    assert_eq!(c(&["TTL", "b"]), "-2\n");
    assert!(c(&["SET", "k", "v", "EX", "10"]).contains("not supported"));
    assert_eq!(c(&["DBSIZE"]), "3\n"); // greeting, counter, c
    let mut keys: Vec<String> = c(&["KEYS", "*"]).lines().map(str::to_string).collect();
    keys.sort();
    assert_eq!(keys, ["c", "counter", "greeting"]);
    // redis-cli --scan drives SCAN cursors to the end.
    let mut scanned: Vec<String> = c(&["--scan"]).lines().map(str::to_string).collect();
    scanned.sort();
    assert_eq!(scanned, keys);
    // And by hand, one key per call.
    let (mut cursor, mut walked) = ("0".to_string(), Vec::new());
    loop {
        let out = c(&["SCAN", &cursor, "COUNT", "1"]);
        let mut lines = out.lines();
        cursor = lines.next().unwrap().to_string();
        walked.extend(lines.filter(|l| !l.is_empty()).map(str::to_string)); // a page may be empty
        if cursor == "0" {
            break;
        }
    }
    walked.sort();
    assert_eq!(walked, keys);
    assert_eq!(c(&["--scan", "--pattern", "g*"]), "greeting\n");
    assert!(c(&["INFO", "keyspace"]).contains("db0:keys=3"));
    // The writes above went through the WAL: INFO counts its group commits and bytes.
    let persistence = c(&["INFO", "persistence"]);
    let field = |name| info_field(&persistence, name);
    assert!(field("ringkv_wal_commits") > 0, "{persistence}");
    assert!(field("ringkv_wal_bytes_written") > field("ringkv_wal_commits"), "{persistence}");
    // Nothing flushed yet: every level empty (L0 first), no table written.
    for name in ["ringkv_flush_bytes_written", "ringkv_compaction_bytes_read", "ringkv_compaction_bytes_written"] {
        assert_eq!(field(name), 0, "{persistence}");
    }
    let levels = persistence.lines().find_map(|l| l.strip_prefix("ringkv_tables_per_level:")).unwrap_or_default();
    assert!(levels.len() > 2 && levels.split(',').all(|n| n == "0"), "{persistence}");
    // Counted on every shard: the connections so far landed on both of them.
    let made = calls.get();
    let info = c(&["INFO"]);
    assert!(info_field(&info, "total_commands_processed") >= made, "{made} commands sent: {info}");
    for name in ["ringkv_compactions", "ringkv_table_moves", "ringkv_write_stall_micros", "ringkv_write_delay_micros"] {
        assert_eq!(info_field(&info, name), 0, "{info}");
    }
    // Each call was a connection of its own (redis-cli --stat shows these two).
    assert!(info_field(&info, "total_connections_received") > made, "{made} connections made: {info}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_field(&c(&["INFO", "clients"]), "connected_clients") != 1 {
        assert!(Instant::now() < deadline, "closed connections still counted: {}", c(&["INFO", "clients"]));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(info_field(&info, "tcp_port"), u64::from(s.resp_addr().unwrap().port()), "{info}");
    // Memory: the memtables (and the block cache), and the process's resident set.
    let memtables = info_field(&info, "ringkv_memtable_bytes");
    assert!(memtables > 0 && info_field(&info, "used_memory") >= memtables, "{info}");
    assert!(info_field(&info, "used_memory_rss") > memtables, "{info}");
    // Nothing was flushed to a table: no table block was read, or cached.
    for field in ["ringkv_block_cache_hits", "ringkv_block_cache_misses", "ringkv_block_cache_bytes"] {
        assert_eq!(info_field(&info, field), 0, "{info}");
    }
    assert!(c(&["HELLO", "3"]).contains("proto"));
    assert!(c(&["NOSUCHCMD", "x"]).contains("unknown command"));
    assert_eq!(c(&["FLUSHDB"]), "OK\n");
    assert_eq!(c(&["DBSIZE"]), "0\n");
    // Native and RESP share the keyspace: a RESP key is a partition with no sort key.
    assert_eq!(c(&["SET", "shared", "from-resp"]), "OK\n");
    let out = s.cli(&["get", "shared"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-resp\n");
}

fn read_until(conn: &mut TcpStream, want: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.ends_with(want) {
        let n = conn.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early; got {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    got
}

/// Write `req` from another thread and start reading only after `late`, so
/// that the replies back up in the server; read until they end with `last`.
fn write_then_read_late(conn: &mut TcpStream, req: Vec<u8>, late: Duration, last: &[u8]) -> Vec<u8> {
    let mut w = conn.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&req).unwrap());
    std::thread::sleep(late);
    let got = read_until(conn, last);
    writer.join().unwrap();
    got
}

/// A RESP array of bulk strings.
fn command<'a>(args: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let args: Vec<&[u8]> = args.into_iter().map(str::as_bytes).collect();
    let mut out = Vec::new();
    ringkv::resp::encode_command(&args, &mut out);
    out
}

#[test]
fn pipelined_commands_answer_in_order_and_see_each_other() {
    // One shard: every multi-key read is answered from memory when it can
    // be. Two: reads of the other shard's keys are started there
    // (`ShardOp::GetLww`) and finished in turn, under `--sync always`.
    for shards in ["1", "2"] {
        pipelined_commands_on(shards);
    }
}

fn pipelined_commands_on(shards: &str) {
    let (_d, s) = start_shards(&format!("resp-pipe-{shards}"), "127.0.0.8", shards, &[]);
    let mut conn = TcpStream::connect(s.resp_addr().unwrap()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = Vec::new();
    let mut want = Vec::new();
    for i in 0..200 {
        req.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n$4\r\nk{i:03}\r\n$4\r\nv{i:03}\r\n").as_bytes());
        want.extend_from_slice(b"+OK\r\n");
        req.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n$4\r\nk{i:03}\r\n").as_bytes());
        want.extend_from_slice(format!("$4\r\nv{i:03}\r\n").as_bytes());
        req.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n");
        want.extend_from_slice(format!(":{}\r\n", i + 1).as_bytes());
        // The single-key reads that answer from the value alone, of a key
        // just written (so, under `--sync always`, finished in turn) and of none.
        if i % 10 == 3 {
            let k = format!("k{i:03}");
            for (cmd, reply) in [
                (["STRLEN", k.as_str()], ":4\r\n"),
                (["STRLEN", "nope"], ":0\r\n"),
                (["TYPE", k.as_str()], "+string\r\n"),
                (["TYPE", "nope"], "+none\r\n"),
                (["TTL", k.as_str()], ":-1\r\n"),
                (["PTTL", "nope"], ":-2\r\n"),
                (["EXISTS", k.as_str()], ":1\r\n"),
                (["EXISTS", "nope"], ":0\r\n"),
            ] {
                req.extend_from_slice(&command(cmd));
                want.extend_from_slice(reply.as_bytes());
            }
            // DEL of one key, there and then not.
            let d = format!("d{i:03}");
            for (cmd, reply) in [
                (&["SET", d.as_str(), "x"][..], "+OK\r\n"),
                (&["DEL", d.as_str()], ":1\r\n"),
                (&["DEL", d.as_str()], ":0\r\n"),
                (&["GET", d.as_str()], "$-1\r\n"),
            ] {
                req.extend_from_slice(&command(cmd.iter().copied()));
                want.extend_from_slice(reply.as_bytes());
            }
        }
        // Overwrites of one key, each seen by the read after it.
        req.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n$4\r\nlast\r\n$4\r\nv{i:03}\r\n").as_bytes());
        want.extend_from_slice(b"+OK\r\n");
        if i % 50 == 49 {
            req.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$4\r\nlast\r\n");
            want.extend_from_slice(format!("$4\r\nv{i:03}\r\n").as_bytes());
        }
        // MSET over keys of both shards (and over "last"), seen by the reads after it.
        if i % 10 == 5 {
            let mset: Vec<String> = (0..4).flat_map(|j| [format!("m{i:03}{j}"), format!("w{i:03}{j}")]).collect();
            req.extend_from_slice(&command(
                ["MSET"].into_iter().chain(mset.iter().map(String::as_str)).chain(["last", "mset"]),
            ));
            want.extend_from_slice(b"+OK\r\n");
            let keys: Vec<String> = (0..4).map(|j| format!("m{i:03}{j}")).collect();
            req.extend_from_slice(&command(
                ["MGET"].into_iter().chain(keys.iter().map(String::as_str)).chain(["last"]),
            ));
            want.extend_from_slice(b"*5\r\n");
            for j in 0..4 {
                want.extend_from_slice(format!("$5\r\nw{i:03}{j}\r\n").as_bytes());
            }
            want.extend_from_slice(b"$4\r\nmset\r\n");
            let (k0, k1) = (format!("m{i:03}0"), format!("m{i:03}1"));
            req.extend_from_slice(&command(["MGET", "nope", k1.as_str(), "nope"]));
            want.extend_from_slice(format!("*3\r\n$-1\r\n$5\r\nw{i:03}1\r\n$-1\r\n").as_bytes());
            req.extend_from_slice(&command(["EXISTS", k0.as_str(), "nope", k0.as_str(), "last"]));
            want.extend_from_slice(b":3\r\n");
        }
    }
    req.extend_from_slice(b"PING\r\n");
    want.extend_from_slice(b"+PONG\r\n");
    conn.write_all(&req).unwrap();
    let got = read_until(&mut conn, b"+PONG\r\n");
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
    // Quiet now, every write durable: with one shard these are answered from memory.
    assert_eq!(s.redis_cli(&["MGET", "k000", "nope", "k199", "k000"]), "v000\n\nv199\nv000\n");
    assert_eq!(s.redis_cli(&["EXISTS", "k000", "nope", "k000"]), "2\n");
}

#[test]
fn replies_keep_their_order_when_the_client_reads_late() {
    // GETs answered from memory are encoded where the replies go when no
    // reply is ahead of them, and queued behind the others when one is; a
    // client that writes a long pipeline before it reads makes the replies
    // back up past the server's send threshold, so both kinds interleave.
    // Under `--sync always` the write loop also holds SETs' replies while
    // their group commits.
    for sync in ["none", "always"] {
        late_reader_on(sync);
    }
}

fn late_reader_on(sync: &str) {
    // Two shards: a GET of the other shard's key is finished in turn in the
    // write loop, which holds it while the next GETs run.
    let (_d, s) = start_shards(&format!("resp-late-{sync}"), "127.0.0.34", "2", &["--sync", sync]);
    let mut conn = TcpStream::connect(s.resp_addr().unwrap()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let value = |i: usize| format!("{i:04}").repeat(1000);
    let mut req = Vec::new();
    let mut want = Vec::new();
    for i in 0..50 {
        req.extend_from_slice(&command(["SET", format!("g{i}").as_str(), value(i).as_str()]));
        want.extend_from_slice(b"+OK\r\n");
    }
    for r in 0..600 {
        let (a, b) = (r % 50, (r * 7 + 3) % 50);
        let x = format!("x{r}");
        for (cmd, reply) in [
            (vec!["GET".to_string(), format!("g{a}")], format!("$4000\r\n{}\r\n", value(a))),
            (vec!["SET".into(), x.clone(), format!("v{r}")], "+OK\r\n".into()),
            (vec!["GET".into(), x], format!("${}\r\nv{r}\r\n", format!("v{r}").len())),
            (vec!["GET".into(), "nope".into()], "$-1\r\n".into()),
            (vec!["GET".into(), format!("g{b}")], format!("$4000\r\n{}\r\n", value(b))),
        ] {
            req.extend_from_slice(&command(cmd.iter().map(String::as_str)));
            want.extend_from_slice(reply.as_bytes());
        }
    }
    req.extend_from_slice(b"PING\r\n");
    want.extend_from_slice(b"+PONG\r\n");
    // Let the replies (~4.8 MB) fill the socket's buffers first.
    let got = write_then_read_late(&mut conn, req, Duration::from_millis(300), b"+PONG\r\n");
    assert_eq!(got.len(), want.len());
    assert!(got == want, "replies out of order, --sync {sync}");
}

#[test]
fn runs_of_durable_sets_are_answered_one_by_one_and_survive_a_kill() {
    // One shard, `--sync always`: SETs in a row on one connection wait for
    // their group commits as runs (one queue item for the SETs of one
    // group). Other replies cut the runs: an INCR every 97 commands, a PING
    // every 131. The client writes everything before it reads, so the runs
    // span several group commits and the connection hits its limit of
    // replies queued. Every reply must come, in order; then every SET
    // acknowledged must be there after a SIGKILL.
    let (_d, mut s) = start_shards("resp-runs", "127.0.0.36", "1", &["--sync", "always"]);
    let mut conn = TcpStream::connect(s.resp_addr().unwrap()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let value = |i: usize| format!("{i:05}").repeat(200);
    let (mut req, mut want, mut incrs) = (Vec::new(), Vec::new(), 0);
    for i in 0..4000 {
        if i % 97 == 0 {
            incrs += 1;
            req.extend_from_slice(&command(["INCR", "n"]));
            want.extend_from_slice(format!(":{incrs}\r\n").as_bytes());
        } else if i % 131 == 0 {
            req.extend_from_slice(&command(["PING"]));
            want.extend_from_slice(b"+PONG\r\n");
        } else {
            req.extend_from_slice(&command(["SET", format!("r{i}").as_str(), value(i).as_str()]));
            want.extend_from_slice(b"+OK\r\n");
        }
    }
    req.extend_from_slice(&command(["ECHO", "end"]));
    want.extend_from_slice(b"$3\r\nend\r\n");
    let got = write_then_read_late(&mut conn, req, Duration::from_millis(200), b"$3\r\nend\r\n");
    assert!(got == want, "replies differ: {} bytes, want {}", got.len(), want.len());
    s.kill9();
    s.restart();
    let sets = (0..4000).filter(|i| i % 97 != 0 && i % 131 != 0).count();
    assert_eq!(s.redis_cli(&["DBSIZE"]), format!("{}\n", sets + 1));
    assert_eq!(s.redis_cli(&["GET", "n"]), format!("{incrs}\n"));
    for i in [1, 2, 98, 1999, 3998, 3999] {
        assert_eq!(s.redis_cli(&["GET", &format!("r{i}")]), format!("{}\n", value(i)), "r{i}");
    }
}

#[test]
fn a_reply_the_write_loop_holds_stays_ahead_of_a_get_answered_at_once() {
    // Two shards, `--sync always`: a SET of the other shard's key is finished
    // in the write loop, which holds it until that shard's group commit (of
    // a large value: long enough for the GET to come). A GET of this shard's
    // key, sent meanwhile, is answered from memory; its reply must still go
    // after the SET's.
    let (_d, s) = start_shards("resp-held", "127.0.0.35", "2", &["--sync", "always"]);
    let mut conn = TcpStream::connect(s.resp_addr().unwrap()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    for i in 0..16 {
        conn.write_all(&command(["SET", format!("h{i}").as_str(), format!("{i}").as_str()])).unwrap();
        read_until(&mut conn, b"+OK\r\n");
    }
    let big = "x".repeat(200_000);
    let mut want = Vec::new();
    let mut got = Vec::new();
    for r in 0..200 {
        // About half of these pairs SET the other shard's key and GET this one's.
        let (a, b) = (r % 16, (r * 5 + 1) % 16);
        conn.write_all(&command(["SET", format!("b{a}").as_str(), big.as_str()])).unwrap();
        std::thread::sleep(Duration::from_micros(100));
        conn.write_all(&command(["GET", format!("h{b}").as_str()])).unwrap();
        let these = format!("+OK\r\n${}\r\n{b}\r\n", format!("{b}").len());
        let mut reply = vec![0; these.len()];
        conn.read_exact(&mut reply).unwrap();
        want.extend_from_slice(these.as_bytes());
        got.extend_from_slice(&reply);
    }
    assert!(got == want, "replies out of order: {:?}", String::from_utf8_lossy(&got));
}

#[test]
fn protocol_errors_close_only_that_connection() {
    let (_d, s) = start("resp-garbage", "127.0.0.9", &[]);
    let addr = s.resp_addr().unwrap();
    let mut good = TcpStream::connect(addr).unwrap();
    good.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    good.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n").unwrap();
    read_until(&mut good, b"+OK\r\n");
    for garbage in [&b"*-5x\r\n"[..], b"*1\r\n$99999999999\r\n", b"*2\r\n$3\r\nGET\r\n:12\r\n", &[0xffu8; 70_000]] {
        let mut bad = TcpStream::connect(addr).unwrap();
        bad.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        bad.write_all(garbage).unwrap();
        let mut resp = Vec::new();
        let _ = bad.read_to_end(&mut resp); // the server answers and closes
        assert!(resp.starts_with(b"-ERR Protocol error"), "{:?}", String::from_utf8_lossy(&resp));
    }
    // Commands before the garbage in the same read are answered first, in order.
    let mut bad = TcpStream::connect(addr).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    bad.write_all(b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n*1\r\n$4\r\nPING\r\n*-5x\r\n").unwrap();
    let mut resp = Vec::new();
    let _ = bad.read_to_end(&mut resp);
    assert!(resp.starts_with(b"$1\r\n1\r\n+PONG\r\n-ERR Protocol error"), "{:?}", String::from_utf8_lossy(&resp));
    good.write_all(b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n").unwrap();
    read_until(&mut good, b"$1\r\n1\r\n");
}

#[test]
fn redis_benchmark_runs_clean() {
    let (_d, s) = start("resp-bench", "127.0.0.10", &["--sync", "none"]);
    let a = s.resp_addr().unwrap();
    let mut bench = Command::new("redis-benchmark");
    bench.args(["-h", &a.ip().to_string(), "-p", &a.port().to_string()]).args([
        "-q",
        "-t",
        "set,get,incr,mset",
        "-n",
        "3000",
        "-c",
        "10",
        "-P",
        "4",
        "-r",
        "1000",
    ]);
    let out = run_bounded(&mut bench, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("redis-benchmark (Debian package redis-tools; .ci/run installs it): {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for t in ["SET:", "GET:", "INCR:", "MSET (10 keys):"] {
        assert!(text.contains(t) && text.contains("requests per second"), "{t} missing: {text}");
    }
    assert!(!text.contains("ERR"), "{text}");
    assert!(s.redis_cli(&["DBSIZE"]).trim().parse::<u64>().unwrap() > 0);
}

/// The first Python that can `import redis`: $RINGKV_PYTHON, else `python3`,
/// else Debian's `/usr/bin/python3` (where the package python3-redis, which
/// .ci/run installs, puts it when another `python3` comes first on PATH).
fn python_with_redis() -> String {
    let candidates = std::env::var("RINGKV_PYTHON").into_iter().chain(["python3".into(), "/usr/bin/python3".into()]);
    for py in candidates {
        let probe = run_bounded(Command::new(&py).args(["-c", "import redis"]), Duration::from_secs(30));
        if probe.is_ok_and(|o| o.status.success()) {
            return py;
        }
    }
    panic!("no python3 with redis-py: install the Debian package python3-redis (.ci/run does), or set RINGKV_PYTHON")
}

/// redis-py, unchanged, on a 2-shard server: tests/redis_py.py checks every
/// reply (strings, several keys, binary values, SCAN, INFO, errors, a
/// 1,000-command pipeline, threads sharing a pool) and exits non-zero at the
/// first wrong one.
#[test]
fn redis_py_client() {
    let (_d, s) = start("resp-py", "127.0.0.27", &[]);
    let a = s.resp_addr().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/redis_py.py");
    let mut py = Command::new(python_with_redis());
    py.env_remove("PYTHONOPTIMIZE").args([script, &a.ip().to_string(), &a.port().to_string()]);
    let out = run_bounded(&mut py, Duration::from_secs(120)).unwrap_or_else(|e| panic!("redis_py.py: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("ok"), "{text}");
}

#[test]
fn acknowledged_read_modify_writes_and_mset_survive_sigkill() {
    let (_d, mut s) = start("resp-kill", "127.0.0.51", &[]);
    let mut conn = TcpStream::connect(s.resp_addr().unwrap()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (mut req, mut want) = (Vec::new(), Vec::new());
    for i in 1..=300 {
        req.extend_from_slice(&command(["INCRBY", "ctr", "2"]));
        want.extend_from_slice(format!(":{}\r\n", 2 * i).as_bytes());
        req.extend_from_slice(&command(["APPEND", "log", "x"]));
        want.extend_from_slice(format!(":{i}\r\n").as_bytes());
        if i % 30 == 0 {
            let pairs: Vec<String> = (0..10).flat_map(|j| [format!("m{j}"), format!("v{i}")]).collect();
            req.extend_from_slice(&command(["MSET"].into_iter().chain(pairs.iter().map(String::as_str))));
            want.extend_from_slice(b"+OK\r\n");
        }
    }
    for (cmd, reply) in [
        (&["SETNX", "once", "a"][..], &b":1\r\n"[..]),
        (&["SETNX", "once", "b"], b":0\r\n"),
        (&["GETSET", "swap", "1"], b"$-1\r\n"),
        (&["GETSET", "swap", "2"], b"$1\r\n1\r\n"),
        (&["SET", "gone", "x", "NX"], b"+OK\r\n"),
        (&["GETDEL", "gone"], b"$1\r\nx\r\n"),
        // DEL counts each key that existed once, in order: d1 twice, "nope" never.
        (&["MSET", "d1", "x", "d2", "y", "kept", "z"], b"+OK\r\n"),
        (&["DEL", "d1", "nope", "d2", "d1"], b":2\r\n"),
        (&["DEL", "d2"], b":0\r\n"),
        (&["GET", "d1"], b"$-1\r\n"),
    ] {
        req.extend_from_slice(&command(cmd.iter().copied()));
        want.extend_from_slice(reply);
    }
    req.extend_from_slice(b"PING\r\n");
    want.extend_from_slice(b"+PONG\r\n");
    conn.write_all(&req).unwrap();
    // Every reply is in: each write was acknowledged, so each must survive.
    let got = read_until(&mut conn, b"+PONG\r\n");
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
    drop(conn);
    s.kill9();
    s.restart();
    assert_eq!(s.redis_cli(&["GET", "ctr"]), "600\n");
    assert_eq!(s.redis_cli(&["STRLEN", "log"]), "300\n");
    let m: Vec<String> = (0..10).map(|j| format!("m{j}")).collect();
    let mut args = vec!["MGET"];
    args.extend(m.iter().map(String::as_str));
    assert_eq!(s.redis_cli(&args), "v300\n".repeat(10));
    assert_eq!(s.redis_cli(&["GET", "once"]), "a\n");
    assert_eq!(s.redis_cli(&["GET", "swap"]), "2\n");
    assert_eq!(s.redis_cli(&["EXISTS", "gone"]), "0\n");
    assert_eq!(s.redis_cli(&["EXISTS", "d1", "d2", "kept"]), "1\n");
    // And they go on from there.
    assert_eq!(s.redis_cli(&["INCR", "ctr"]), "601\n");
}
