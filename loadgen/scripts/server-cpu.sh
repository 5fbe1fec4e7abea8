#!/usr/bin/env bash
# Throughput and server CPU per request of one `ringkv serve` under redis-benchmark
# or ringkv-loadgen: starts BIN on a fresh data dir, optionally loads keys, runs each
# test, prints the client's summary and the server's (utime+stime)/requests. This is
# the "CPU/op" of the A/B tables in docs/benchmarks.md; run two binaries
# alternately to compare them.
#
# Usage: [env] loadgen/scripts/server-cpu.sh
#   BIN (default target/release/ringkv), SYNC (none), SHARDS (1), P (16),
#   CLIENT: redis-benchmark (default), or resp / native: `ringkv-loadgen run` over
#     that protocol for DUR seconds (3) after a 1 s warm-up, 50 connections, KEYS
#     keys uniform (set me to 100000 to match compare.sh); CPU/op then counts the
#     measured seconds only. LG: the loadgen binary (target/release/ringkv-loadgen)
#   N requests per test (300000), KEYS: -r of redis-benchmark (1000000),
#   TESTS (set get), PRELOAD: SET this many requests over KEYS first (0),
#   PORT: RESP port (16479), NPORT: native port (17170), DATA (/var/tmp/ringkv-server-cpu; wiped),
#   EXTRA: more `ringkv serve` flags, e.g. "--memtable-bytes 1000000000" to keep every key in memtables
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/target/release/ringkv}
SYNC=${SYNC:-none}; SHARDS=${SHARDS:-1}; P=${P:-16}; N=${N:-300000}; KEYS=${KEYS:-1000000}
TESTS=${TESTS:-set get}; PRELOAD=${PRELOAD:-0}; PORT=${PORT:-16479}
DATA=${DATA:-/var/tmp/ringkv-server-cpu}
rm -rf "$DATA"
"$BIN" serve --listen "127.0.0.1:${NPORT:-17170}" --resp-listen "127.0.0.1:$PORT" --data-dir "$DATA" \
  --sync "$SYNC" --shards "$SHARDS" ${EXTRA:-} >/dev/null 2>&1 &
SPID=$!
trap 'kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do [[ $(redis-cli -p "$PORT" ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
bench() { redis-benchmark -p "$PORT" -t "$1" -n "$2" -c 50 -r "$KEYS" -d 100 -P "$P" -q 2>&1 | tr '\r' '\n' | grep -v '^$' | tail -1; }
[[ $PRELOAD -gt 0 ]] && bench set "$PRELOAD" >/dev/null
cpu() { awk '{print $14+$15}' "/proc/$SPID/stat"; } # clock ticks (1/100 s)
lg() { # TEST: one loadgen run; prints throughput and CPU/op over the measured seconds
  local pct=0 tgt out n c0 c1
  [[ $1 == get ]] && pct=100
  if [[ $CLIENT == native ]]; then tgt=native://127.0.0.1:${NPORT:-17170}; else tgt=resp://127.0.0.1:$PORT; fi
  out=$(mktemp)
  "${LG:-$ROOT/target/release/ringkv-loadgen}" run --target "$tgt" --read-pct $pct --dist uniform --keys "$KEYS" \
    --value-size 100 --connections 50 --pipeline "$P" --threads 1 --duration "${DUR:-3}" --warmup 1 >"$out" 2>&1 &
  local lpid=$!
  sleep 1.02; c0=$(cpu); wait $lpid; c1=$(cpu)
  n=$(grep -oE '[0-9,]+ ops,' "$out" | head -1 | tr -d ', ops')
  echo "$CLIENT $1: $(grep -oE '[0-9,]+ ops/s' "$out" | head -1)  server_cpu_us/op=$(echo "scale=3; ($c1-$c0)*10000/$n" | bc)"
  rm -f "$out"
}
CLIENT=${CLIENT:-redis-benchmark}
for t in $TESTS; do
  if [[ $CLIENT != redis-benchmark ]]; then lg "$t"; continue; fi
  c0=$(cpu)
  r=$(bench "$t" "$N")
  c1=$(cpu)
  echo "$r  server_cpu_us/op=$(echo "scale=3; ($c1-$c0)*10000/$N" | bc)"
done
