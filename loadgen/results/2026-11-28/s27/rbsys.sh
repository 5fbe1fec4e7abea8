#!/usr/bin/env bash
# rbsys.sh SERVER(redis|ringkv): server on CPU 1 (MODE none|always); rb P (16) T (set) N; per-op syscalls on CPU 1
D=/var/tmp/rk-rbsys; rm -rf $D; mkdir -p $D; N=${N:-400000}; MODE=${MODE:-none}; T=${T:-set}
if [[ $1 == redis ]]; then
  if [[ $MODE == always ]]; then A="--appendonly yes --appendfsync always"; else A="--appendonly no"; fi
  taskset -c 1 redis-server --port 16379 --dir $D --save '' $A --daemonize no --logfile $D/redis.log >/dev/null 2>&1 & SP=$!
else
  taskset -c 1 ${BIN:-./ringkv} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync $MODE --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
fi
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
[[ $T == get ]] && taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r 1000000 -d 100 -t set >/dev/null 2>&1
perf stat -e 'syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_membarrier,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_clock_gettime,sched:sched_switch' -C 1 -o /tmp/rbsys.txt -- taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P ${P:-16} -r 1000000 -d 100 -t $T --csv 2>/dev/null | tail -1
awk -v n=$N '/syscalls:|sched:|irq/ {gsub(",","",$1); if ($1 > 0) printf "  %-45s %.4f/op\n", $2, $1/n}' /tmp/rbsys.txt
kill $SP; wait $SP 2>/dev/null; rm -rf $D
