#!/usr/bin/env bash
# infopoll.sh BIN : 1M keys; INFO/DBSIZE latencies; GET pass alone and with INFO polled every 0.25 s
B=$1
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.3
D=/var/tmp/ip; rm -rf $D; mkdir -p $D
taskset -c 1 $B serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync none --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
taskset -c 0 redis-benchmark -p 16379 -c 50 -n 3000000 -P 16 -r 1000000 -d 100 -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | sed 's/^/load /'
sleep 10
for s in "info" "info" "info stats" "dbsize" "dbsize"; do /usr/bin/time -f "%e s: $s" redis-cli -p 16379 $s >/dev/null; done 2>&1 | tr '\n' ';'; echo
for i in 1 2; do
taskset -c 0 redis-benchmark -p 16379 -c 50 -n 1000000 -P 16 -r 1000000 -t get --csv 2>/dev/null | tail -1 | cut -d, -f2 | sed 's/^/get alone /'
( for j in $(seq 40); do redis-cli -p 16379 info >/dev/null; sleep 0.25; done ) & PL=$!
taskset -c 0 redis-benchmark -p 16379 -c 50 -n 1000000 -P 16 -r 1000000 -t get --csv 2>/dev/null | tail -1 | cut -d, -f2 | sed 's/^/get with INFO polls /'
kill $PL 2>/dev/null; wait $PL 2>/dev/null
done
( for j in $(seq 40); do redis-cli -p 16379 info >/dev/null; sleep 0.25; done ) & PL=$!
taskset -c 0 redis-benchmark -p 16379 -c 50 -n 1000000 -P 16 -r 1000000 -d 100 -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | sed 's/^/set with INFO polls /'
kill $PL 2>/dev/null; wait $PL 2>/dev/null
kill $SP; wait $SP; rm -rf $D
