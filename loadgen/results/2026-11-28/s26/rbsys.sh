#!/usr/bin/env bash
# rbsys.sh: ringkv (SYNC) on CPU 1, rb P16 SET N; syscalls and context switches per op of the server, + cpu-wide counts on CPU 1
D=/var/tmp/rk-rbsys; rm -rf $D; N=${N:-1000000}
${BIN:-./ringkv} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-always} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
perf stat -e 'syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_membarrier,sched:sched_switch,irq:irq_handler_entry,irq_vectors:call_function_single_entry,irq_vectors:reschedule_entry' -C 1 -o /tmp/rbsys.txt -- taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r 1000000 -d 100 -t set --csv 2>/dev/null | tail -1
awk -v n=$N '/syscalls:|sched:|irq/ {gsub(",","",$1); printf "  %-45s %.4f/op\n", $2, $1/n}' /tmp/rbsys.txt
kill $SP; wait $SP 2>/dev/null; rm -rf $D
