#!/usr/bin/env bash
# ovpoll.sh: fresh ringkv --sync ${SYNC:-always} (1 shard, CPU 1); loadgen RESP P16 SETs of 1 KiB over 100k keys for 10 s;
# INFO stats/memory/persistence every 0.5 s (no keyspace section: its count would hold a scan's reader)
BIN=${BIN:-./ringkv-cp3}; LG=${LG:-./lg-base}; D=/var/tmp/rk-ovp; rm -rf $D
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-always} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!; sleep 0.5
$LG run --target resp://127.0.0.1:16379 --read-pct 0 --dist uniform --keys 100000 --value-size 1024 --connections 50 --pipeline 16 --threads 1 --duration 10 --warmup 0 --out /tmp/ovp.json 2>&1 | grep measured & LP=$!
for i in $(seq 20); do echo "$i $( (redis-cli -p 16379 info stats; redis-cli -p 16379 info memory; redis-cli -p 16379 info persistence) 2>/dev/null | tr -d '\r' | grep -E 'ringkv_flushes|checkpoints|ringkv_memtable_bytes|wal_bytes' | tr '\n' ' ')"; sleep 0.5; done
wait $LP; kill $SP; wait $SP 2>/dev/null; rm -rf $D
