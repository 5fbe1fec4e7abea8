#!/usr/bin/env bash
# ringkv server vs Redis 7, side by side on 127.0.0.1: redis-benchmark and
# `ringkv-loadgen run` (RESP and native) against
#   redis-aof   redis-server --appendonly yes --appendfsync always   (durable)
#   redis-mem   redis-server --save '' --appendonly no                (no persistence)
#   rk-always-sN  ringkv serve --sync always --shards N              (durable), N = 1, 2
#   rk-none-sN    ringkv serve --sync none --shards N                (memory speed), N = 1, 2
# each repeated REPS times; prints medians and ringkv/Redis ratios (summarize-server.py).
# Produces the numbers in docs/benchmarks.md ("Server: RESP and native, side by side with Redis").
#
# Usage: loadgen/compare.sh OUTDIR [REPS]
#   OUTDIR  gets out/ (one file per run: CONFIG_TEST_rN.{txt,json}) and data/ (wiped)
#   env: N (redis-benchmark requests per test, default 200000), DUR (loadgen measured
#        seconds, default 3), KEYS (loadgen key space, default 100000), CONNS (default 50),
#        VALUE (value bytes, default 100),
#        RATES (open-loop SET rates per second, e.g. "50000 100000"; default none): after
#        the closed-loop runs, each server is started afresh and offered SETs at each rate
#        (`ringkv-loadgen run --rate`, latency from the intended send time) for ODUR
#        seconds (default 10) after 1 s of warm-up, over RESP (and native for ringkv),
#        SERVERS (default: all six above), RINGKV, LG (binaries; default target/release/),
#        RK_CPU: the CPU a 1-shard ringkv runs on (`--cpus`); default: the one taking the
#        data disk's interrupts (scripts/disk-irq-cpu.sh); empty: ringkv's default (CPU 0),
#        RK_ARGS: more `ringkv serve` arguments, e.g. "--config FILE" (default none)
# Needs: `cargo build --release -p ringkv -p ringkv-loadgen`; redis-server and
# redis-benchmark 7 (apt-get install redis-server, done here if missing).
set -euo pipefail
trap 'echo "compare.sh: failed: $BASH_COMMAND" >&2' ERR
W=${1:?usage: compare.sh OUTDIR [REPS]}
# Absolute: redis-server changes to its --dir before it opens --logfile.
mkdir -p "$W" && W=$(cd "$W" && pwd)
REPS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RINGKV=${RINGKV:-$ROOT/target/release/ringkv}
LG=${LG:-$ROOT/target/release/ringkv-loadgen}
N=${N:-200000}
DUR=${DUR:-3}
KEYS=${KEYS:-100000}
CONNS=${CONNS:-50}
VALUE=${VALUE:-100}
RATES=${RATES:-}
ODUR=${ODUR:-10}
SERVERS=${SERVERS:-redis-aof redis-mem rk-always-s1 rk-always-s2 rk-none-s1 rk-none-s2}
HOST=127.0.0.1
RPORT=${RPORT:-16379}   # Redis, or ringkv's RESP port
NPORT=${NPORT:-17070}   # ringkv's native port

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  # The Debian package starts a system instance on 6379; we use our own.
  (systemctl stop redis-server 2>/dev/null || service redis-server stop 2>/dev/null || true)
fi
for b in "$RINGKV" "$LG"; do [[ -x $b ]] || { echo "missing $b: cargo build --release -p ringkv -p ringkv-loadgen" >&2; exit 1; }; done

OUT=$W/out
DATA=$W/data
mkdir -p "$OUT"
RK_CPU=${RK_CPU-$("$ROOT/loadgen/scripts/disk-irq-cpu.sh" "$DATA")}
echo "1-shard ringkv runs on CPU ${RK_CPU:-0 (default)}" | tee "$W/placement.txt"
# shellcheck source=loadgen/scripts/server-lib.sh
. "$ROOT/loadgen/scripts/server-lib.sh"

# The machine is shared with builders: before each run wait (at most 2 min) until no
# compiler runs, and note in the output file if one ran meanwhile.
quiet() {
  local i=0
  while pgrep -x rustc >/dev/null || pgrep -x cargo >/dev/null || pgrep -x cc1plus >/dev/null; do
    ((i++ < 24)) || break
    sleep 5
  done
}
busy_note() { if pgrep -x rustc >/dev/null || pgrep -x cargo >/dev/null; then echo "NOTE: a compiler was running at the end of this run"; fi; }

