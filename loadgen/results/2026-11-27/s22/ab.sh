#!/usr/bin/env bash
# Run from the repository root. Env: BIN, SYNC (none), P (16), WARM (SETs before the measured ones), SHARDS (1), CPUS (1), EXTRA (server flags).
# ab.sh DV R NSET NGET: fresh 1-shard server (--sync none) on CPU 1; rb P16 SET NSET over R keys, then GET NGET; prints set/get rps and server ns/op
DV=$1; R=$2; NSET=$3; NGET=$4; BIN=${BIN:-target/release/ringkv}
DATA=/var/tmp/rk-s22-ab; rm -rf $DATA
pkill -9 -f "resp-listen 127.0.0.1:16379" ; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync ${SYNC:-none} --shards ${SHARDS:-1} --cpus ${CPUS:-1} ${EXTRA:-} >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
cpu() { cat /proc/$SPID/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
[[ -n "${WARM:-}" ]] && taskset -c 0 redis-benchmark -p 16379 -c 50 -n $WARM -P 16 -r $R -d $DV -t set >/dev/null 2>&1
t0=$(cpu)
s=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n $NSET -P ${P:-16} -r $R -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
t1=$(cpu)
g=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n $NGET -P ${P:-16} -r $R -d $DV -t get --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
t2=$(cpu)
echo "set $s ns/op $(( (t1-t0)/NSET )) get $g ns/op $(( (t2-t1)/NGET ))"
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
