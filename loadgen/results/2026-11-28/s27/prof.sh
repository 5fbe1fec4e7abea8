#!/usr/bin/env bash
# prof.sh: fresh ringkv on CPU 1 (SYNC), rb P16 SET (DV) with perf record -C 1 (OUT)
BIN=${BIN:-/work/scratch/s26/ringkv}; D=/var/tmp/rk-s26-prof; rm -rf $D; mkdir -p $D; N=${N:-400000}; DV=${DV:-100}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync ${SYNC:-none} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
perf record -C 1 ${CG:--g} -o ${OUT:-perf.data} >/dev/null 2>&1 & PP=$!; sleep 0.3
taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P ${P:-16} -r 1000000 -d $DV -t ${T:-set} --csv 2>/dev/null | tail -1
kill -INT $PP; wait $PP; kill $SP; wait $SP 2>/dev/null; rm -rf $D
