#!/usr/bin/env bash
# Every RESP command ringkv answers from one key or a few, side by side with
# Redis: redis-benchmark runs each command on a fresh Redis (no persistence)
# and a fresh 1-shard ringkv (`--sync none`), REPS times, alternating which
# goes first; prints the medians and the ringkv/Redis ratios.
#
# compare.sh measures SET and GET; this finds the commands that take another
# path (docs/benchmarks.md, "Seventeenth pass").
#
# Usage: loadgen/scripts/command-sweep.sh OUTDIR [REPS]
#   OUTDIR  gets out/ (one redis-benchmark CSV per server, test and rep) and
#           summary.md; its data/ is wiped.
#   env: P (pipeline depth, default 16), N (requests per test, default 400000),
#        KEYS (key space, default 100000: the keys are loaded first, 100 B each,
#        by 3 x KEYS random SETs), TESTS (default: all below), RINGKV (binary),
#        CPU (the servers' CPU; default: the disk's interrupt CPU, as
#        compare.sh), CLIENT_CPU (redis-benchmark's; default: another one).
set -euo pipefail
W=${1:?usage: command-sweep.sh OUTDIR [REPS]}
mkdir -p "$W" && W=$(cd "$W" && pwd)
REPS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RINGKV=${RINGKV:-$ROOT/target/release/ringkv}
P=${P:-16}
N=${N:-400000}
KEYS=${KEYS:-100000}
HOST=127.0.0.1
PORT=${PORT:-16379}
OUT=$W/out
DATA=$W/data
mkdir -p "$OUT"
[[ -x $RINGKV ]] || { echo "missing $RINGKV: cargo build --release -p ringkv" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "needs redis-server and redis-benchmark (apt-get install redis-server)" >&2; exit 1; }
CPU=${CPU-$("$ROOT/loadgen/scripts/disk-irq-cpu.sh" "$DATA")}
CPU=${CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-$((CPU == 0 ? 1 : 0))}

K=key:__rand_int__
V=$(printf 'x%.0s' $(seq 100))
declare -A T=(
  [get]="GET $K" [set]="SET $K $V" [incr]="INCR counter:__rand_int__"
  [exists1]="EXISTS $K" [exists2]="EXISTS $K $K" [strlen]="STRLEN $K" [type]="TYPE $K" [ttl]="TTL $K"
  [mget10]="MGET $K $K $K $K $K $K $K $K $K $K"
  [mset10]="MSET $K v $K v $K v $K v $K v $K v $K v $K v $K v $K v"
  [getset]="GETSET $K $V" [setnx]="SETNX $K v" [append]="APPEND appended:__rand_int__ abc"
  [del-missing]="DEL missing:__rand_int__" [getdel-missing]="GETDEL missing:__rand_int__"
  [ping]="PING" [echo]="ECHO hello"
)
TESTS=${TESTS:-get set incr exists1 exists2 strlen type ttl mget10 mset10 getset setnx append del-missing getdel-missing ping echo}

# shellcheck source=loadgen/scripts/server-lib.sh
. "$ROOT/loadgen/scripts/server-lib.sh"

start_server() { # redis | ringkv
  stop_server
  mkdir -p "$DATA"
  case $1 in
    redis) taskset -c "$CPU" redis-server --bind $HOST --port "$PORT" --dir "$DATA" --save '' --appendonly no \
             --daemonize no --logfile "$DATA/redis.log" --protected-mode no & ;;
    ringkv) "$RINGKV" serve --listen $HOST:$((PORT + 1)) --resp-listen $HOST:"$PORT" --data-dir "$DATA/ringkv" \
              --sync none --shards 1 --cpus "$CPU" >"$DATA/ringkv.log" 2>&1 & ;;
  esac
  SPID=$!
  for _ in $(seq 300); do
    [[ $(redis-cli -h $HOST -p "$PORT" ping 2>/dev/null) == PONG ]] && return 0
    sleep 0.1
  done
  echo "$1 did not come up on $PORT" >&2
  return 1
}

bench() { # ARGS...: requests/s of redis-benchmark on the client CPU
  taskset -c "$CLIENT_CPU" redis-benchmark -h $HOST -p "$PORT" -c 50 -P "$P" -r "$KEYS" --csv "$@" 2>/dev/null |
    tail -1 | cut -d, -f2 | tr -d '"'
}

for r in $(seq 1 "$REPS"); do
  order="redis ringkv"
  ((r % 2 == 0)) && order="ringkv redis"
  for srv in $order; do
    echo "rep $r $srv $(date +%T)"
    start_server "$srv"
    bench -n $((3 * KEYS)) -d 100 -t set >/dev/null
    for t in $TESTS; do
      # shellcheck disable=SC2086  # each test is a command line
      echo "$(bench -n "$N" ${T[$t]})" >"$OUT/${srv}_${t}_r$r.txt"
    done
    stop_server
  done
done

python3 - "$OUT" "$TESTS" "P=$P N=$N KEYS=$KEYS REPS=$REPS CPU=$CPU CLIENT_CPU=$CLIENT_CPU" <<'EOF' | tee "$W/summary.md"
import os, statistics, sys
out, tests, params = sys.argv[1], sys.argv[2].split(), sys.argv[3]
def med(srv, t):
    v = []
    for f in os.listdir(out):
        if f.startswith(f"{srv}_{t}_r"):
            try:
                v.append(float(open(os.path.join(out, f)).read()))
            except ValueError:
                pass
    return statistics.median(v) if v else 0.0
print(f"redis-benchmark -c 50, medians ({params})\n")
print("| command | Redis | ringkv | ratio |")
print("|---|---:|---:|---:|")
for t in tests:
    a, b = med("redis", t), med("ringkv", t)
    print(f"| {t} | {a:,.0f} | {b:,.0f} | {b / a if a else 0:.2f}x |")
EOF
