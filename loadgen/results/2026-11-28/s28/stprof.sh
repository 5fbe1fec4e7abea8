#!/usr/bin/env bash
# stprof.sh: warm-up W SETs of DV, then perf record -C 1 over N more SETs
BIN=${BIN:-./ringkv-base}; D=/var/tmp/rk-st; rm -rf $D; N=${N:-600000}; W=${W:-600000}; DV=${DV:-1024}; R=${R:-1000000}
taskset -c 1 $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${MODE:-none} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
taskset -c 0 redis-benchmark -p 16379 -c 50 -n $W -P 16 -r $R -d $DV -t set >/dev/null 2>&1; sleep ${PAUSE:-3}
f0=$(awk '{print $10}' /proc/$SP/stat); c0=$(cpu)
[[ -z ${NOPERF:-} ]] && perf record -C 1 --call-graph dwarf,8192 -o ${OUT:-st.data} >/dev/null 2>&1 & PP=$!; sleep 0.3
s=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r $R -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
[[ -z ${NOPERF:-} ]] && { kill -INT $PP; wait $PP; }
f1=$(awk '{print $10}' /proc/$SP/stat); c1=$(cpu)
echo "$(basename $BIN) ${RK_BASE_SCALE:+base} set $s cpu_ns/op $(( (c1-c0)/N )) faults/op $(python3 -c "print(round(($f1-$f0)/$N,3))") $(redis-cli -p 16379 info | tr -d "\r" | grep -E "ringkv_(flushes|compactions|compaction_bytes_written):" | tr "\n" " ")"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
