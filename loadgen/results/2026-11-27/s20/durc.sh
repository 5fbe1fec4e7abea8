#!/usr/bin/env bash
# durc.sh C P : durable rb SET with C clients, pipeline P; prints ops/s, commits, ops/commit, server ns/op
BIN=${BIN:-/work/main/target/release/ringkv}; N=${N:-400000}; C=$1; P=$2
DATA=/var/tmp/rk-s20-c; rm -rf $DATA
pkill -9 -f "resp-listen 127.0.0.1:16379" ; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync ${SYNC:-always} --shards 1 --cpus 1 >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
c0=$(redis-cli -p 16379 info | awk -F: '/ringkv_wal_commits/ {print $2+0}')
t0=$(cat /proc/$SPID/task/*/schedstat | awk '{s+=$1} END {print s}')
ops=$(taskset -c 0 redis-benchmark -p 16379 -c $C -n $N -P $P -r 1000000 -d 100 -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"' | cut -d. -f1)
t1=$(cat /proc/$SPID/task/*/schedstat | awk '{s+=$1} END {print s}')
c1=$(redis-cli -p 16379 info | awk -F: '/ringkv_wal_commits/ {print $2+0}')
echo "c=$C P=$P ops/s $ops commits $((c1-c0)) ops/commit $((N/(c1-c0+1))) ns/op $(( (t1-t0)/N ))"
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
