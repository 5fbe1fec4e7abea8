#!/usr/bin/env bash
# sust.sh BIN [DV] : sustained SET of DV-byte values: 600k warm-up, then 2M (redis-benchmark P16, 1 shard CPU 1); ops/s, shard busy %, stall
B=$1; DV=${2:-1024}
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.3; D=/var/tmp/s20sust; rm -rf $D
$B serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
taskset -c 0 redis-benchmark -p 16379 -c 50 -n 600000 -P 16 -r 1000000 -d $DV -t set --csv >/dev/null 2>&1
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
st() { redis-cli -p 16379 info | tr -d '\r' | awk -F: '/ringkv_write_stall_micros/ {print $2}'; }
c0=$(cpu); s0=$(st); t0=$(date +%s%N)
v=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n ${N:-2000000} -P 16 -r 1000000 -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"' | cut -d. -f1)
t1=$(date +%s%N); c1=$(cpu); s1=$(st)
echo "$(basename $B) ops/s $v busy% $(( (c1-c0)*100/(t1-t0) )) stall_s/conn $(( (s1-s0)/50000000 )) levels $(redis-cli -p 16379 info | tr -d '\r' | awk -F: '/tables_per_level/ {print $2}')"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
