#!/usr/bin/env bash
# lgget.sh (OUT=perf.data to record CPU 1 during the GETs; PROTO=resp|native for the GETs): fresh ringkv --sync none on CPU 1; 100k keys of DV loaded (loadgen, sequential), then loadgen resp P16 GETs for DUR s; ops and server CPU/op
BIN=${BIN:-./ringkv-zg}; D=/var/tmp/rk-lgget; rm -rf $D; DV=${DV:-100}; DUR=${DUR:-3}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync none --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
taskset -c 0 ./ringkv-loadgen run --target resp://127.0.0.1:16379 --read-pct 0 --dist sequential --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --ops 100000 --warmup 0 --out /tmp/lgload.json >/dev/null 2>&1
[[ -n ${OUT:-} ]] && { perf record -C 1 --call-graph dwarf,8192 -o $OUT >/dev/null 2>&1 & PP=$!; sleep 0.3; }
c0=$(cpu)
taskset -c 0 ./ringkv-loadgen run --target ${PROTO:-resp}://127.0.0.1:$([[ ${PROTO:-resp} == resp ]] && echo 16379 || echo 17070) --read-pct 100 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration $DUR --warmup 0 --out /tmp/lgget.json >/dev/null 2>&1
c1=$(cpu); [[ -n ${OUT:-} ]] && { kill -INT $PP; wait $PP; }
python3 -c "import json; d=json.load(open('/tmp/lgget.json')); n=d['ops']; print(round(d['ops_per_sec']), 'ops', n, 'server_ns/op', round(($c1-$c0)/n), 'misses', d.get('read_misses'))"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
