#!/usr/bin/env bash
# mixed.sh: fresh ringkv (BIN, EXTRA) on CPU 1; loadgen native closed loop, READ% reads, DIST over KEYS keys of DV, P16 x 50, DUR s
BIN=${BIN:-./ringkv-final}; LG=${LG:-./ringkv-loadgen}; D=/var/tmp/rk-mixed; rm -rf $D
taskset -c 1 $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${MODE:-none} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
taskset -c 0 $LG run --target native://127.0.0.1:17070 --read-pct ${READ:-50} --dist ${DIST:-zipfian} --keys ${KEYS:-2000000} --value-size ${DV:-1024} --connections 50 --pipeline 16 --threads 1 --duration ${DUR:-15} --warmup 1 --out /tmp/mixed.json >/dev/null 2>&1
python3 -c "import json; d=json.load(open('/tmp/mixed.json')); print('ops/s', round(d['ops_per_sec']))"
echo "  $(redis-cli -p 16379 info | tr -d '\r' | grep -E 'ringkv_(flushes|compactions|block_cache_hits|block_cache_misses)' | tr '\n' ' ')"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
