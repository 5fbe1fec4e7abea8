#!/usr/bin/env bash
# sg.sh: fresh 1-shard server (or REDIS=1: redis) on CPU 1; like compare.sh's rb rows: P1 set,get, then P16 set, then P16 get (-d DV); prints P16 get rps + ns/op
DV=${DV:-1024}; N=${N:-100000}
pkill -9 -f "resp-listen 127.0.0.1:16379"; pkill -9 -f "redis-server 127.0.0.1:16380"; sleep 0.2
if [[ -n "${REDIS:-}" ]]; then PORT=16380; D=/var/tmp/rd-s24; rm -rf $D; mkdir -p $D
  taskset -c 1 redis-server --bind 127.0.0.1 --port 16380 --dir $D --save "" --appendonly no --daemonize no >/dev/null 2>&1 &
else PORT=16379; D=/var/tmp/rk-s24-sg; rm -rf $D
  ${BIN:-./ringkv-base} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 &
fi
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p $PORT ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
cpu() { cat /proc/$SPID/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
taskset -c 0 redis-benchmark -p $PORT -c 50 -n 100000 -P 1 -r 1000000 -d $DV -t set,get >/dev/null 2>&1
s=$(taskset -c 0 redis-benchmark -p $PORT -c 50 -n $N -P 16 -r 1000000 -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
[[ -n "${PERF:-}" ]] && { perf record -a -C 1 ${CG:-} -o $PERF >/dev/null 2>&1 & PP=$!; sleep 0.3; }
t0=$(cpu)
g=$(taskset -c 0 redis-benchmark -p $PORT -c 50 -n $N -P 16 -r 1000000 -d $DV -t get --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
t1=$(cpu)
[[ -n "${PERF:-}" ]] && { kill -INT $PP; wait $PP; }
echo "${REDIS:+redis }set $s get $g get-ns/op $(( (t1-t0)/N )) keys $(redis-cli -p $PORT dbsize)"
kill $SPID; wait $SPID 2>/dev/null; rm -rf $D
