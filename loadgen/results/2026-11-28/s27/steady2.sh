#!/usr/bin/env bash
# steady2.sh: like steady.sh, no GET; INFO compaction stats after warm-up and after the measured SETs; server CPU over the measured SETs
BIN=${BIN:-./ringkv-base}; D=/var/tmp/rk-st; rm -rf $D; N=${N:-600000}; W=${W:-600000}; DV=${DV:-1024}; R=${R:-1000000}
taskset -c 1 $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${MODE:-none} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
info() { redis-cli -p 16379 info | tr -d '\r' | grep -E 'ringkv_(flushes|compactions|compaction_bytes_written)' | cut -d: -f2 | tr '\n' ' '; }
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
taskset -c 0 redis-benchmark -p 16379 -c 50 -n $W -P 16 -r $R -d $DV -t set >/dev/null 2>&1; sleep ${PAUSE:-3}
a=$(info); c0=$(cpu)
s=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r $R -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
c1=$(cpu); b=$(info)
echo "set $s server_us/op $(( (c1-c0)/N/1000 )).$(( (c1-c0)/N%1000 )) before[flush comp bytes] $a after $b"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
