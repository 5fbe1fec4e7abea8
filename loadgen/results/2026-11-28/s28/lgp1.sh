#!/usr/bin/env bash
# lgp1.sh: loadgen RESP P1 SETs of DV (3 s after 1 s warm-up) against Redis (no AOF) and ringkv --sync none, alternating REPS times
DV=${DV:-1024}; D=/var/tmp/rk-lgp1; LG=./ringkv-loadgen
wait_up() { for _ in $(seq 200); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && return; sleep 0.05; done; }
run() { taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct 0 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline ${P:-1} --threads 1 --duration 3 --warmup 1 --out /tmp/lgp1.json >/dev/null 2>&1; python3 -c "import json; d=json.load(open('/tmp/lgp1.json')); print(round(d['ops_per_sec']), 'p50', d['latency_us']['all']['p50'])"; }
cpu() { cat /proc/$1/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
for r in $(seq ${REPS:-3}); do
  rm -rf $D; mkdir -p $D
  taskset -c 1 redis-server --port 16379 --dir $D --save '' --appendonly no --daemonize no --logfile $D/r.log >/dev/null 2>&1 & SP=$!; wait_up
  c0=$(cpu $SP); echo "redis $(run) cpu_s $(( ($(cpu $SP)-c0)/10000000 ))"; kill $SP; wait $SP 2>/dev/null
  rm -rf $D; mkdir -p $D
  ${BIN:-./ringkv-z} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync none --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!; wait_up
  c0=$(cpu $SP); echo "ringkv $(run) cpu_cs $(( ($(cpu $SP)-c0)/10000000 ))"; kill $SP; wait $SP 2>/dev/null
done; rm -rf $D
