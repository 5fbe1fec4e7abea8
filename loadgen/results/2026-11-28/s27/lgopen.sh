#!/usr/bin/env bash
# lgopen.sh: fresh 1-shard server (--sync ${SYNC:-none}) on CPU 1; loadgen native open loop at RATE SETs/s of DV bytes over KEYS keys for DUR s; prints latency percentiles + stall
LG=${LG:-/work/scratch/s26/ringkv-loadgen}; DV=${DV:-1024}; DUR=${DUR:-10}; RATE=${RATE:-150000}; KEYS=${KEYS:-100000}
LG=${LG:-/work/main/target/release/ringkv-loadgen}
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
D=/var/tmp/rk-s27-open; rm -rf $D
${BIN:-./ringkv-base} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>${ERR:-/dev/null} &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
t0=$(cat /proc/$SPID/task/*/schedstat | awk "{s+=\$1} END {printf \"%.0f\", s}"); taskset -c 0 $LG run --target native://127.0.0.1:17070 --read-pct ${READ:-0} --dist uniform --keys $KEYS --value-size $DV --connections 50 --pipeline ${P:-16} --threads 1 --duration $DUR --warmup 1 --rate $RATE --out /tmp/lgopen.json ${PLOT:+--plot $PLOT} >/dev/null 2>&1
t1=$(cat /proc/$SPID/task/*/schedstat | awk "{s+=\$1} END {printf \"%.0f\", s}"); echo "server cpu% over run: $(python3 -c "print(round(($t1-$t0)/(($DUR+1)*1e7)))")"
python3 - <<'PY'
import json; d=json.load(open('/tmp/lgopen.json')); l=d['latency_us']
a=l["all"]; print("rps", round(d["ops_per_sec"]), "errors", d["errors"], "p50", a["p50"], "p99", a["p99"], "p99.9", a["p99.9"], "max", a["max"]); print(" per-s p99:", [round(t["p99_us"]) for t in d["timeline"]])
PY
redis-cli -p 16379 info | tr -d '\r' | grep -E 'ringkv_(flushes|compactions|write_stall|write_delay)' | tr '\n' ' '; echo
kill $SPID; wait $SPID 2>/dev/null; rm -rf $D
