//! `ringkv-loadgen`: load generation and benchmarks for ringkv.
//!
//! Subcommands:
//! - `engine`: db_bench-style benchmark of the storage engine embedded in one
//!   glommio executor (no server, no network). See `engine_bench.rs` and
//!   docs/benchmarks.md.

use clap::{Parser, Subcommand};

mod engine_bench;

#[derive(Parser, Debug)]
#[command(name = "ringkv-loadgen", version, about = "Load generator and benchmarks for ringkv")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Benchmark the storage engine embedded in-process, like RocksDB's db_bench.
    Engine(engine_bench::EngineArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Engine(args) => engine_bench::run(args),
    };
    if let Err(e) = result {
        eprintln!("ringkv-loadgen: error: {e}");
        std::process::exit(1);
    }
}
