#!/usr/bin/env bash
# dursys.sh: fresh ringkv --sync SYNC (default always) on CPU 1; loadgen resp P16 SETs of DV over 100k keys for DUR s with perf stat -C 1 (syscalls, io_uring submits and task work); ops/s, commits and server-side events per SET
BIN=${BIN:-./ringkv-cmp}; D=/var/tmp/rk-dursys; rm -rf $D; DV=${DV:-100}; DUR=${DUR:-4}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-always} --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
commits() { redis-cli -p 16379 info | tr -d '\r' | awk -F: '/ringkv_wal_commits:/{print $2}'; }
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
c0=$(commits); u0=$(cpu)
perf stat -e 'syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_io_uring_enter,io_uring:io_uring_submit_req,io_uring:io_uring_task_work_run,irq:irq_handler_entry' -C 1 -o /tmp/dursys.txt -- taskset -c 0 ./ringkv-loadgen run --target resp://127.0.0.1:16379 --read-pct 0 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline ${P:-16} --threads 1 --duration $DUR --warmup 0 --out /tmp/dursys.json >/dev/null 2>&1
c1=$(commits); u1=$(cpu)
n=$(python3 -c "import json; print(json.load(open('/tmp/dursys.json'))['ops'])")
echo "${SYNC:-always} ops/s $((n / DUR)) server_ns/op $(( (u1 - u0) / n )) busy $(( (u1 - u0) / DUR / 10000000 ))% writes/commit $(python3 -c "print(round($n/max($c1-$c0,1),1))") $(awk -v n=$n '/(syscalls|io_uring|irq):/ {gsub(",","",$1); split($2,a,":"); printf "%s %.4f  ", a[2], $1/n}' /tmp/dursys.txt)"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
