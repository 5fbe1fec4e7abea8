#!/usr/bin/env bash
# ops.sh: lgprof-like run (BIN, DV, SYNC, PROTO) with io_uring submissions recorded on CPU 1 for 2 s mid-run; prints submissions per op by opcode
BIN=${BIN:-./ringkv-cur}; D=/var/tmp/rk-ops; rm -rf $D; DV=${DV:-1024}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
taskset -c 0 ./lg run --target ${PROTO:-resp}://127.0.0.1:$([[ ${PROTO:-resp} == resp ]] && echo 16379 || echo 17070) --read-pct ${RPCT:-0} --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration 4 --warmup 0 --out /tmp/ops.json >/dev/null 2>&1 &
LP=$!; sleep 1.5
c0=$(redis-cli -p 16379 info stats | grep total_commands_processed | tr -dc 0-9)
perf stat -x, -e syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_readv,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait -C 1 -o /tmp/ops.stat -- sleep 2
c1=$(redis-cli -p 16379 info stats | grep total_commands_processed | tr -dc 0-9)
wait $LP; kill $SP; wait $SP 2>/dev/null; rm -rf $D
n=$((c1-c0)); echo "commands in window: $n"
awk -F, -v n=$n '$1>0 {printf "%s: %.3f per op\n", $3, $1/n}' /tmp/ops.stat
