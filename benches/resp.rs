//! RESP request parsing: 16 pipelined commands (redis-benchmark -P 16 sends
//! such batches), each framed by `parse_command` and turned into a `Command`,
//! as the server's connection loop does before it touches the engine.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringkv::resp::{encode_command, parse_command, Command, RespLimits};

const PIPELINE: usize = 16;

fn multibulk(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(args, &mut out);
    out
}

/// Parses every command in `buf`; returns how many.
fn parse_all(buf: &[u8], limits: &RespLimits) -> usize {
    let (mut pos, mut n) = (0, 0);
    while let Ok(Some((frame, used))) = parse_command(&buf[pos..], limits) {
        let cmd = Command::parse(&frame.args(&buf[pos..]), limits);
        black_box(&cmd);
        pos += used;
        n += 1;
    }
    n
}

fn bench(c: &mut Criterion) {
    let limits = RespLimits::DEFAULT;
    let value = vec![b'x'; 100];
    let batch = |cmd: &dyn Fn(usize) -> Vec<u8>| (0..PIPELINE).flat_map(cmd).collect::<Vec<u8>>();
    let sets = batch(&|i| multibulk(&[b"SET", format!("key:{i:012}").as_bytes(), &value]));
    let gets = batch(&|i| multibulk(&[b"GET", format!("key:{i:012}").as_bytes()]));
    let mut g = c.benchmark_group("resp");
    g.throughput(Throughput::Elements(PIPELINE as u64));
    g.bench_function("parse_16_set_100b", |b| b.iter(|| assert_eq!(parse_all(black_box(&sets), &limits), PIPELINE)));
    g.bench_function("parse_16_get", |b| b.iter(|| assert_eq!(parse_all(black_box(&gets), &limits), PIPELINE)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
