#!/usr/bin/env bash
# sg2.sh BIN: like sg.sh with P1FIRST, but P16 SET, then a pause of PAUSE s, then P16 GET; prints INFO figures before the GETs
BIN=$1; DATA=/var/tmp/rk-s23-sg; rm -rf $DATA
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
rb() { taskset -c 0 redis-benchmark -h 127.0.0.1 -p 16379 -t $1 -n 100000 -c 50 -r 1000000 -d ${DV:-1024} -P $2 --csv 2>/dev/null | grep -E "SET|GET" | cut -d, -f1,2 | tr -d '"' | tr '\n' ' '; }
rb set,get 1 >/dev/null
rb set 16
sleep ${PAUSE:-0}
[[ -n "${INFO:-}" ]] && redis-cli -p 16379 info | tr -d '\r' | grep -E "keys=|ringkv_(tables|memtable|sstables|levels|l0)" | tr '\n' ' '
rb get 16; echo
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
