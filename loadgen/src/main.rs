//! `ringkv-loadgen`: load generation and benchmarks for ringkv.
//!
//! Subcommands:
//! - `run`: drive a server over the native protocol (`native://HOST:PORT`) or
//!   RESP (`resp://HOST:PORT`: ringkv's RESP port or Redis) with a YCSB-style
//!   workload; latency percentiles, throughput over time, JSON and SVG plots.
//!   See `run.rs` and docs/benchmarks.md.
//! - `check`: after a crash, prove that every write acknowledged during a
//!   `run --verify FILE` is still there (`verify.rs`).
//! - `engine`: db_bench-style benchmark of the storage engine embedded in one
//!   glommio executor (no server, no network). See `engine_bench.rs` and
//!   docs/benchmarks.md.

use clap::{Parser, Subcommand};

mod engine_bench;
mod report;
mod resp;
mod run;
mod target;
mod verify;
mod workload;

#[derive(Parser, Debug)]
#[command(name = "ringkv-loadgen", version, about = "Load generator and benchmarks for ringkv")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Drive a ringkv node (native or RESP) or Redis with a workload and report latency and throughput.
    Run(run::RunArgs),
    /// Read back every key logged by `run --verify FILE`; exit 1 if an acknowledged write is missing.
    Check(verify::CheckArgs),
    /// Benchmark the storage engine embedded in-process, like RocksDB's db_bench.
    Engine(engine_bench::EngineArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => match verify::check(args) {
            Ok(true) => Ok(()),
            Ok(false) => {
                eprintln!("ringkv-loadgen check: FAILED");
                std::process::exit(1);
            }
            Err(e) => Err(e),
        },
        Command::Engine(args) => engine_bench::run(args).map_err(|e| e.to_string()),
    };
    if let Err(e) = result {
        eprintln!("ringkv-loadgen: error: {e}");
        std::process::exit(1);
    }
}
