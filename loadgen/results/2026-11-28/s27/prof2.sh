#!/usr/bin/env bash
# prof2.sh SERVER(redis|ringkv): fresh server on CPU 1 (MODE none|always); rb P16 SET N, then perf -C 1 over rb P16 T (get)
BIN=${BIN:-/work/scratch/s27/ringkv-base}; D=/var/tmp/rk-s26-prof; rm -rf $D; mkdir -p $D; N=${N:-400000}; DV=${DV:-100}; MODE=${MODE:-none}
if [[ $1 == redis ]]; then
  if [[ $MODE == always ]]; then A="--appendonly yes --appendfsync always"; else A="--appendonly no"; fi
  taskset -c 1 redis-server --port 16379 --dir $D --save '' $A --daemonize no --logfile $D/redis.log >/dev/null 2>&1 & SP=$!
else
  $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync $MODE --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
fi
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
[[ ${T:-get} == get ]] && taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r 1000000 -d $DV -t set >/dev/null 2>&1
perf record -C 1 ${CG:--g} -o ${OUT:-perf.data} >/dev/null 2>&1 & PP=$!; sleep 0.3
taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P ${P:-16} -r 1000000 -d $DV -t ${T:-get} --csv 2>/dev/null | tail -1
kill -INT $PP; wait $PP; kill $SP; wait $SP 2>/dev/null; rm -rf $D
