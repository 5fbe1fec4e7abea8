#!/usr/bin/env bash
# iow.sh BIN: ab-like 1 KiB SET run, printing rate and CPU 1's iowait share
BIN=$1; DATA=/var/tmp/rk-s22-iow; rm -rf $DATA
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync none --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
S0=$(grep -E "^cpu[01] " /proc/stat)
r=$(taskset -c 0 redis-benchmark -p 16379 -c ${C:-50} -n ${N:-1500000} -P 16 -r 100000 -d ${DV:-1024} -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
S1=$(grep -E "^cpu[01] " /proc/stat)
echo "$r"; paste <(echo "$S0") <(echo "$S1") | awk '{n=NF/2; t=0; for(i=2;i<=n;i++){d[i]=$(i+n)-$i; t+=d[i]}; printf "%s user %.0f%% sys %.0f%% idle %.0f%% iowait %.0f%% softirq %.0f%%\n", $1, 100*d[2]/t, 100*d[4]/t, 100*d[5]/t, 100*d[6]/t, 100*d[8]/t}'
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
