#!/usr/bin/env bash
# recov.sh (env RB=N: redis-benchmark N SETs over K keys instead of loadgen for DUR s): fresh ringkv --sync none (1 shard, CPU 1); loadgen RESP P16 SETs of DV over K keys for DUR s; SIGKILL; restart; time until PING answers; WAL size
BIN=${BIN:-./ringkv-base}; LG=${LG:-./lg-base}; D=/var/tmp/rk-rec; rm -rf $D; DV=${DV:-1024}; K=${K:-100000}
start() { $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync none --shards 1 --cpus 1 ${RK_ARGS:-} >/dev/null 2>>$D.log & SP=$!; }
up() { for _ in $(seq 2000); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && return; sleep 0.01; done; }
start; up
if [[ -n ${RB:-} ]]; then redis-benchmark -p 16379 -t set -n $RB -r $K -d $DV -P 16 -c 50 -q 2>&1 | tr '\r' '\n' | grep -v rps= | grep -v '^ *$'
else $LG run --target resp://127.0.0.1:16379 --read-pct 0 --dist uniform --keys $K --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration ${DUR:-2} --warmup 0 --out /tmp/rec.json 2>&1 | grep measured; fi
redis-cli -p 16379 info 2>/dev/null | grep -E "flushes|keys=" | tr -d '\r' | tr '\n' ' '; echo
kill -9 $SP; wait $SP 2>/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches
echo "wal: $(du -sm $D/shard-0/wal* 2>/dev/null | awk '{s+=$1} END {print s}') MB"
t0=$(date +%s.%N); [[ -n ${OUT:-} ]] && { perf record -F 4000 --call-graph dwarf,8192 -o $OUT -- $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync none --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!; } || start; up; t1=$(date +%s.%N)
echo "restart to PONG: $(python3 -c "print(round($t1-$t0,2))") s"; redis-cli -p 16379 dbsize
kill -INT $SP; wait $SP 2>/dev/null; rm -rf $D $D.log
