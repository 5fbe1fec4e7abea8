#!/usr/bin/env bash
# getafter.sh: fresh ringkv --sync ${SYNC:-none} on CPU 1; loadgen RESP P16 SETs of DV over 100k keys for 3 s, then P16 GETs for DUR s (perf record -C 1 to OUT if set); GET ops/s and server CPU ns/op
BIN=${BIN:-./ringkv-pt}; D=/var/tmp/rk-ga; rm -rf $D; DV=${DV:-1024}; DUR=${DUR:-3}; LG=${LG:-./lg-pt}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct 0 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration ${SDUR:-3} --warmup 0 --out /tmp/ga-s.json >/dev/null 2>&1
sleep ${GAP:-0}
[[ -n ${OUT:-} ]] && { perf record -F 4000 -C 1 --call-graph dwarf,8192 -o $OUT >/dev/null 2>&1 & PP=$!; sleep 0.3; }
c0=$(cpu)
taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct 100 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration $DUR --warmup 0 --out /tmp/ga.json >/dev/null 2>&1
c1=$(cpu); [[ -n ${OUT:-} ]] && { kill -INT $PP; wait $PP; }
python3 -c "import json; d=json.load(open('/tmp/ga.json')); s=json.load(open('/tmp/ga-s.json')); n=d['ops']; print('set', round(s['ops_per_sec']), 'get', round(d['ops_per_sec']), 'server_ns/op', round(($c1-$c0)/n))"
redis-cli -p 16379 info 2>/dev/null | grep -iE "tables|flush|cache" | tr -d '\r' | tr '\n' ' '; echo
kill $SP; wait $SP 2>/dev/null; rm -rf $D
