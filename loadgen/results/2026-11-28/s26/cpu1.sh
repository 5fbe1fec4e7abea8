#!/usr/bin/env bash
# cpu1.sh redis|ringkv: open loop RATE SETs of DV on the server (CPU 1); CPU 1's split over 5 s in the middle, and per-thread CPU
LG=/work/scratch/s26/ringkv-loadgen; D=/var/tmp/rk-cpu; rm -rf $D; mkdir -p $D; RATE=${RATE:-50000}; DV=${DV:-1024}
if [[ $1 == redis ]]; then taskset -c 1 redis-server --port 16379 --dir $D --save '' --appendonly no --daemonize no >/dev/null 2>&1 & SP=$!; T=resp://127.0.0.1:16379
else ${BIN:-./ringkv} serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!; T=native://127.0.0.1:17070; fi
sleep 1
(taskset -c 0 $LG run --target $T --read-pct ${READ:-0} --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration 8 --warmup 0 --rate $RATE >/dev/null 2>&1 &)
sleep 2
snap() { for t in /proc/$SP/task/*; do echo "$(basename $t) $(cat $t/comm) $(awk '{print $1}' $t/schedstat)"; done; }
snap > /tmp/a; c0=$(grep "^cpu1 " /proc/stat); sleep 5; snap > /tmp/b; c1=$(grep "^cpu1 " /proc/stat)
join <(sort /tmp/a) <(sort /tmp/b) | awk '($4-$3)/5e7 > 0.2 {printf "  %s %.1f%%\n", $2, ($4-$3)/5e7}'
python3 -c "import sys; a=list(map(int,sys.argv[1].split()[1:])); b=list(map(int,sys.argv[2].split()[1:])); d=[y-x for x,y in zip(a,b)]; print('$1 cpu1 user nice sys idle iowait irq softirq:', [round(100*x/sum(d)) for x in d[:7]])" "$c0" "$c1"
sleep 2; kill $SP; wait $SP 2>/dev/null; rm -rf $D
