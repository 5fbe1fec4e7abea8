#!/usr/bin/env bash
# rbseq.sh: fresh ringkv --sync ${SYNC:-always} on CPU 1; optional rb P1 set,get (PRE=1); then K x rb P16 SET of DV bytes, each with server CPU ns/op
BIN=${BIN:-./ringkv-base}; D=/var/tmp/rk-rbseq; rm -rf $D; DV=${DV:-1024}; K=${K:-3}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-always} --shards 1 --cpus 1 ${RK_ARGS:-} >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
[[ ${PRE:-1} == 1 ]] && redis-benchmark -p 16379 -t set,get -n 100000 -c 50 -r 1000000 -d $DV -P 1 -q 2>&1 | tr '\r' '\n' | grep -v rps= | grep -v '^ *$' | sed 's/^/P1 /' | tr '\n' ' '
for k in $(seq $K); do
  [[ -n ${OUT:-} && $k == ${PK:-1} ]] && { perf record -F ${FREQ:-4000} -C 1 --call-graph dwarf,8192 -o $OUT >/dev/null 2>&1 & PP=$!; sleep 0.3; }
  c0=$(cpu)
  r=$(redis-benchmark -p 16379 -t set -n ${N:-100000} -c 50 -r 1000000 -d $DV -P 16 -q 2>&1 | tr '\r' '\n' | grep -v rps= | grep -v '^ *$')
  c1=$(cpu)
  [[ -n ${OUT:-} && $k == ${PK:-1} ]] && { kill -INT $PP; wait $PP; }
  echo "| k$k $(echo $r | awk '{print $2}') cpu_ns/op $(( (c1-c0)/${N:-100000} ))"
done
redis-cli -p 16379 info 2>/dev/null | grep -E "wal_commits|total_commands" | tr "\r\n" "  "; echo; echo " wal: $(ls $D/*/ 2>/dev/null | grep -c wal) files, $(du -sm $D | cut -f1) MB"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
