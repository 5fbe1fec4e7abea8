#!/usr/bin/env bash
# rbsg.sh BIN : fresh server (--sync none), redis-benchmark P1 then P16 of SET,GET with 1 KiB values (as compare.sh): GET ops/s of each
B=$1
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.3; D=/var/tmp/s20rb; rm -rf $D
$B serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync none --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
o=""
for P in 1 16; do o+="P$P $(taskset -c 0 redis-benchmark -p 16379 -t set,get -n 100000 -c 50 -r 1000000 -d 1024 -P $P --csv 2>/dev/null | cut -d, -f1,2 | tr -d '"' | tr '\n' ' ') "; done
echo "$(basename $B) $o levels $(redis-cli -p 16379 info | tr -d '\r' | awk -F: '/tables_per_level/ {print $2}') flushes $(redis-cli -p 16379 info | tr -d '\r' | awk -F: '/ringkv_flushes/ {print $2}')"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
