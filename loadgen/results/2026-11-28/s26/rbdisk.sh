#!/usr/bin/env bash
BIN=${BIN:-./ringkv}; D=/var/tmp/rk-rbdisk; rm -rf $D
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${MODE:-always} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
r0=$(awk '$3=="vda" {print $4, $6}' /proc/diskstats)
r=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n ${N:-1000000} -P 16 -r 1000000 -d 100 -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
sleep 0.5; r1=$(awk '$3=="vda" {print $4, $6}' /proc/diskstats)
echo "$r reads $(( $(echo $r1 | cut -d' ' -f1) - $(echo $r0 | cut -d' ' -f1) )) read_MB $(( ($(echo $r1 | cut -d' ' -f2) - $(echo $r0 | cut -d' ' -f2)) / 2048 )) $(redis-cli -p 16379 info | tr -d '\r' | grep -E 'ringkv_flushes' )"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
