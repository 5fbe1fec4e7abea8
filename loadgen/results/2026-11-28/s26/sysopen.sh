#!/usr/bin/env bash
# sysopen.sh redis|ringkv: open loop RATE ops (READ pct), syscalls of the server per op over 5 s
LG=/work/scratch/s26/ringkv-loadgen; D=/var/tmp/rk-cpu; rm -rf $D; mkdir -p $D; RATE=${RATE:-50000}; DV=${DV:-1024}
if [[ $1 == redis ]]; then taskset -c 1 redis-server --port 16379 --dir $D --save '' --appendonly no --daemonize no >/dev/null 2>&1 & SP=$!; T=resp://127.0.0.1:16379
else ${BIN:-./ringkv} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!; T=native://127.0.0.1:17070; fi
sleep 1
(taskset -c 0 $LG run --target $T --read-pct ${READ:-100} --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration 8 --warmup 0 --rate $RATE >/dev/null 2>&1 &)
sleep 2
perf stat -e 'syscalls:sys_enter_*' -e 'irq_vectors:*' -e 'sched:sched_switch' -p $SP -o /tmp/ss.txt -- sleep 5 >/dev/null 2>&1
ops=$((RATE*5))
awk -v ops=$ops '/syscalls:|irq_vectors|sched_switch/ {gsub(",","",$1); if ($1+0 > 0) printf "  %-40s %.3f/op\n", $2, $1/ops}' /tmp/ss.txt
sleep 2; kill $SP; wait $SP 2>/dev/null; rm -rf $D
