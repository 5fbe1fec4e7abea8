#!/usr/bin/env bash
# cli.sh redis|ringkv: redis-benchmark P (1) T (get) N on CPU 0 under perf stat: client syscalls per request; server on CPU 1 at memory speed
D=/var/tmp/rk-cli; rm -rf $D; mkdir -p $D; N=${N:-200000}; T=${T:-get}
if [[ $1 == redis ]]; then taskset -c 1 redis-server --port 16379 --dir $D --save '' --appendonly no --daemonize no --logfile $D/r.log >/dev/null 2>&1 & SP=$!
else taskset -c 1 ${BIN:-./ringkv-fin} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync none --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!; fi
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
taskset -c 0 redis-benchmark -p 16379 -c 50 -n 100000 -P 16 -r 100000 -d 100 -t set >/dev/null 2>&1
r=$(perf stat -e 'syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_write,context-switches' -o /tmp/cli.txt -- taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P ${P:-1} -r 100000 -d 100 -t $T --csv 2>/dev/null | tail -1 | cut -d, -f2)
echo "$1 $T P${P:-1} $r $(awk -v n=$N '/syscalls:|context/ {gsub(",","",$1); printf "%s %.3f/op  ", $2, $1/n}' /tmp/cli.txt)"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
