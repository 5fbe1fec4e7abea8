#!/usr/bin/env bash
# cpu0.sh: fresh ringkv --sync none on CPU 1; loadgen P16 (PROTO, RP read %) over 100k keys of DV on CPU 0 for DUR s; ops/s and each CPU's busy share over the run (/proc/stat)
BIN=${BIN:-./ringkv-fin}; LG=${LG:-./lg-fin}; D=/var/tmp/rk-cpu0; rm -rf $D; DV=${DV:-100}; DUR=${DUR:-4}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
[[ ${RP:-0} != 0 ]] && taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct 0 --dist sequential --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --ops 100000 --warmup 0 --out /tmp/cpu0l.json >/dev/null 2>&1
snap() { awk '/^cpu[01] / {print $1, $2+$3+$4+$7+$8, $5+$6}' /proc/stat; }
s0=$(snap)
taskset -c 0 $LG run --target ${PROTO:-resp}://127.0.0.1:$([[ ${PROTO:-resp} == resp ]] && echo 16379 || echo 17070) --read-pct ${RP:-0} --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline ${P:-16} --threads 1 --duration $DUR --warmup 0 --out /tmp/cpu0.json >/dev/null 2>&1
s1=$(snap)
python3 - "$s0" "$s1" <<'P'
import sys, json
a=[l.split() for l in sys.argv[1].splitlines()]; b=[l.split() for l in sys.argv[2].splitlines()]
d=json.load(open('/tmp/cpu0.json'))
out=[str(round(d['ops_per_sec']))]
for x,y in zip(a,b):
    busy=int(y[1])-int(x[1]); idle=int(y[2])-int(x[2]); out.append(f"{x[0]} busy {100*busy/(busy+idle):.0f}%")
print(' '.join(out))
P
kill $SP; wait $SP 2>/dev/null; rm -rf $D
