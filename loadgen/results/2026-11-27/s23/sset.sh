#!/usr/bin/env bash
# sset.sh BIN: fresh 1-shard server (SYNC, default none) on CPU 1; rb P16 SET -n N over R keys, value DV; prints rps
BIN=$1; DATA=/var/tmp/rk-s23-ss; rm -rf $DATA
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
taskset -c 0 redis-benchmark -h 127.0.0.1 -p 16379 -t set -n ${N:-1000000} -c 50 -r ${R:-1000000} -d ${DV:-1024} -P 16 --csv 2>/dev/null | grep -E "SET" | cut -d, -f2 | tr -d '"' | tr '\n' ' '
redis-cli -p 16379 info | tr -d '\r' | grep -E "ringkv_(write_stalls|stall|flushes)" | tr '\n' ' '; echo
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
