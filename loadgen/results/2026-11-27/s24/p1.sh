#!/usr/bin/env bash
# p1.sh: fresh 1-shard server (SYNC none default) on CPU 1 (or REDIS=1); rb -P 1 -c 50 -n N set,get; PSTAT=file for syscall counts during the run
N=${N:-200000}
pkill -9 -f "resp-listen 127.0.0.1:16379"; pkill -9 -f "redis-server 127.0.0.1:16380"; sleep 0.2
if [[ -n "${REDIS:-}" ]]; then PORT=16380; D=/var/tmp/rd-s24; rm -rf $D; mkdir -p $D
  taskset -c 1 redis-server --bind 127.0.0.1 --port 16380 --dir $D --save "" --appendonly no --daemonize no >/dev/null 2>&1 &
else PORT=16379; D=/var/tmp/rk-s24-p1; rm -rf $D
  ${BIN:-./ringkv-base} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 &
fi
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p $PORT ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
cpu() { cat /proc/$SPID/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
[[ -n "${PSTAT:-}" ]] && { perf stat -e 'syscalls:sys_enter_*' -p $SPID -o $PSTAT >/dev/null 2>&1 & PP=$!; sleep 0.5; }
t0=$(cpu)
r=$(taskset -c 0 redis-benchmark -p $PORT -c 50 -n $N -P 1 -r 1000000 -d ${DV:-100} -t ${T:-set,get} --csv 2>/dev/null | cut -d, -f1,2 | tr -d '"' | tr '\n' ' ')
t1=$(cpu)
[[ -n "${PSTAT:-}" ]] && { kill -INT $PP; wait $PP; }
echo "${REDIS:+redis }$r ns/req $(( (t1-t0)/(2*N) ))"
kill $SPID; wait $SPID 2>/dev/null; rm -rf $D
