#!/usr/bin/env bash
# cpverify.sh: fresh ringkv --sync ${SYNC:-always} (1 shard, CPU 1); loadgen RESP P16 SETs of 1 KiB over 100k keys for DUR s with --verify;
# INFO (checkpoints, flushes); SIGKILL while the loadgen still runs; restart; loadgen check of every acknowledged write
BIN=${BIN:-./ringkv-cp2}; LG=${LG:-./lg-base}; D=/var/tmp/rk-cpv; rm -rf $D /tmp/cpv.log
start() { $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-always} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!; }
up() { for _ in $(seq 2000); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && return; sleep 0.01; done; }
start; up
$LG run --target resp://127.0.0.1:16379 --read-pct 0 --dist uniform --keys 100000 --value-size 1024 --connections 50 --pipeline 16 --threads 1 --duration ${DUR:-8} --warmup 0 --verify /tmp/cpv.log --out /tmp/cpv.json >/dev/null 2>&1 & LP=$!
sleep $(( ${DUR:-8} - 1 ))
redis-cli -p 16379 info 2>/dev/null | grep -E "ringkv_flushes|checkpoints" | tr -d '\r' | tr '\n' ' '; echo
kill -9 $SP; wait $LP 2>/dev/null; wait $SP 2>/dev/null
start; up
$LG check --verify /tmp/cpv.log --target resp://127.0.0.1:16379; echo "check exit $?"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
