#!/usr/bin/env bash
# sg.sh: fresh ringkv (BIN, MODE) on CPU 1: rb P16 SET N of DV over R keys, then rb P16 GET N over R; prints both rates and cache stats
BIN=${BIN:-./ringkv-base}; D=/var/tmp/rk-sg; rm -rf $D; N=${N:-300000}; DV=${DV:-1024}; R=${R:-1000000}
taskset -c 1 $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${MODE:-none} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
s=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r $R -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
g=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r $R -d $DV -t get --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
echo "set $s get $g $(redis-cli -p 16379 info | tr -d '\r' | grep -E 'ringkv_(flushes|block_cache_hits|block_cache_misses)' | tr '\n' ' ')"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
