//! Three real `ringkv` processes on 127.0.0.x forming a cluster (N=3, R=W=2):
//! write on one node and read on another, siblings from two clients, read
//! repair after a node missed writes while stopped, and a clear "quorum not
//! reached" instead of a hang.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{free_addr, Server, TempDir};
use ringkv::client::Client;
use ringkv::protocol::{self, Consistency, Limits, Request, Response};

struct Cluster {
    _dir: TempDir,
    nodes: Vec<Server>,
}

/// The members node `addr` knows, via the MEMBERS request.
fn members(addr: SocketAddr) -> usize {
    let Ok(mut s) = TcpStream::connect(addr) else { return 0 };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut frame = Vec::new();
    protocol::encode_request(&Request::Members(vec![]), 1, &mut frame);
    if s.write_all(&frame).is_err() {
        return 0;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            return 0;
        }
        got.extend_from_slice(&buf[..n]);
        if let Ok(Some((f, _))) = protocol::decode_response(&got, &Limits::DEFAULT) {
            return match f.body {
                Response::Members(m) => m.len(),
                _ => 0,
            };
        }
    }
    0
}

fn start_cluster(name: &str, ips: [&str; 3]) -> Cluster {
    start_cluster_with(name, ips, false)
}

/// `resp`: each node also serves RESP (on a free port of its address).
fn start_cluster_with(name: &str, ips: [&str; 3], resp: bool) -> Cluster {
    let dir = TempDir::new(name);
    let addrs: Vec<SocketAddr> = ips.iter().map(|ip| free_addr(ip)).collect();
    let mut nodes = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let seeds: Vec<String> = addrs.iter().filter(|b| *b != a).map(|b| b.to_string()).collect();
        let data = dir.0.join(format!("node{}", i + 1));
        let node_id = format!("node{}", i + 1);
        let seeds = seeds.join(",");
        let resp_addr = if resp { free_addr(&a.ip().to_string()).to_string() } else { "off".to_string() };
        let args = ["--shards", "2", "--node-id", &node_id, "--seeds", &seeds, "--resp-listen", &resp_addr];
        nodes.push(Server::start(*a, &data, &args));
    }
    wait_members(&nodes, 3);
    Cluster { _dir: dir, nodes }
}

