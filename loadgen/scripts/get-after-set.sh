#!/usr/bin/env bash
# compare.sh's sequence against one fresh `ringkv serve --sync none` (1 shard),
# then the RESP P16 GET run measured, with the memtable's size and the flush
# count when the GETs start. Shows whether a seal just before the GETs left the
# memtable partial (docs/benchmarks.md, eighth pass).
#
# Usage: [BIN=...] [LG=...] [CPU=1] loadgen/scripts/get-after-set.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/target/release/ringkv}; LG=${LG:-$ROOT/target/release/ringkv-loadgen}
DATA=${DATA:-/var/tmp/ringkv-get-after-set}; rm -rf "$DATA"
"$BIN" serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir "$DATA" --sync none --shards 1 \
  ${CPU:+--cpus "$CPU"} >/dev/null 2>&1 &
SPID=$!
trap 'kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
rb() { redis-benchmark -p 16379 -t set,get -n 100000 -c 50 -r 1000000 -d 100 -P "$1" -q >/dev/null 2>&1; }
lg() {
  "$LG" run --target resp://127.0.0.1:16379 --read-pct "$1" --dist uniform --keys 100000 --value-size 100 \
    --connections 50 --pipeline "$2" --threads 1 --duration 3 --warmup 1 ${3:-} 2>&1 | grep -oE '[0-9,]+ ops/s' | head -1
}
info() { redis-cli -p 16379 info | grep -E "ringkv_flushes|ringkv_memtable_bytes" | tr -d '\r' | tr '\n' ' '; }
rb 1; rb 16; lg 0 1 >/dev/null; lg 100 1 --load >/dev/null
echo "SET P16: $(lg 0 16)"
echo "before the GETs: $(info)"
echo "GET P16: $(lg 100 16)"
