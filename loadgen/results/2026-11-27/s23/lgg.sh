#!/usr/bin/env bash
# lgg.sh BIN: fresh 1-shard --sync none server on CPU 1; loadgen resp SET P16 DUR s then GET P16 DUR s over 100k keys of DV bytes (as compare.sh); prints both rates
BIN=$1; DATA=/var/tmp/rk-s23-lgg; rm -rf $DATA; LG=${LG:-/work/main/target/release/ringkv-loadgen}
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
for pct in 0 100; do
  taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct $pct --dist uniform --keys 100000 --value-size ${DV:-1024} --connections 50 --pipeline ${P:-16} --threads 1 --duration ${DUR:-3} --warmup 1 --out /tmp/lgg.json >/dev/null 2>&1; python3 -c "import json; d=json.load(open('/tmp/lgg.json')); print(round(d.get('throughput', d.get('ops_per_sec', 0))), end=' ')" 2>/dev/null || python3 -c "import json; print(list(json.load(open('/tmp/lgg.json')).keys()))"
done; echo
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
