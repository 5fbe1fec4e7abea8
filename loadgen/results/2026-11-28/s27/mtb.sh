#!/usr/bin/env bash
BIN=${BIN:-./ringkv}; D=/var/tmp/rk-mtb; rm -rf $D
taskset -c 1 $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${MODE:-none} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
taskset -c 0 redis-benchmark -p 16379 -c 50 -n ${N:-200000} -P ${P:-16} -r 1000000 -d 100 -t set >/dev/null 2>&1
echo "$MODE $(redis-cli -p 16379 info | tr -d '\r' | grep -E '^(keys|db0|ringkv_memtable_bytes|ringkv_user_bytes_written|used_memory)' | tr '\n' ' ') dbsize $(redis-cli -p 16379 dbsize)"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
