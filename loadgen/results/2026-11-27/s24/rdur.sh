#!/usr/bin/env bash
# rdur.sh: fresh redis on CPU 1 (AOF=always|no), rb P16 SET like dur.sh; prints rps and server ns/op
DV=${DV:-100}; N=${N:-100000}; D=/var/tmp/rd-s24; rm -rf $D; mkdir -p $D
pkill -9 -f "redis-server 127.0.0.1:16380"; sleep 0.2
if [[ ${AOF:-no} == always ]]; then A="--appendonly yes --appendfsync always"; else A="--appendonly no"; fi
taskset -c 1 redis-server --bind 127.0.0.1 --port 16380 --dir $D --save "" $A --daemonize no >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16380 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
cpu() { cat /proc/$SPID/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
[[ -n "${WARMP1:-}" ]] && taskset -c 0 redis-benchmark -p 16380 -c 50 -n 100000 -P 1 -r 1000000 -d $DV -t set,get >/dev/null 2>&1
[[ -n "${PERF:-}" ]] && { perf record -F ${FREQ:-4999} -a -C 1 ${CG:-} -o $PERF >/dev/null 2>&1 & PP=$!; sleep 0.3; }
t0=$(cpu); f0=$(awk '{print $10}' /proc/$SPID/stat)
s=$(taskset -c 0 redis-benchmark -p 16380 -c 50 -n $N -P ${P:-16} -r 1000000 -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
t1=$(cpu); f1=$(awk '{print $10}' /proc/$SPID/stat)
[[ -n "${PERF:-}" ]] && { kill -INT $PP; wait $PP; }
echo "redis set $s faults/op $(python3 -c "print(round(($f1-$f0)/$N,3))") ns/op $(( (t1-t0)/N ))"
kill $SPID; wait $SPID 2>/dev/null; rm -rf $D
