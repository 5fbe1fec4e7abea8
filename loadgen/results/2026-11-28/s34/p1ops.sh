#!/usr/bin/env bash
# p1ops.sh SERVER(redis|rk) [OP get|set] [P]: fresh server (ringkv --sync none on CPU 1), loadgen RESP P${P:-1} 50 conns; the server's system calls per command over 2 s mid-run
S=$1; OP=${2:-get}; P=${3:-1}; DV=${DV:-100}; D=/var/tmp/rk-p1o; rm -rf $D; mkdir -p $D
if [[ $S == redis ]]; then redis-server --bind 127.0.0.1 --port 16379 --dir $D --save '' --appendonly no --daemonize no --logfile $D/r.log --protected-mode no & SP=$!
else ${BIN:-./ringkv-v2} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync none --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!; fi
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
LG=${LG:-./lg-v2}; pct=0; [[ $OP == get ]] && { pct=100; $LG run --target resp://127.0.0.1:16379 --read-pct 100 --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration 1 --warmup 0 --load --out /tmp/p1o-l.json >/dev/null 2>&1; }
$LG run --target resp://127.0.0.1:16379 --read-pct $pct --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline $P --threads 1 --duration 4 --warmup 0 --out /tmp/p1o.json >/dev/null 2>&1 & LP=$!; sleep 1.5
c0=$(redis-cli -p 16379 info stats | grep total_commands_processed | tr -dc 0-9)
perf stat -x, -e 'syscalls:sys_enter_sendto,syscalls:sys_enter_write,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait' -p $SP -o /tmp/p1o.stat -- sleep 2
c1=$(redis-cli -p 16379 info stats | grep total_commands_processed | tr -dc 0-9)
wait $LP; kill $SP; wait $SP 2>/dev/null; rm -rf $D
n=$((c1-c0)); echo -n "$S $OP P$P commands $n: "
awk -F, -v n=$n '$1>0 {sub("syscalls:sys_enter_","",$3); printf "%s %.2f  ", $3, $1/n}' /tmp/p1o.stat; echo
