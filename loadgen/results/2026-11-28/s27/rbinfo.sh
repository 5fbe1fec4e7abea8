#!/usr/bin/env bash
# rbinfo.sh: rb P16 SET durable or not on ringkv, with WAL commits and flushes from INFO
BIN=${BIN:-./ringkv}; D=/var/tmp/rk-rbinfo; rm -rf $D
taskset -c 1 $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${MODE:-none} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
[[ -n ${SLICE:-} ]] && python3 slice.py $SP $SLICE ${SLICE_COMM:-shard} >/dev/null
r=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n ${N:-1000000} -P ${P:-16} -r 1000000 -d 100 -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
echo "$r $(redis-cli -p 16379 info | tr -d '\r' | grep -E 'ringkv_(flushes|compactions|wal_commits|wal_bytes_written|flush_bytes_written|user_bytes_written)' | tr '\n' ' ')"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
