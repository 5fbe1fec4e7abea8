#!/usr/bin/env bash
# ropen.sh: fresh redis (AOF=always|no) on CPU 1; loadgen resp open loop at RATE SETs/s of DV bytes over KEYS keys for DUR s
LG=${LG:-/work/scratch/s26/ringkv-loadgen}; DV=${DV:-1024}; DUR=${DUR:-10}; RATE=${RATE:-75000}; KEYS=${KEYS:-100000}
LG=${LG:-/work/main/target/release/ringkv-loadgen}
D=/var/tmp/rd-s25o; rm -rf $D; mkdir -p $D
pkill -9 -f "redis-server 127.0.0.1:16380"; sleep 0.2
if [[ ${AOF:-no} == always ]]; then A="--appendonly yes --appendfsync always"; else A="--appendonly no"; fi
taskset -c 1 redis-server --bind 127.0.0.1 --port 16380 --dir $D --save "" $A --daemonize no >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16380 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
t0=$(cat /proc/$SPID/task/*/schedstat | awk "{s+=\$1} END {printf \"%.0f\", s}"); taskset -c 0 $LG run --target resp://127.0.0.1:16380 --read-pct ${READ:-0} --dist uniform --keys $KEYS --value-size $DV --connections 50 --pipeline ${P:-16} --threads 1 --duration $DUR --warmup 1 --rate $RATE --out /tmp/ropen.json >/dev/null 2>&1
t1=$(cat /proc/$SPID/task/*/schedstat | awk "{s+=\$1} END {printf \"%.0f\", s}"); echo "server cpu% over run: $(python3 -c "print(round(($t1-$t0)/(($DUR+1)*1e7)))")"
python3 - <<'PY'
import json; d=json.load(open('/tmp/ropen.json')); a=d['latency_us']['all']
print("redis rps", round(d["ops_per_sec"]), "errors", d["errors"], "p50", a["p50"], "p99", a["p99"], "p99.9", a["p99.9"], "max", a["max"]); print(" per-s p99:", [round(t["p99_us"]) for t in d["timeline"]])
PY
kill $SPID; wait $SPID 2>/dev/null; rm -rf $D
