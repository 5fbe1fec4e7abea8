#!/usr/bin/env bash
# long1k.sh: fresh ringkv (BIN, --sync SYNC) on CPU 1; loadgen RESP P16 SETs of DV over 100k keys for DUR s; per-second rate, max latency, server CPU per SET, flushes
BIN=${BIN:-./ringkv-rc}; D=/var/tmp/rk-long; rm -rf $D; DV=${DV:-1024}; DUR=${DUR:-10}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
c0=$(cpu)
taskset -c 0 ./ringkv-loadgen run --target resp://127.0.0.1:16379 --read-pct 0 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration $DUR --warmup 0 --out /tmp/long1k.json >/dev/null 2>&1
c1=$(cpu)
fl=$(redis-cli -p 16379 info | tr -d '\r' | awk -F: '/ringkv_flushes:/{print $2}')
python3 -c "
import json; d=json.load(open('/tmp/long1k.json')); n=d['ops']
print('$BIN', round(d['ops_per_sec']), 'server_ns/op', round(($c1-$c0)/n), 'max_ms', round(d['latency_us']['all']['max']/1000), 'p99.9_ms', round(d['latency_us']['all']['p99.9']/1000,1), 'flushes', $fl, 'per_s', [round(x['ops_per_sec']/1e3) for x in d['timeline']])"
kill $SP; wait $SP 2>/dev/null; du -sh $D/shard-0 2>/dev/null | cut -f1; rm -rf $D
