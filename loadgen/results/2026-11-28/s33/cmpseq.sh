#!/usr/bin/env bash
# cmpseq.sh: compare.sh's rk-none-s1 sequence up to the loadgen RESP P16 GET, which is measured (and profiled, OUT); prints INFO before/after.
# FINAL=rset: the RESP P16 SET run is the one measured. FINAL=set: the last run is instead a native P16 SET, after the RESP P16 GET (compare.sh's order); FINAL=nget: a native P16 GET after that SET (and native P1 SET, GET)
BIN=${BIN:-./ringkv-pt}; LG=${LG:-./lg-pt}; D=/var/tmp/rk-cs; rm -rf $D; DV=${DV:-1024}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 ${RK_ARGS:-} >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
for p in 1 16; do redis-benchmark -p 16379 -t set,get -n 100000 -c 50 -r 1000000 -d $DV -P $p -q >/dev/null 2>&1; done
lg() { $LG run --target resp://127.0.0.1:16379 --read-pct $1 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline $2 --threads 1 --duration 3 --warmup 1 --out /tmp/cs.json "${@:3}" >/dev/null 2>&1; }
lg 0 1; lg 100 1 --load
PCT=100; TGT=resp://127.0.0.1:16379
if [[ ${FINAL:-get} == rset ]]; then PCT=0; else lg 0 16; fi
if [[ ${FINAL:-get} == set ]]; then lg 100 16; PCT=0; TGT=native://127.0.0.1:17070; fi
if [[ ${FINAL:-get} == nget ]]; then
  lg 100 16; TGT=native://127.0.0.1:17070
  nlg() { $LG run --target $TGT --read-pct $1 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline $2 --threads 1 --duration 3 --warmup 1 --out /tmp/cs.json >/dev/null 2>&1; }
  nlg 0 1; nlg 100 1; nlg 0 16
fi
info() { redis-cli -p 16379 info 2>/dev/null | grep -iE "tables_per|flushes|checkpoints|compactions|keys" | tr -d '\r' | tr '\n' ' '; echo; }
info
[[ -n ${OUT:-} ]] && { perf record -F 4000 -C 1 --call-graph dwarf,8192 -o $OUT >/dev/null 2>&1 & PP=$!; sleep 0.3; }
c0=$(cpu)
[[ -n ${POLL:-} ]] && { ( for _ in $(seq 24); do echo "$(date +%S.%N | cut -c1-5) $(redis-cli -p 16379 info 2>/dev/null | tr -d '\r' | grep -E 'ringkv_flushes|checkpoints|ringkv_memtable_bytes|immutable|stall' | tr '\n' ' ')"; sleep 0.2; done ) & }
$LG run --target $TGT --read-pct $PCT --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration 3 --warmup 1 --out /tmp/cs.json 2>&1 | grep -E "^\[|measured"
c1=$(cpu); [[ -n ${OUT:-} ]] && { kill -INT $PP; wait $PP; }
python3 -c "import json; d=json.load(open('/tmp/cs.json')); print('${FINAL:-get}', round(d['ops_per_sec']), 'server_ns/op (4 s)', round(($c1-$c0)/(d['ops']*4/3)))"
info
kill $SP; wait $SP 2>/dev/null; rm -rf $D
