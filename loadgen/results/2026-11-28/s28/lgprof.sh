#!/usr/bin/env bash
# lgprof.sh: fresh ringkv --sync ${SYNC:-none} on CPU 1; loadgen resp P${P:-16} SETs of DV over 100k keys for DUR s with perf record -C 1 (OUT); prints ops and server CPU/op
BIN=${BIN:-./ringkv-z}; D=/var/tmp/rk-lgprof; rm -rf $D; DV=${DV:-1024}; DUR=${DUR:-4}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
[[ -n ${OUT:-} ]] && { perf record -C 1 --call-graph dwarf,8192 -o $OUT >/dev/null 2>&1 & PP=$!; sleep 0.3; }
c0=$(cpu)
taskset -c 0 ./ringkv-loadgen run --target ${PROTO:-resp}://127.0.0.1:$([[ ${PROTO:-resp} == resp ]] && echo 16379 || echo 17070) --read-pct 0 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline ${P:-16} --threads 1 --duration $DUR --warmup 0 --out /tmp/lgprof.json >/dev/null 2>&1
c1=$(cpu); [[ -n ${OUT:-} ]] && { kill -INT $PP; wait $PP; }
python3 -c "import json; d=json.load(open('/tmp/lgprof.json')); n=d['ops']; print(round(d['ops_per_sec']), 'ops', n, 'server_ns/op', round(($c1-$c0)/n))" 2>/dev/null || python3 -c "import json; d=json.load(open('/tmp/lgprof.json')); print(d.keys())"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
