#!/usr/bin/env bash
# sg.sh BIN: fresh 1-shard --sync none server on CPU 1; redis-benchmark -t set,get as compare.sh runs it (1 KiB)
BIN=$1; DATA=/var/tmp/rk-s22-sg; rm -rf $DATA
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
[[ -n "${P1FIRST:-}" ]] && taskset -c 0 redis-benchmark -h 127.0.0.1 -p 16379 -t set,get -n 100000 -c 50 -r 1000000 -d ${DV:-1024} -P 1 -q >/dev/null 2>&1
taskset -c 0 redis-benchmark -h 127.0.0.1 -p 16379 -t set,get -n 100000 -c 50 -r 1000000 -d ${DV:-1024} -P 16 --csv 2>/dev/null | grep -E "SET|GET" | cut -d, -f1,2 | tr -d '"' | tr '\n' ' '; echo
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
