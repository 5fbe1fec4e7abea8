#!/usr/bin/env bash
# dur.sh: fresh 1-shard durable server on CPU 1; rb P16 SET -n N -r 1000000 -d DV (as compare.sh); prints rps and shard ns/op
BIN=${BIN:-/work/main/target/release/ringkv}; DATA=/var/tmp/rk-s24-dur; rm -rf $DATA; DV=${DV:-100}; N=${N:-100000}
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync ${SYNC:-always} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
cpu() { cat /proc/$SPID/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
[[ -n "${WARMP1:-}" ]] && taskset -c 0 redis-benchmark -p 16379 -c 50 -n 100000 -P 1 -r 1000000 -d $DV -t set,get >/dev/null 2>&1
[[ -n "${PERF:-}" ]] && { perf record -a -C 1 ${CG:-} -o $PERF >/dev/null 2>&1 & PP=$!; sleep 0.3; }
[[ -n "${PSTAT:-}" ]] && { perf stat -e syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_sendmsg,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_write -p $SPID -o $PSTAT >/dev/null 2>&1 & PP=$!; sleep 0.3; }
t0=$(cpu); f0=$(awk '{print $10}' /proc/$SPID/stat); c0=$(grep "^cpu1 " /proc/stat); z0=$(grep "^cpu0 " /proc/stat)
s=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P ${P:-16} -r 1000000 -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
t1=$(cpu); f1=$(awk '{print $10}' /proc/$SPID/stat); c1=$(grep "^cpu1 " /proc/stat); z1=$(grep "^cpu0 " /proc/stat)
[[ -n "${PERF:-}${PSTAT:-}" ]] && { kill -INT $PP; wait $PP; }
echo "cpu0[idle iow] $(python3 -c "import sys; a=list(map(int,sys.argv[1].split()[1:])); b=list(map(int,sys.argv[2].split()[1:])); d=[y-x for x,y in zip(a,b)]; t=sum(d); print(round(100*d[3]/t), round(100*d[4]/t))" "$z0" "$z1")"; echo "set $s faults/op $(python3 -c "print(round(($f1-$f0)/$N,3))") ns/op $(( (t1-t0)/N )) cpu1[idle iow] $(python3 -c "import sys; a=list(map(int,sys.argv[1].split()[1:])); b=list(map(int,sys.argv[2].split()[1:])); d=[y-x for x,y in zip(a,b)]; t=sum(d); print(round(100*d[3]/t), round(100*d[4]/t))" "$c0" "$c1") $(redis-cli -p 16379 info | tr -d '\r' | grep -E 'wal_commits' | head -1)"
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
