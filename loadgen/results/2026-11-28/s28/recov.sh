#!/usr/bin/env bash
# recov.sh: N SETs (DV) on a fresh server, kill -9, restart: time to PONG and keys
BIN=${BIN:-./ringkv-mt}; D=/var/tmp/rk-rec; rm -rf $D; N=${N:-1000000}; DV=${DV:-100}
start() { taskset -c 1 $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${MODE:-none} --shards 1 --cpus 1 ${EXTRA:-} >>$D.log 2>&1 & SP=$!; }
up() { for _ in $(seq 1000); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && return; sleep 0.01; done; }
start; up
taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r 1000000 -d $DV -t set >/dev/null 2>&1
k0=$(redis-cli -p 16379 dbsize); sleep 1; kill -9 $SP; wait $SP 2>/dev/null
t0=$(date +%s%N); start; up; t1=$(date +%s%N)
echo "$(basename $BIN) ${EXTRA:-} keys $k0 -> $(redis-cli -p 16379 dbsize) restart_ms $(( (t1-t0)/1000000 )) wal_MB $(du -sm $D/shard-0/wal* 2>/dev/null | awk '{s+=$1} END {print s}')"
grep -o 'memtable_bytes=[0-9]*' $D.log | tail -1
kill $SP; wait $SP 2>/dev/null; rm -rf $D $D.log
