#!/usr/bin/env bash
# pf.sh: fresh ringkv on CPU 1, rb P16 SET N of DV; throughput, server page faults and CPU/op during the run
BIN=${BIN:-./ringkv-base}; D=/var/tmp/rk-pf; rm -rf $D; N=${N:-300000}; DV=${DV:-1024}
t0=$(date +%s%N)
taskset -c 1 $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${MODE:-none} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
for _ in $(seq 200); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.02; done
t1=$(date +%s%N)
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
f0=$(awk '{print $10}' /proc/$SP/stat); c0=$(cpu); r0=$(grep VmRSS /proc/$SP/status | awk '{print $2}')
s=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r ${R:-1000000} -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
f1=$(awk '{print $10}' /proc/$SP/stat); c1=$(cpu); r1=$(grep VmRSS /proc/$SP/status | awk '{print $2}')
echo "$(basename $BIN) set $s faults/op $(python3 -c "print(round(($f1-$f0)/$N,3))") cpu_ns/op $(( (c1-c0)/N )) startup_ms $(( (t1-t0)/1000000 )) rss_MB $((r0/1024))->$((r1/1024))"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