fn wait_members(nodes: &[Server], n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while nodes.iter().filter(|s| s.child.is_some()).any(|s| members(s.addr) < n) {
        assert!(Instant::now() < deadline, "nodes did not learn {n} members");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn client(s: &Server) -> Client {
    Client::connect(&s.addr.to_string()).unwrap()
}

#[test]
fn write_on_one_node_read_on_another() {
    let c = start_cluster("cl-basic", ["127.0.0.11", "127.0.0.12", "127.0.0.13"]);
    let mut a = client(&c.nodes[0]);
    for i in 0..200u32 {
        a.put_overwrite(format!("k{i}").as_bytes(), b"", format!("v{i}").as_bytes(), Consistency::Default).unwrap();
    }
    for (n, node) in c.nodes.iter().enumerate() {
        let mut b = client(node);
        for i in 0..200u32 {
            let (values, _) = b.get_all(format!("k{i}").as_bytes(), b"", Consistency::Quorum).unwrap();
            assert_eq!(values, vec![format!("v{i}").into_bytes()], "node{} key k{i}", n + 1);
        }
    }
    // The CLI sees the same through any node.
    let out = c.nodes[2].cli(&["get", "k7", "--consistency", "all"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v7\n");
    assert!(c.nodes[1].cli(&["del", "k7"]).status.success());
    assert_eq!(c.nodes[0].cli(&["get", "k7"]).status.code(), Some(1));
}

#[test]
fn resp_commands_answer_through_any_node() {
    // In a cluster, RESP commands take the general path (quorum reads and
    // writes), not the shortcuts of a node alone.
    let c = start_cluster_with("cl-resp", ["127.0.0.31", "127.0.0.32", "127.0.0.33"], true);
    let (a, b) = (&c.nodes[0], &c.nodes[1]);
    assert_eq!(a.redis_cli(&["SET", "greeting", "hello"]), "OK\n");
    assert_eq!(a.redis_cli(&["MSET", "m1", "x", "m2", "yy"]), "OK\n");
    for (cmd, want) in [
        (&["GET", "greeting"][..], "hello\n"),
        (&["STRLEN", "greeting"], "5\n"),
        (&["STRLEN", "nope"], "0\n"),
        (&["TYPE", "greeting"], "string\n"),
        (&["TYPE", "nope"], "none\n"),
        (&["TTL", "greeting"], "-1\n"),
        (&["PTTL", "nope"], "-2\n"),
        (&["EXISTS", "greeting"], "1\n"),
        (&["EXISTS", "greeting", "nope", "m2"], "2\n"),
        (&["MGET", "m1", "nope", "m2"], "x\n\nyy\n"),
    ] {
        assert_eq!(b.redis_cli(cmd), want, "{cmd:?}");
    }
    assert_eq!(b.redis_cli(&["DEL", "greeting"]), "1\n");
    assert_eq!(b.redis_cli(&["DEL", "greeting"]), "0\n");
    assert_eq!(c.nodes[2].redis_cli(&["DEL", "m1", "m2", "nope"]), "2\n");
    assert_eq!(a.redis_cli(&["EXISTS", "greeting", "m1", "m2"]), "0\n");
}

#[test]
fn concurrent_blind_writes_become_siblings_and_a_context_resolves_them() {
    let c = start_cluster("cl-siblings", ["127.0.0.14", "127.0.0.15", "127.0.0.16"]);
    let mut alice = client(&c.nodes[0]);
    let mut bob = client(&c.nodes[1]);
    alice.put(b"cart", b"", b"milk").unwrap();
    bob.put(b"cart", b"", b"eggs").unwrap(); // no context: does not overwrite
    let (mut values, ctx) = alice.get_all(b"cart", b"", Consistency::All).unwrap();
    values.sort();
    assert_eq!(values, vec![b"eggs".to_vec(), b"milk".to_vec()]);
    // A write with the context of that read supersedes exactly what it saw.
    alice.put_with(b"cart", b"", b"eggs,milk", &ctx, 0, Consistency::Default).unwrap();
    let (values, _) = bob.get_all(b"cart", b"", Consistency::All).unwrap();
    assert_eq!(values, vec![b"eggs,milk".to_vec()]);
    // The CLI shows siblings one per line.
    client(&c.nodes[2]).put(b"cart", b"", b"bread").unwrap();
    let out = c.nodes[2].cli(&["get", "cart", "--consistency", "all"]);
    let mut lines: Vec<_> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(lines, ["bread", "eggs,milk"]);
}

#[test]
fn read_repair_heals_a_node_that_missed_writes() {
    let mut c = start_cluster("cl-repair", ["127.0.0.17", "127.0.0.18", "127.0.0.19"]);
    c.nodes[2].kill9();
    let mut a = client(&c.nodes[0]);
    for i in 0..50u32 {
        a.put_overwrite(format!("r{i}").as_bytes(), b"", b"fresh", Consistency::Default).unwrap();
    }
    c.nodes[2].restart();
    wait_members(&c.nodes, 3);
    // A read through node1 that waits for every replica sees node3 stale and
    // repairs it. (Right after the restart node1 may still count node3 as
    // down for a moment: retry like a client would.)
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 0..50u32 {
        let values = loop {
            match a.get_all(format!("r{i}").as_bytes(), b"", Consistency::All) {
                Ok((v, _)) => break v,
                Err(e) => {
                    assert!(Instant::now() < deadline, "ALL read keeps failing: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        assert_eq!(values, vec![b"fresh".to_vec()]);
    }
    std::thread::sleep(Duration::from_millis(500)); // repair writes are asynchronous
                                                    // Now node3 alone must have every value.
    c.nodes[0].terminate();
    c.nodes[1].terminate();
    let mut z = client(&c.nodes[2]);
    for i in 0..50u32 {
        let (values, _) = z.get_all(format!("r{i}").as_bytes(), b"", Consistency::One).unwrap();
        assert_eq!(values, vec![b"fresh".to_vec()], "r{i} not repaired on node3");
    }
}

#[test]
fn lost_quorum_is_a_clear_error_not_a_hang() {
    let mut c = start_cluster("cl-quorum", ["127.0.0.20", "127.0.0.21", "127.0.0.22"]);
    c.nodes[1].kill9();
    c.nodes[2].kill9();
    let t = Instant::now();
    let out = c.nodes[0].cli(&["put", "q", "v"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("quorum not reached: got 1 of 2"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(10));
    // ONE still works with one replica up.
    assert!(c.nodes[0].cli(&["put", "q", "v", "--consistency", "one"]).status.success());
    assert_eq!(String::from_utf8_lossy(&c.nodes[0].cli(&["get", "q", "--consistency", "one"]).stdout), "v\n");
}

/// On a node that never had a peer, SET and overwrite PUTs skip reading the
/// stored value (`RmwOp::Blind`). Once a node has been in a cluster it keeps
/// reading first, even when it later runs alone: its new version must
/// supersede the other nodes' versions it stores, or they would come back as
/// siblings when the cluster meets again.
#[test]
fn a_node_that_was_clustered_never_overwrites_blindly() {
    let mut c = start_cluster("cl-blind", ["127.0.0.23", "127.0.0.24", "127.0.0.25"]);
    let mut a = client(&c.nodes[0]);
    a.put_overwrite(b"k", b"", b"old", Consistency::All).unwrap();
    assert!(c.nodes[1].data_dir.join("CLUSTERED").exists(), "marker written once a peer is known");
    for n in &mut c.nodes {
        n.terminate();
    }
    // node2 alone, without seeds: a cluster of one, but with node1's dot stored.
    let with_seeds = c.nodes[1].args.clone();
    let at = with_seeds.iter().position(|a| a == "--seeds").unwrap();
    c.nodes[1].args.drain(at..at + 2);
    c.nodes[1].restart();
    assert_eq!(members(c.nodes[1].addr), 1);
    client(&c.nodes[1]).put_overwrite(b"k", b"", b"new", Consistency::Default).unwrap();
    c.nodes[1].terminate();
    c.nodes[1].args = with_seeds;
    for n in &mut c.nodes {
        n.restart();
    }
    wait_members(&c.nodes, 3);
    // node1 still holds "old" under node1's dot; "new" must dominate it.
    let mut a = client(&c.nodes[0]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let values = loop {
        match a.get_all(b"k", b"", Consistency::All) {
            Ok((v, _)) => break v,
            Err(e) => {
                assert!(Instant::now() < deadline, "ALL read keeps failing: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(values, vec![b"new".to_vec()]);
}
