#!/usr/bin/env bash
# Where the time goes when ringkv-loadgen drives ringkv: CPU seconds of the server and of
# the client per run, and a perf profile of the server (docs/benchmarks.md, "what looked slow").
#
# Usage: loadgen/scripts/server-diag.sh OUTDIR [SYNC] [SHARDS]     (defaults: none 1)
# Needs: target/release/ringkv and ringkv-loadgen (or RINGKV, LG), perf (optional).
set -euo pipefail
W=${1:?usage: server-diag.sh OUTDIR [SYNC] [SHARDS]}
SYNC=${2:-none}
SHARDS=${3:-1}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RINGKV=${RINGKV:-$ROOT/target/release/ringkv}
LG=${LG:-$ROOT/target/release/ringkv-loadgen}
H=127.0.0.1
mkdir -p "$W"
rm -rf "$W/data"
"$RINGKV" serve --listen $H:17170 --resp-listen $H:16479 --data-dir "$W/data" --sync "$SYNC" --shards "$SHARDS" 2>/dev/null &
SPID=$!
trap 'kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; rm -rf "$W/data"' EXIT
for _ in $(seq 100); do [[ $(redis-cli -h $H -p 16479 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; } # utime+stime, clock ticks
TCK=$(getconf CLK_TCK)
run() { # NAME TARGET PCT P
  local s0 c0 t0 s1 c1 t1
  s0=$(cpu $SPID); t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$W/$1.time" "$LG" run --target "$2" --read-pct "$3" --dist uniform --keys 100000 \
    --connections 50 --pipeline "$4" --duration 4 --warmup 1 --out "$W/$1.json" ${5:-} >"$W/$1.txt" 2>&1
  s1=$(cpu $SPID); t1=$(date +%s.%N)
  read -r u s <"$W/$1.time"
  printf "%-28s ops/s %10.0f  server CPU %5.2f s  client CPU %5.2f s  wall %5.2f s\n" "$1" \
    "$(python3 -c "import json;print(json.load(open('$W/$1.json'))['ops_per_sec'])")" \
    "$(echo "($s1-$s0)/$TCK" | bc -l)" "$(echo "$u+$s" | bc -l)" "$(echo "$t1-$t0" | bc -l)"
}
run resp-get-P16-load resp://$H:16479 100 16 --load >/dev/null
for p in 1 16; do
  for op in set get; do
    pct=0; [[ $op == get ]] && pct=100
    run "resp-$op-P$p" resp://$H:16479 $pct $p
    run "native-$op-P$p" native://$H:17170 $pct $p
  done
done | tee "$W/cpu.txt"
if command -v perf >/dev/null; then
  for t in "resp-set resp://$H:16479 0" "native-get native://$H:17170 100" "native-set native://$H:17170 0"; do
    set -- $t
    "$LG" run --target "$2" --read-pct "$3" --dist uniform --keys 100000 --connections 50 --pipeline 16 --duration 6 --warmup 0 >/dev/null 2>&1 &
    LGP=$!
    sleep 1
    perf record -F 499 -g -p $SPID -o "$W/perf-$1.data" -- sleep 4 >/dev/null 2>&1 || true
    wait $LGP || true
    perf report -i "$W/perf-$1.data" --no-children --sort symbol -g none --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40 >"$W/perf-$1.txt" || true
  done
fi
