#!/usr/bin/env bash
# prof1k.sh SYNC OUT [D] : perf record the shard during redis-benchmark P16 SET of D-byte values (1 shard on CPU 1, client CPU 0)
SYNC=$1; O=$2; DV=${3:-1024}; BIN=${BIN:-/work/main/target/release/ringkv}; N=${N:-300000}
DATA=/var/tmp/rk-s20-p1k; rm -rf $DATA
pkill -9 -f "resp-listen 127.0.0.1:16379" ; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync $SYNC --shards 1 --cpus 1 >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
taskset -c 0 redis-benchmark -p 16379 -c 50 -n 100000 -P 16 -r 1000000 -d $DV -t set >/dev/null 2>&1
[ -n "$O" ] && { perf record -F 999 ${CGOPT:--g} -p $SPID -o $O >/dev/null 2>&1 & PP=$!; sleep 0.3; }
t0=$(cat /proc/$SPID/task/*/schedstat | awk '{s+=$1} END {print s}')
taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r 1000000 -d $DV -t set --csv 2>/dev/null | tail -1
t1=$(cat /proc/$SPID/task/*/schedstat | awk '{s+=$1} END {print s}')
echo "server ns/op $(( (t1-t0)/N ))"
[ -n "$O" ] && { kill -INT $PP; wait $PP; }
redis-cli -p 16379 info persistence | egrep -i "flush|compact|bytes|tables" | head -20
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
