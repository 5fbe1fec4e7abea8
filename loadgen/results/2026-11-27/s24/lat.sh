#!/usr/bin/env bash
# lat.sh BIN: fresh 1-shard none server; rb P16 -c 50 SET 1 KiB -n N over 1M keys; prints rps and the latency summary line (avg min p50 p95 p99 max, ms)
BIN=$1; D=/var/tmp/rk-s24-lat; rm -rf $D
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
taskset -c 0 redis-benchmark -p 16379 -c 50 -n ${N:-600000} -P ${P:-16} -r 1000000 -d ${DV:-1024} -t set 2>/dev/null | tr '\r' '\n' | grep -A2 "latency summary" | tail -1 | sed "s/^/$(basename $BIN) /"
kill $SPID; wait $SPID 2>/dev/null; rm -rf $D