wait_port() { # until a RESP PING answers
  for _ in $(seq 300); do
    if [[ $(redis-cli -h $HOST -p "$RPORT" ping 2>/dev/null) == PONG ]]; then return 0; fi
    sleep 0.1
  done
  echo "server on $RPORT did not come up" >&2; return 1
}

start_server() { # CONFIG
  stop_server
  mkdir -p "$DATA"
  case $1 in
    redis-aof) redis-server --bind $HOST --port "$RPORT" --dir "$DATA" --save '' --appendonly yes --appendfsync always \
                 --daemonize no --logfile "$DATA/redis.log" --protected-mode no & ;;
    redis-mem) redis-server --bind $HOST --port "$RPORT" --dir "$DATA" --save '' --appendonly no \
                 --daemonize no --logfile "$DATA/redis.log" --protected-mode no & ;;
    rk-*)
      local sync=${1#rk-}; sync=${sync%-s*}; local shards=${1##*-s} cpus=()
      [[ $shards == 1 && -n $RK_CPU ]] && cpus=(--cpus "$RK_CPU")
      "$RINGKV" serve --listen $HOST:"$NPORT" --resp-listen $HOST:"$RPORT" --data-dir "$DATA/ringkv" \
        --sync "$sync" --shards "$shards" "${cpus[@]}" ${RK_ARGS:-} 2>"$DATA/ringkv.log" & ;;
  esac
  SPID=$!
  wait_port
}

rb() { # CONFIG P REP
  local f=$OUT/$1_rb-P$2_r$3.txt
  quiet
  { echo "\$ redis-benchmark -h $HOST -p $RPORT -t set,get -n $N -c $CONNS -r 1000000 -d $VALUE -P $2 -q"
    redis-benchmark -h $HOST -p "$RPORT" -t set,get -n "$N" -c "$CONNS" -r 1000000 -d "$VALUE" -P "$2" -q 2>&1 | tr '\r' '\n' | grep -v 'rps=' | grep -v '^ *$' || true
    busy_note; } >"$f"
}

lg() { # CONFIG PROTO OP P REP [extra...]; env LG_TAG (file name part), LG_DUR (seconds)
  local cfg=$1 proto=$2 op=$3 p=$4 rep=$5; shift 5
  local tgt pct tag=${LG_TAG:-lg-$proto-$op-P$p} dur=${LG_DUR:-$DUR}
  if [[ $proto == native ]]; then tgt=native://$HOST:$NPORT; else tgt=resp://$HOST:$RPORT; fi
  if [[ $op == set ]]; then pct=0; else pct=100; fi
  local base=$OUT/${cfg}_${tag}_r$rep
  quiet
  { echo "\$ ringkv-loadgen run --target $tgt --read-pct $pct --dist uniform --keys $KEYS --value-size $VALUE --connections $CONNS --pipeline $p --threads 1 --duration $dur --warmup 1 $*"
    "$LG" run --target "$tgt" --read-pct "$pct" --dist uniform --keys "$KEYS" --value-size "$VALUE" --connections "$CONNS" \
      --pipeline "$p" --threads 1 --duration "$dur" --warmup 1 --label "$cfg $proto $op P$p r$rep" --out "$base.json" "$@" 2>&1
    busy_note; } >"$base.txt"
}

protos_of() { # CONFIG: the protocols it is driven over
  if [[ $1 == rk-* ]]; then echo resp native; else echo resp; fi
}

for r in $(seq 1 "$REPS"); do
  for cfg in $SERVERS; do
    echo "rep $r $cfg $(date +%T) loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
    start_server "$cfg"
    rb "$cfg" 1 "$r"
    rb "$cfg" 16 "$r"
    loaded=
    for proto in $(protos_of "$cfg"); do
      for p in 1 16; do
        lg "$cfg" "$proto" set "$p" "$r"
        if [[ -z $loaded ]]; then lg "$cfg" "$proto" get "$p" "$r" --load; loaded=1
        else lg "$cfg" "$proto" get "$p" "$r"; fi
      done
    done
    stop_server
  done
done
if [[ -n $RATES ]]; then
  for r in $(seq 1 "$REPS"); do
    for cfg in $SERVERS; do
      for proto in $(protos_of "$cfg"); do
        for rate in $RATES; do
          echo "open loop: rep $r $cfg $proto $rate/s $(date +%T)"
          start_server "$cfg"
          LG_TAG=lgo-$proto-set-R$rate LG_DUR=$ODUR lg "$cfg" "$proto" set 16 "$r" --rate "$rate"
          stop_server
        done
      done
    done
  done
fi
python3 "$ROOT/loadgen/scripts/summarize-server.py" "$OUT" | tee "$W/summary.md"
echo "done $(date +%T)"
