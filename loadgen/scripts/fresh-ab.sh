#!/usr/bin/env bash
# Alternating A/B on fresh servers: each round starts one fresh `ringkv serve`
# (1 shard) per arm, runs one workload against it, and stops it. An arm is a
# binary plus environment settings, so the same binary can be compared with
# itself under a toggle (no code-layout difference between the arms). Prints
# each round, then each arm's median and how many rounds it led the first arm
# (docs/benchmarks.md, tenth pass).
#
# Usage: loadgen/scripts/fresh-ab.sh ROUNDS ARM [ARM ...]
#   ARM: "BIN" or "BIN ENV=VALUE ..." (e.g. "target/release/ringkv MIMALLOC_ALLOW_THP=1")
#   env: TEST  lgset (default): loadgen RESP SET, 100k keys, P16, 1 s warm-up, DUR s (3)
#              lgget: load 100k keys, then loadgen RESP GET, P16, DUR s
#              rbset: redis-benchmark -P 16 -t set -n N (100000) -r RBKEYS (1000000)
#        SYNC (always), CPU (1: the shard's CPU), LG (loadgen binary),
#        P (16: the loadgen's pipeline depth; redis-benchmark's too)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LG=${LG:-$ROOT/target/release/ringkv-loadgen}
DATA=${DATA:-/var/tmp/ringkv-fresh-ab}
ROUNDS=${1:?usage: fresh-ab.sh ROUNDS ARM [ARM ...]}; shift
(($# > 0)) || { echo "usage: fresh-ab.sh ROUNDS ARM [ARM ...]" >&2; exit 1; }
SPID=
cleanup() { [[ -n $SPID ]] && { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null || true; }; rm -rf "$DATA"; }
trap cleanup EXIT
lg() {
  "$LG" run --target resp://127.0.0.1:16379 --read-pct "$1" --dist "${2:-uniform}" --keys 100000 --value-size 100 \
    --connections 50 --pipeline "${P:-16}" --threads 1 "${@:3}" 2>&1 | grep -oE '[0-9,]+ ops/s' | head -1 | tr -d ', ops/'
}
one() { # ARM -> ops/s
  local bin envs
  read -r bin envs <<<"$1"
  rm -rf "$DATA"
  env ${envs:-} "$bin" serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir "$DATA" \
    --sync "${SYNC:-always}" --shards 1 --cpus "${CPU:-1}" >/dev/null 2>&1 &
  SPID=$!
  for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
  case ${TEST:-lgset} in
    lgset) lg 0 uniform --duration "${DUR:-3}" --warmup 1 ;;
    lgget) lg 0 sequential --ops 100000 >/dev/null; lg 100 uniform --duration "${DUR:-3}" --warmup 1 ;;
    rbset) redis-benchmark -p 16379 -c 50 -n "${N:-100000}" -P "${P:-16}" -r "${RBKEYS:-1000000}" -d 100 -t set --csv 2>/dev/null |
             tail -1 | cut -d, -f2 | tr -d '"' | cut -d. -f1 ;;
    *) echo "unknown TEST=$TEST" >&2; exit 1 ;;
  esac
  kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=
}
declare -a res
for ((r = 1; r <= ROUNDS; r++)); do
  line="round $r:"
  for i in $(seq 0 $(($# - 1))); do
    arm=${*:i+1:1}
    v=$(one "$arm")
    res[i]+="$v "
    line+=" $v"
  done
  echo "$line"
done
for i in $(seq 0 $(($# - 1))); do
  python3 - "${*:i+1:1}" "${res[i]}" "${res[0]}" <<'PY'
import statistics, sys
arm, vals, base = sys.argv[1], list(map(int, sys.argv[2].split())), list(map(int, sys.argv[3].split()))
led = sum(v > b for v, b in zip(vals, base))
print(f"[{arm}] median {statistics.median(vals):,.0f}/s; ahead of the first arm in {led} of {len(vals)}")
PY
done
