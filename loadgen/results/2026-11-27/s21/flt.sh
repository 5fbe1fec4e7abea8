#!/usr/bin/env bash
# flt.sh SYNC DV ROUNDS : rounds of rb P16 SETs on one fresh server; per round ops/s, server ns/op, minor faults per op, RSS
SYNC=$1; DV=${2:-100}; R=${3:-5}; BIN=${BIN:-/work/main/target/release/ringkv}; N=${N:-600000}
DATA=/var/tmp/rk-s21-flt; rm -rf $DATA
pkill -9 -f "resp-listen 127.0.0.1:16379" ; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync $SYNC --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>${SLOG:-/dev/null} &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
for r in $(seq $R); do
  t0=$(awk "{print \$14+\$15}" /proc/$SPID/stat); f0=$(awk "{print \$10}" /proc/$SPID/stat)
  [[ " ${PROF_ROUND:-0} " == *" $r "* ]] && { perf ${PERFCMD:-record -F 999 --call-graph=dwarf,16384} -p $SPID -o ${PROF_OUT:-steady}.$r >/dev/null 2>&1 & PP=$!; sleep 0.3; }
  [ -n "$SENDS" ] && { perf stat -e syscalls:sys_enter_sendto -p $SPID -o sends.txt & PS=$!; }
  ops=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r ${KEYS:-1000000} -d $DV -t ${T:-set} --csv 2>/dev/null | tail -1 | tr -d '"' | awk -F, '{printf "%d p99 %s max %s", $2, $7, $8}')
  [[ " ${PROF_ROUND:-0} " == *" $r "* ]] && { kill -INT $PP; wait $PP; }
  [ -n "$SENDS" ] && { kill -INT $PS; wait $PS; }
  t1=$(awk "{print \$14+\$15}" /proc/$SPID/stat); f1=$(awk "{print \$10}" /proc/$SPID/stat)
  echo "round $r ops/s $ops ns/op $(( (t1-t0)*10000000/N )) faults/op $(awk -v a=$f0 -v b=$f1 -v n=$N 'BEGIN{printf "%.3f", (b-a)/n}') rss_mb $(( $(awk "/VmRSS/ {print \$2}" /proc/$SPID/status)/1024 )) sends/op $([ -n "$SENDS" ] && awk -v n=$N "/sendto/ {printf \"%.3f\", \$1/n}" sends.txt) levels $(redis-cli -p 16379 info | tr -d "\r" | awk -F: "/tables_per_level/ {print \$2}")"
done
redis-cli -p 16379 info | tr -d '\r' | grep -E "tables_per_level|ringkv_flushes|ringkv_compactions:|stall_micros|delay_micros|table_moves|compaction_bytes" | tr '\n' ' '; echo
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
