#!/usr/bin/env bash
# ringkv engine vs RocksDB db_bench, side by side on the same disk.
# Produces the numbers in docs/benchmarks.md. Needs: `apt-get install rocksdb-tools`
# (db_bench 7.8.3 on Debian 12) and `cargo build --release -p ringkv-loadgen`.
#
# Usage: loadgen/scripts/compare-rocksdb.sh WORKDIR [REPS] [SECTIONS]
#   WORKDIR  scratch directory on the disk to measure (not tmpfs: O_DIRECT); it
#            gets ringkv/, rocksdb/ (both wiped) and out/ (results, CONFIG_rN.txt)
#   REPS     repetitions (default 3); summarize with loadgen/scripts/summarize.py WORKDIR/out
#   SECTIONS any of "main amp hist diag" (default: all), or "pair": only the first two
#            runs of main (ringkv, and db_bench with a 10 bits/key filter)
set -euo pipefail
trap 'echo "compare-rocksdb.sh: failed: $BASH_COMMAND" >&2' ERR
W=${1:?usage: compare-rocksdb.sh WORKDIR [REPS] [SECTIONS]}
REPS=${2:-3}
SECTIONS=${3:-main amp hist diag}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LG=${LG:-$ROOT/target/release/ringkv-loadgen}
DBB=${DB_BENCH:-db_bench}
OUT=$W/out
RK=$W/ringkv
DB=$W/rocksdb
mkdir -p "$OUT"
T=(/usr/bin/time -f "%e_s_elapsed_%U_user_%S_sys_%P_cpu_%MKB_maxrss")
KV=(--num=1000000 --key_size=16 --value_size=100)
ROCKS=("${KV[@]}" --compression_type=none --threads=1 --db="$DB")
SYNC=(--key_size=16 --value_size=100 --sync=1 --db="$DB")
MAIN=fillrandom,readrandom,overwrite,readseq,readmissing

# The machine is shared with builders: before each run wait (at most 5 min) until
# no compiler is running, and note in the output file if one ran meanwhile.
quiet() {
  local i=0
  while pgrep -x rustc >/dev/null || pgrep -x cargo >/dev/null || pgrep -x cc1plus >/dev/null; do
    ((i++ < 60)) || break
    sleep 5
  done
}
busy_note() { if pgrep -x rustc >/dev/null || pgrep -x cargo >/dev/null; then echo "NOTE: a compiler was running at the end of this run"; fi; }
# Every rk call passes --num itself (clap rejects a repeated flag).
rk() { quiet; "${T[@]}" "$LG" engine --key-size 16 --value-size 100 --dir "$RK" "$@"; busy_note; }
rocks() { rm -rf "$DB"; quiet; "${T[@]}" "$DBB" "$@"; busy_note; }
has() { [[ " $SECTIONS " == *" $1 "* ]]; }

for r in $(seq 1 "$REPS"); do
  echo "rep $r $(date +%T) loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
  if has main || has pair; then
    rk --num 1000000 --benchmarks $MAIN --settle >"$OUT/ringkv_main_r$r.txt" 2>&1
    rocks --benchmarks=$MAIN --bloom_bits=10 "${ROCKS[@]}" >"$OUT/rocks_bloom10_r$r.txt" 2>&1
  fi
  if has main; then
    rocks --benchmarks=$MAIN "${ROCKS[@]}" >"$OUT/rocks_nobloom_r$r.txt" 2>&1
    rocks --benchmarks=$MAIN --bloom_bits=10 --use_direct_reads=1 --use_direct_io_for_flush_and_compaction=1 \
      --cache_size=268435456 "${ROCKS[@]}" >"$OUT/rocks_direct_r$r.txt" 2>&1
    rk --num 1000000 --benchmarks fillseq >"$OUT/ringkv_fillseq_r$r.txt" 2>&1
    rocks --benchmarks=fillseq "${ROCKS[@]}" >"$OUT/rocks_fillseq_r$r.txt" 2>&1
    rk --benchmarks fillrandom --num 20000 --sync always --concurrency 1 >"$OUT/ringkv_sync1_r$r.txt" 2>&1
    rk --benchmarks fillrandom --num 20000 --sync always --concurrency 64 >"$OUT/ringkv_sync64_r$r.txt" 2>&1
    rocks --benchmarks=fillrandom --num=20000 --threads=1 "${SYNC[@]}" >"$OUT/rocks_sync1_r$r.txt" 2>&1
    # db_bench's --writes is per thread: 64 x 313 = 20032 writes over keys 0..20000.
    rocks --benchmarks=fillrandom --num=20000 --writes=313 --threads=64 "${SYNC[@]}" >"$OUT/rocks_sync64_r$r.txt" 2>&1
  fi
  if has amp; then
    rk --num 1000000 --benchmarks fillrandom,overwrite --settle >"$OUT/amp_ringkv_leveled_r$r.txt" 2>&1
    rk --num 1000000 --benchmarks fillrandom,overwrite --settle --compaction tiered >"$OUT/amp_ringkv_tiered_r$r.txt" 2>&1
    rocks --benchmarks=fillrandom,overwrite,flush,waitforcompaction,levelstats,readseq --statistics=1 --bloom_bits=10 \
      "${ROCKS[@]}" >"$OUT/amp_rocks_r$r.txt" 2>&1
    echo "sst_bytes $(cat "$DB"/*.sst | wc -c)" >>"$OUT/amp_rocks_r$r.txt"
  fi
done
if has hist; then # RocksDB latency percentiles (--histogram=1), one run
  rocks --benchmarks=$MAIN --bloom_bits=10 --histogram=1 "${ROCKS[@]}" >"$OUT/hist_rocks_bloom10.txt" 2>&1
fi
if has diag; then # ringkv diagnostics, one run each
  rk --num 1000000 --benchmarks fillrandom,readrandom,readrandom >"$OUT/diag_ringkv_warm_cache.txt" 2>&1
  for m in 67108864 16777216 4194304; do
    rk --num 1000000 --benchmarks fillrandom,readrandom,overwrite --memtable-bytes $m >"$OUT/diag_ringkv_memtable_$m.txt" 2>&1
  done
  rk --num 1000000 --benchmarks fillrandom,overwrite,readseq >"$OUT/diag_ringkv_readseq_inprocess.txt" 2>&1
  rk --num 1000000 --benchmarks readseq --use-existing >"$OUT/diag_ringkv_readseq_reopened.txt" 2>&1
fi
rm -rf "$DB" "$RK"
echo "done $(date +%T)"
