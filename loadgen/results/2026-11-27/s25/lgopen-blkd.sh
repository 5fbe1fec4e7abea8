#!/usr/bin/env bash
DV=${DV:-1024}; DUR=${DUR:-10}; RATE=${RATE:-75000}
LG=/work/main/target/release/ringkv-loadgen
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
D=/var/tmp/rk-s25-open; rm -rf $D
${BIN:-./ringkv-base} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync always --shards 1 --cpus 1 >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
perf record -e block:block_rq_issue,block:block_rq_complete -a -o /tmp/blk3.data >/dev/null 2>&1 &
TP=$!
sleep 0.5
taskset -c 0 $LG run --target native://127.0.0.1:17070 --read-pct 0 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration $DUR --warmup 1 --rate $RATE --out /tmp/lgopen.json >/dev/null 2>&1
kill -INT $TP; wait $TP
python3 -c "
import json; d=json.load(open('/tmp/lgopen.json')); print([round(t['p99_us']) for t in d['timeline']])"
kill $SPID; wait $SPID 2>/dev/null; rm -rf $D
