#!/usr/bin/env bash
# lgp.sh SERVER(redis|ringkv): fresh server on CPU 1 (MODE none); loadgen SETs fill KEYS, then loadgen PROTO (resp) OP (get) P (1) for DUR s; server ns/op; PERF=file records CPU 1
BIN=${BIN:-/work/scratch/s26/ringkv}; LG=${LG:-/work/scratch/s26/ringkv-loadgen}; D=/var/tmp/rk-s26-lgp; rm -rf $D; mkdir -p $D; MODE=${MODE:-none}
KEYS=${KEYS:-100000}; DV=${DV:-100}; P=${P:-1}; OP=${OP:-get}; PROTO=${PROTO:-resp}; DUR=${DUR:-3}
if [[ $1 == redis ]]; then
  if [[ $MODE == always ]]; then A="--appendonly yes --appendfsync always"; else A="--appendonly no"; fi
  taskset -c 1 redis-server --port 16379 --dir $D --save '' $A --daemonize no --logfile $D/redis.log >/dev/null 2>&1 & SP=$!
else
  $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync $MODE --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
fi
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
if [[ $PROTO == native ]]; then T=native://127.0.0.1:17070; else T=resp://127.0.0.1:16379; fi
taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct 0 --dist sequential --keys $KEYS --value-size $DV --connections 50 --pipeline 16 --threads 1 --ops $KEYS >/dev/null 2>&1
if [[ $OP == set ]]; then pct=0; else pct=100; fi
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
[[ -n "${PERF:-}" ]] && { perf record -C 1 ${CG:--g} -o $PERF >/dev/null 2>&1 & PP=$!; sleep 0.3; }
t0=$(cpu)
out=$(taskset -c 0 $LG run --target $T --read-pct $pct --dist uniform --keys $KEYS --value-size $DV --connections 50 --pipeline $P --threads 1 --duration $DUR --warmup 1 --out $D/o.json 2>&1)
t1=$(cpu)
[[ -n "${PERF:-}" ]] && { kill -INT $PP; wait $PP; }
ops=$(python3 -c "import json; d=json.load(open('$D/o.json')); print(d.get('ops') or d['summary']['ops'] if 'summary' in d else d)" 2>/dev/null)
rps=$(python3 -c "
import json; d=json.load(open('$D/o.json'))
def find(o,k):
  if isinstance(o,dict):
    if k in o: return o[k]
    for v in o.values():
      r=find(v,k)
      if r is not None: return r
print(find(d,'ops_per_sec') or find(d,'throughput'))")
echo "$1 $OP P$P $PROTO rps $rps server_ms $(( (t1-t0)/1000000 ))"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
