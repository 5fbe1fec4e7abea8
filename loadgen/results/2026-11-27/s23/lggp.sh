#!/usr/bin/env bash
# lggp.sh BIN OUT: as lgg.sh, with perf record -g on CPU 1 during the GET phase
BIN=$1; OUT=$2; DATA=/var/tmp/rk-s23-lgg; rm -rf $DATA; LG=${LG:-/work/main/target/release/ringkv-loadgen}
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
run() { taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct $1 --dist uniform --keys 100000 --value-size ${DV:-1024} --connections 50 --pipeline ${P:-16} --threads 1 --duration ${DUR:-3} --warmup 1 --out /tmp/lggp.json >/dev/null 2>&1; python3 -c "import json; d=json.load(open('/tmp/lggp.json')); print(round(d['summary']['throughput'] if 'summary' in d else d['throughput']), end=' ')"; }
run 0
perf record -F 2999 -g -C 1 -o $OUT >/dev/null 2>&1 & PP=$!
run 100
kill -INT $PP; wait $PP
redis-cli -p 16379 info | tr -d '\r' | grep -E "ringkv_(compactions|flushes|tables_per|block_cache_hits|block_cache_misses)" | tr '\n' ' '; echo
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
