#!/usr/bin/env bash
# Alternating A/B on fresh servers: each round starts one fresh `ringkv serve`
# (1 shard unless SHARDS says) per arm, runs one workload against it, and stops it. An arm is a
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
#              rbget: redis-benchmark -t set (N requests), then -t get (N), both as rbset
#        SYNC (always), SHARDS (1), CPU (1: the shards' CPUs, as --cpus takes them),
#        CLIENT_CPU (unset: the client is not pinned; else its taskset -c list),
#        LG (loadgen binary), P (16: the loadgen's pipeline depth; redis-benchmark's too),
#        MEASURE (ops: requests per second; nsop: the server's CPU time per request,
#        all its threads, from /proc/PID/task/*/schedstat, redis-benchmark tests only)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LG=${LG:-$ROOT/target/release/ringkv-loadgen}
DATA=${DATA:-/var/tmp/ringkv-fresh-ab}
ROUNDS=${1:?usage: fresh-ab.sh ROUNDS ARM [ARM ...]}; shift
(($# > 0)) || { echo "usage: fresh-ab.sh ROUNDS ARM [ARM ...]" >&2; exit 1; }
SPID=
cleanup() { [[ -n $SPID ]] && { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null || true; }; rm -rf "$DATA"; }
trap cleanup EXIT
CLIENT=()
[[ -n ${CLIENT_CPU:-} ]] && CLIENT=(taskset -c "$CLIENT_CPU")
cpu_ns() { cat /proc/"$SPID"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }'; }
rb() { # TEST -> ops/s, or with MEASURE=nsop the server's CPU ns per request
  local t0 ops
  t0=$(cpu_ns)
  ops=$("${CLIENT[@]}" redis-benchmark -p 16379 -c 50 -n "${N:-100000}" -P "${P:-16}" -r "${RBKEYS:-1000000}" -d 100 -t "$1" --csv 2>/dev/null |
    tail -1 | cut -d, -f2 | tr -d '"' | cut -d. -f1)
  if [[ ${MEASURE:-ops} == nsop ]]; then echo $((($(cpu_ns) - t0) / ${N:-100000})); else echo "$ops"; fi
}
lg() {
  "${CLIENT[@]}" "$LG" run --target resp://127.0.0.1:16379 --read-pct "$1" --dist "${2:-uniform}" --keys 100000 --value-size 100 \
    --connections 50 --pipeline "${P:-16}" --threads 1 "${@:3}" 2>&1 | grep -oE '[0-9,]+ ops/s' | head -1 | tr -d ', ops/'
}
one() { # ARM -> ops/s
  local bin envs
  read -r bin envs <<<"$1"
  rm -rf "$DATA"
  env ${envs:-} "$bin" serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir "$DATA" \
    --sync "${SYNC:-always}" --shards "${SHARDS:-1}" --cpus "${CPU:-1}" >/dev/null 2>&1 &
  SPID=$!
  for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
  case ${TEST:-lgset} in
    lgset) lg 0 uniform --duration "${DUR:-3}" --warmup 1 ;;
    lgget) lg 0 sequential --ops 100000 >/dev/null; lg 100 uniform --duration "${DUR:-3}" --warmup 1 ;;
    rbset) rb set ;;
    rbget) rb set >/dev/null; rb get ;;
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
  python3 - "${*:i+1:1}" "${res[i]}" "${res[0]}" "${MEASURE:-ops}" <<'PY'
import statistics, sys
arm, vals, base, measure = sys.argv[1], list(map(int, sys.argv[2].split())), list(map(int, sys.argv[3].split())), sys.argv[4]
# Ahead: more requests per second, or less CPU per request.
led = sum((v < b) if measure == "nsop" else (v > b) for v, b in zip(vals, base))
unit = " ns/request" if measure == "nsop" else "/s"
print(f"[{arm}] median {statistics.median(vals):,.0f}{unit}; ahead of the first arm in {led} of {len(vals)}")
PY
done
