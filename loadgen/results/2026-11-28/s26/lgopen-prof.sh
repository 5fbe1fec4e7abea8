#!/usr/bin/env bash
# open loop (as lgopen.sh) with perf record -F 10000 -C 1 dwarf over seconds 1..DUR
LG=${LG:-/work/scratch/s26/ringkv-loadgen}; DV=${DV:-1024}; DUR=${DUR:-5}; RATE=${RATE:-50000}; KEYS=${KEYS:-100000}
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
D=/var/tmp/rk-s26-open; rm -rf $D
${BIN:-./ringkv} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
(sleep 1; perf record -F 10000 -C 1 --call-graph dwarf,8192 -o ${OUT:-open.data} -- sleep $((DUR-1)) >/dev/null 2>&1) & PF=$!
taskset -c 0 $LG run --target native://127.0.0.1:17070 --read-pct 0 --dist uniform --keys $KEYS --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration $DUR --warmup 0 --rate $RATE --out /tmp/lgopen.json >/dev/null 2>&1
wait $PF
python3 -c "
import json; d=json.load(open('/tmp/lgopen.json')); a=d['latency_us']['all']; print('p99', a['p99'], 'p99.9', a['p99.9'], [round(t['p99_us']) for t in d['timeline']])"
kill $SPID; wait $SPID 2>/dev/null; rm -rf $D
