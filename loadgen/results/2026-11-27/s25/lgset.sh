#!/usr/bin/env bash
# lgset.sh: fresh 1-shard server (--sync ${SYNC:-none}) on CPU 1, loadgen native P16 SET of DV bytes over 100k keys, DUR s after 1 s warm-up; REDIS=1 for redis (resp)
DV=${DV:-1024}; DUR=${DUR:-3}
LG=${LG:-/work/main/target/release/ringkv-loadgen}
pkill -9 -f "resp-listen 127.0.0.1:16379"; pkill -9 -f "redis-server 127.0.0.1:16380"; sleep 0.2
if [[ -n "${REDIS:-}" ]]; then D=/var/tmp/rd-s25; rm -rf $D; mkdir -p $D
  taskset -c 1 redis-server --bind 127.0.0.1 --port 16380 --dir $D --save "" --appendonly no --daemonize no >/dev/null 2>&1 &
  TGT=resp://127.0.0.1:16380; PORT=16380
else D=/var/tmp/rk-s25-lg; rm -rf $D
  ${BIN:-./ringkv-base} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 &
  TGT=${PROTO:-native}://127.0.0.1:17070; [[ ${PROTO:-native} == resp ]] && TGT=resp://127.0.0.1:16379; PORT=16379
fi
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p $PORT ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
cpu() { cat /proc/$SPID/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
[[ -n "${PERF:-}" ]] && { (sleep 1.2; perf record -F 2999 -a -C 1 ${CG:-} -o $PERF -- sleep $((DUR-1)) >/dev/null 2>&1) & PP=$!; }
t0=$(cpu)
out=$(taskset -c 0 $LG run --target $TGT --read-pct 0 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration $DUR --warmup 1 --out /tmp/lgset.json 2>&1)
t1=$(cpu); HUGE=$(grep AnonHugePages /proc/$SPID/smaps_rollup | awk "{print \$2}"); RSS=$(grep "^Rss" /proc/$SPID/smaps_rollup | awk "{print \$2}")
ops=$(python3 -c "import json; d=json.load(open('/tmp/lgset.json')); print(d.get('ops') or d.get('summary',{}).get('ops') or '')" 2>/dev/null)
rps=$(python3 -c "import json; d=json.load(open('/tmp/lgset.json')); print(round(d['ops_per_sec']))")
echo "${REDIS:+redis }set rps $rps ops $ops huge_kb $HUGE rss_kb $RSS cpu_ms $(( (t1-t0)/1000000 )) $( [[ -z "${REDIS:-}" ]] && redis-cli -p $PORT info | tr -d '\r' | grep -E 'ringkv_(flushes|compactions|compaction_bytes_written|write_stall)' | tr '\n' ' ')"
[[ -n "${PP:-}" ]] && wait $PP
kill $SPID; wait $SPID 2>/dev/null; rm -rf $D
