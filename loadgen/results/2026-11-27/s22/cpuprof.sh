#!/usr/bin/env bash
# cpuprof.sh SYNC DV OUT: like cpu.sh, with perf record -a -C 1 during the measured run
SYNC=$1; DV=${2:-100}; OUT=$3; BIN=${BIN:-/work/main/target/release/ringkv}; N=${N:-2000000}
DATA=/var/tmp/rk-s22-cpu; rm -rf $DATA
pkill -9 -f "resp-listen 127.0.0.1:16379" ; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync $SYNC --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
taskset -c 0 redis-benchmark -p 16379 -c 50 -n 100000 -P 16 -r ${R:-1000000} -d $DV -t set >/dev/null 2>&1
perf record -F 2999 -a -C ${PCPU:-1} ${CG:-} -o $OUT >/dev/null 2>&1 & PP=$!; sleep 0.3
taskset -c 0 redis-benchmark -p 16379 -c ${C:-50} -n $N -P 16 -r ${R:-1000000} -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2
kill -INT $PP; wait $PP
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
