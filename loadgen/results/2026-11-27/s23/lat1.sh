#!/usr/bin/env bash
# lat1.sh BIN: fresh durable 1-shard server on CPU 1; redis-benchmark -c C (1) -P 1 SETs: rps and latency percentiles
BIN=$1; DATA=/var/tmp/rk-s23-l1; rm -rf $DATA
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync always --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
taskset -c 0 redis-benchmark -p 16379 -c ${C:-1} -n ${N:-20000} -P 1 -r 1000000 -d 100 -t set --csv 2>/dev/null | tail -1
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
