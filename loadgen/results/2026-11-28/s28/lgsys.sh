#!/usr/bin/env bash
# lgsys.sh redis|ringkv: loadgen RESP P16 SETs of DV (3 s) against a server on CPU 1; server-side syscalls per op (perf stat -C 1)
DV=${DV:-1024}; D=/var/tmp/rk-lgsys; rm -rf $D; mkdir -p $D
if [[ $1 == redis ]]; then taskset -c 1 redis-server --port 16379 --dir $D --save '' --appendonly no --daemonize no --logfile $D/r.log >/dev/null 2>&1 & SP=$!
else taskset -c 1 ${BIN:-./ringkv-z} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync none --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!; fi
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
perf stat -e 'syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait' -C 1 -o /tmp/lgsys.txt -- taskset -c 0 ./ringkv-loadgen run --target resp://127.0.0.1:16379 --read-pct 0 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline ${P:-16} --threads 1 --duration 3 --warmup 0 --out /tmp/lgsys.json >/dev/null 2>&1
n=$(python3 -c "import json; print(json.load(open('/tmp/lgsys.json'))['ops'])")
echo "$1 ops $n $(awk -v n=$n '/syscalls:/ {gsub(",","",$1); if ($1>0) printf "%s %.3f/op  ", $2, $1/n}' /tmp/lgsys.txt)"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
