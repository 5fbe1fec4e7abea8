#!/usr/bin/env bash
# lgget.sh BIN: fresh 1-shard none server on CPU 1; loadgen --load 100k keys of DV (1024), then GET P16 3 s; PERF=file records the GET run
BIN=${BIN:-./ringkv-head}; LG=/work/main/target/release/ringkv-loadgen; D=/var/tmp/rk-s24-lg; rm -rf $D
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync none --shards 1 --cpus 1 >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
taskset -c 0 $LG run --target ${PROTO:-native}://127.0.0.1:${PORT:-17070} --read-pct 100 --dist uniform --keys 100000 --value-size ${DV:-1024} --connections 50 --pipeline 16 --threads 1 --duration 1 --warmup 0 --load >/dev/null 2>&1
[[ -n "${PERF:-}" ]] && { perf record -a -C 1 ${CG:-} -o $PERF >/dev/null 2>&1 & PP=$!; sleep 0.3; }
taskset -c 0 $LG run --target ${PROTO:-native}://127.0.0.1:${PORT:-17070} --read-pct 100 --dist uniform --keys 100000 --value-size ${DV:-1024} --connections 50 --pipeline 16 --threads 1 --duration 3 --warmup 1 2>&1 | grep -E "^(get|GET|read|all)" | tail -2
[[ -n "${PERF:-}" ]] && { kill -INT $PP; wait $PP; }
redis-cli -p 16379 info | tr -d '\r' | grep -E "cache_hits|cache_misses|tables_per_level|memtable" | tr '\n' ' '; echo
kill $SPID; wait $SPID 2>/dev/null; rm -rf $D
