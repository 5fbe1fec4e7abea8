#!/usr/bin/env bash
# mt.sh: fresh ringkv on CPU 1 (MODE), rb P16 SET N of DV over R keys, then GET N; EXTRA args; prints rates, flushes, compactions, startup, RSS
BIN=${BIN:-./ringkv-rb}; D=/var/tmp/rk-mt; rm -rf $D; N=${N:-1000000}; DV=${DV:-100}; R=${R:-1000000}
t0=$(date +%s%N)
taskset -c 1 $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${MODE:-none} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
for _ in $(seq 200); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.02; done
t1=$(date +%s%N); r0=$(grep VmRSS /proc/$SP/status | awk '{print $2}')
s=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r $R -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
g=$([[ -n ${NOGET:-} ]] || taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r $R -d $DV -t get --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
r1=$(grep VmRSS /proc/$SP/status | awk '{print $2}')
echo "${EXTRA:-default} $MODE set $s get $g $(redis-cli -p 16379 info | tr -d '\r' | grep -E 'ringkv_(flushes|compactions):' | tr '\n' ' ') start_ms $(( (t1-t0)/1000000 )) rss_MB $((r0/1024))->$((r1/1024))"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
