#!/usr/bin/env bash
# sysc.sh SERVER: like lgp.sh but counts the server's syscalls during the measured run
BIN=${BIN:-/work/scratch/s26/ringkv}; LG=${LG:-/work/scratch/s26/ringkv-loadgen}; D=/var/tmp/rk-s26-lgp; rm -rf $D; mkdir -p $D; MODE=${MODE:-none}
KEYS=${KEYS:-100000}; DV=${DV:-100}; P=${P:-1}; OP=${OP:-get}; DUR=${DUR:-3}
if [[ $1 == redis ]]; then
  taskset -c 1 redis-server --port 16379 --dir $D --save '' --appendonly no --daemonize no --logfile $D/redis.log >/dev/null 2>&1 & SP=$!
else
  $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync $MODE --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
fi
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct 0 --dist sequential --keys $KEYS --value-size $DV --connections 50 --pipeline 16 --threads 1 --ops $KEYS >/dev/null 2>&1
if [[ $OP == set ]]; then pct=0; else pct=100; fi
perf stat -e 'syscalls:sys_enter_*' -p $SP -o $D/stat >/dev/null 2>&1 & PP=$!; sleep 0.3
taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct $pct --dist uniform --keys $KEYS --value-size $DV --connections 50 --pipeline $P --threads 1 --duration $DUR --warmup 0 --out $D/o.json >/dev/null 2>&1
kill -INT $PP; wait $PP
python3 - $D/o.json $D/stat <<'PY'
import json,sys,re
d=json.load(open(sys.argv[1]))
def find(o,k):
  if isinstance(o,dict):
    if k in o: return o[k]
    for v in o.values():
      r=find(v,k)
      if r is not None: return r
ops=find(d,'ops') or find(d,'total_ops')
print('ops',ops)
for l in open(sys.argv[2]):
  m=re.match(r'\s*([\d,]+)\s+syscalls:sys_enter_(\w+)',l)
  if m:
    n=int(m.group(1).replace(',',''))
    if n>0 and ops: print(f"  {m.group(2)} {n/ops:.3f}/op")
PY
kill $SP; wait $SP 2>/dev/null; rm -rf $D
