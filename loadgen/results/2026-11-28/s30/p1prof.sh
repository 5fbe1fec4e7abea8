#!/usr/bin/env bash
# p1prof.sh: fresh ringkv --sync none on CPU 1; loadgen resp P1 SETs of DV (50 connections) for DUR s under perf record -C 1 (OUT); ops and server CPU/op
BIN=${BIN:-./ringkv-cmp}; D=/var/tmp/rk-p1prof; rm -rf $D; DV=${DV:-100}; DUR=${DUR:-4}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync none --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
[[ -n ${OUT:-} ]] && { perf record -C 1 --call-graph dwarf,8192 -o $OUT >/dev/null 2>&1 & PP=$!; sleep 0.3; }
c0=$(cpu)
taskset -c 0 ./ringkv-loadgen run --target ${PROTO:-resp}://127.0.0.1:$([[ ${PROTO:-resp} == resp ]] && echo 16379 || echo 17070) --read-pct ${RP:-0} --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline 1 --threads 1 --duration $DUR --warmup 0 --out /tmp/p1prof.json >/dev/null 2>&1
c1=$(cpu); [[ -n ${OUT:-} ]] && { kill -INT $PP; wait $PP; }
python3 -c "import json; d=json.load(open('/tmp/p1prof.json')); n=d['ops']; print(round(d['ops_per_sec']), 'ops', n, 'server_ns/op', round(($c1-$c0)/n))"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
