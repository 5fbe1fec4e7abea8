#!/usr/bin/env bash
# natcpu.sh PROTO(resp|native) [OP get|set] [P]: fresh ringkv --sync none on CPU 1; (GET: load over RESP first); loadgen PROTO P${P:-16} 50 conns 3 s; ops/s, client and server CPU ns/op, CPU0/1 busy
PROTO=$1; OP=${2:-get}; P=${3:-16}; DV=${DV:-100}; D=/var/tmp/rk-nc; rm -rf $D; mkdir -p $D
${BIN:-./ringkv-v2} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync none --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
LG=${LG:-./lg-v2}
pct=0; [[ $OP == get ]] && { pct=100; $LG run --target resp://127.0.0.1:16379 --read-pct 100 --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration 1 --warmup 0 --load --out /tmp/nc-l.json >/dev/null 2>&1; }
T=resp://127.0.0.1:16379; [[ $PROTO == native ]] && T=native://127.0.0.1:17070
cpu() { cat /proc/$1/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
stat() { grep "^cpu$1 " /proc/stat | awk '{print $2+$3+$4+$5+$6+$7+$8, $5}'; }
read a0 i0 < <(stat 0); read a1 i1 < <(stat 1)
s0=$(cpu $SP)
/usr/bin/time -f "%U %S" -o /tmp/nc.time $LG run --target $T --read-pct $pct --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline $P --threads 1 --duration 3 --warmup 0 --out /tmp/nc.json >/dev/null 2>&1
read b0 j0 < <(stat 0); read b1 j1 < <(stat 1)
python3 -c "
import json; d=json.load(open('/tmp/nc.json')); n=d['ops']
print(f\"$PROTO $OP P$P {d['ops_per_sec']:.0f}/s server_ns/op {($(cpu $SP)-$s0)/n:.0f} client_ns/op {sum(map(float,open('/tmp/nc.time').read().split()))*1e9/n:.0f}  cpu0 {100-100*($j0-$i0)/($b0-$a0):.0f}% cpu1 {100-100*($j1-$i1)/($b1-$a1):.0f}%\")" 2>/dev/null
kill $SP; wait $SP 2>/dev/null; rm -rf $D
