//! Measured balance and movement of the ring. Run with
//! `cargo test ring_balance -- --nocapture --test-threads 1` to see the table
//! (copied into RING.md).

use super::{token, NodeId, Ring, DEFAULT_VNODES};
use xxhash_rust::xxh3::xxh3_64;

const KEYS: u32 = 100_000;
const N: usize = 3;

fn ids(k: u32) -> Vec<NodeId> {
    (0..k).map(NodeId).collect()
}

/// max/mean and min/mean of ownership with replication factor `n`.
fn spread(ring: &Ring, n: usize) -> (f64, f64) {
    let own = ring.ownership(n);
    let mean = own.values().sum::<f64>() / own.len() as f64;
    let max = own.values().cloned().fold(f64::MIN, f64::max);
    let min = own.values().cloned().fold(f64::MAX, f64::min);
    (max / mean, min / mean)
}

fn key_tokens() -> Vec<u64> {
    (0..KEYS).map(|i| token(format!("key:{i}").as_bytes())).collect()
}

/// Fraction of keys whose owner changed, and whose N-preference list changed.
fn movement(before: &Ring, after: &Ring, keys: &[u64]) -> (f64, f64) {
    let (mut owner, mut list) = (0u32, 0u32);
    for &t in keys {
        let a = before.preference_list(t, N);
        let b = after.preference_list(t, N);
        owner += (a[0] != b[0]) as u32;
        list += (a != b) as u32;
    }
    (owner as f64 / keys.len() as f64, list as f64 / keys.len() as f64)
}

/// The naive alternative: tokens = xxh3(node, i).
fn hashed_ring(k: u32, vnodes: u32) -> Ring {
    let mut tokens = Vec::new();
    for node in 0..k {
        for i in 0..vnodes {
            let mut buf = [0u8; 8];
            buf[..4].copy_from_slice(&node.to_le_bytes());
            buf[4..].copy_from_slice(&i.to_le_bytes());
            tokens.push((xxh3_64(&buf), NodeId(node)));
        }
    }
    Ring::from_tokens(tokens).unwrap()
}

struct Row {
    nodes: u32,
    primary: (f64, f64),
    replica: (f64, f64),
    hashed_primary: f64,
    hashed_replica: f64,
    join_owner: f64,
    join_list: f64,
    join_after: f64,
    leave_owner: f64,
    leave_list: f64,
    leave_after: (f64, f64),
}

fn measure(k: u32, keys: &[u64]) -> Row {
    let ring = Ring::build(&ids(k), DEFAULT_VNODES).unwrap();
    let hashed = hashed_ring(k, DEFAULT_VNODES);
    let mut joined = ring.clone();
    joined.join(NodeId(k), DEFAULT_VNODES).unwrap();
    let mut left = ring.clone();
    left.leave(NodeId(k / 2)).unwrap();
    let (join_owner, join_list) = movement(&ring, &joined, keys);
    let (leave_owner, leave_list) = movement(&ring, &left, keys);
    Row {
        nodes: k,
        primary: spread(&ring, 1),
        replica: spread(&ring, N),
        hashed_primary: spread(&hashed, 1).0,
        hashed_replica: spread(&hashed, N).0,
        join_owner: join_owner * (k + 1) as f64,
        join_list: join_list * (k + 1) as f64 / N.min(k as usize + 1) as f64,
        join_after: spread(&joined, 1).0,
        leave_owner: leave_owner * k as f64,
        leave_list: leave_list * k as f64 / N.min(k as usize) as f64,
        leave_after: (spread(&left, 1).0, spread(&left, N).0),
    }
}

#[test]
fn ring_balance_and_movement_at_256_vnodes() {
    let keys = key_tokens();
    println!("\nvnodes = {DEFAULT_VNODES}, N = {N}, {KEYS} keys; movement is measured/ideal (ideal: 1/nodes primary, N/nodes list)");
    println!("| nodes | primary max/mean | primary min/mean | N=3 max/mean | N=3 min/mean | hashed tokens primary / N=3 max/mean | join: owner moved | join: list changed | after join max/mean | leave: owner moved | leave: list changed | after leave max/mean primary / N=3 |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for k in [3u32, 5, 10, 30, 100] {
        let r = measure(k, &keys);
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} / {:.3} | {:.2}x | {:.2}x | {:.3} | {:.2}x | {:.2}x | {:.3} / {:.3} |",
            r.nodes,
            r.primary.0,
            r.primary.1,
            r.replica.0,
            r.replica.1,
            r.hashed_primary,
            r.hashed_replica,
            r.join_owner,
            r.join_list,
            r.join_after,
            r.leave_owner,
            r.leave_list,
            r.leave_after.0,
            r.leave_after.1,
        );
        // Holds at 100 nodes too (the brief asks for <= 30).
        assert!(r.primary.0 <= 1.15, "primary max/mean {} at {k} nodes", r.primary.0);
        assert!(r.replica.0 <= 1.15, "N=3 max/mean {} at {k} nodes", r.replica.0);
        assert!(r.join_after <= 1.15, "after join max/mean {} at {k} nodes", r.join_after);
        assert!(r.leave_after.0 <= 1.15 && r.leave_after.1 <= 1.15, "after leave {:?} at {k} nodes", r.leave_after);
        for (what, ratio) in [
            ("join owner", r.join_owner),
            ("join list", r.join_list),
            ("leave owner", r.leave_owner),
            ("leave list", r.leave_list),
        ] {
            assert!(ratio <= 1.5, "{what} movement {ratio:.2}x ideal at {k} nodes");
        }
    }
}

#[test]
fn ring_balance_at_small_vnode_counts() {
    println!("\n10 nodes, primary / N=3 max/mean by vnodes (allocated vs hashed tokens)");
    println!("| vnodes | allocated primary | allocated N=3 | hashed primary | hashed N=3 |");
    println!("|---|---|---|---|---|");
    for v in [1u32, 4, 16, 64, 256] {
        let ring = Ring::build(&ids(10), v).unwrap();
        let hashed = hashed_ring(10, v);
        let (p, r) = (spread(&ring, 1).0, spread(&ring, N).0);
        println!("| {v} | {p:.3} | {r:.3} | {:.3} | {:.3} |", spread(&hashed, 1).0, spread(&hashed, N).0);
        if v >= 16 {
            assert!(p <= 1.2 && r <= 1.2, "max/mean primary {p} N=3 {r} at {v} vnodes");
        }
    }
}

#[test]
fn ring_balance_survives_churn() {
    // 20 joins, then alternate leaves of early members and joins of new ones.
    let mut ring = Ring::build(&ids(20), DEFAULT_VNODES).unwrap();
    for i in 0..10u32 {
        ring.leave(NodeId(i * 2)).unwrap();
        ring.join(NodeId(100 + i), DEFAULT_VNODES).unwrap();
    }
    let (p, r) = (spread(&ring, 1).0, spread(&ring, N).0);
    println!("\nafter 10 leave+join rounds on 20 nodes: primary max/mean {p:.3}, N=3 max/mean {r:.3}");
    assert!(p <= 1.2 && r <= 1.2, "primary {p} N=3 {r}");
}
