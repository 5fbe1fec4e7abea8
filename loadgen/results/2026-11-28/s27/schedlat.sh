#!/usr/bin/env bash
BIN=${BIN:-./ringkv-base}; D=/var/tmp/rk-dbg; rm -rf $D
taskset -c 1 $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${MODE:-always} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
[[ -n ${SLICE:-} ]] && python3 slice.py $SP $SLICE shard
[[ -n ${NICE:-} ]] && for t in /proc/$SP/task/*; do grep -q shard $t/comm && renice -n $NICE -p $(basename $t) >/dev/null; done
perf sched record -C 1 -o sched.data -- taskset -c 0 redis-benchmark -p 16379 -c 50 -n ${N:-400000} -P 16 -r 1000000 -d 100 -t set --csv 2>/dev/null | tail -1
kill $SP; wait $SP; rm -rf $D
perf sched latency -i sched.data 2>/dev/null | head -16
