#!/usr/bin/env bash
# one durable rb P16 SET run with counters: interrupts, nstat, commits
BIN=${1:-/work/main/target/release/ringkv}; SYNC=${SYNC:-always}; N=${N:-300000}
DATA=/var/tmp/rk-s20-dur; rm -rf $DATA
pkill -9 -f "resp-listen 127.0.0.1:16379" ; sleep 0.2
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $DATA --sync $SYNC --shards 1 --cpus 1 >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
irq() { awk '/virtio1-req/ {print $3}' /proc/interrupts; }
cpu1() { awk '/^(CAL|RES|IWI|TLB|LOC):/ {printf "%s=%s ", $1, $3}' /proc/interrupts; }
i0=$(irq); c0=$(cpu1); nstat -n >/dev/null
t0=$(cat /proc/$SPID/task/*/schedstat | awk '{s+=$1} END {print s}')
ops=$(redis-benchmark -p 16379 -c 50 -n $N -P 16 -r 1000000 -d 100 -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
t1=$(cat /proc/$SPID/task/*/schedstat | awk '{s+=$1} END {print s}')
i1=$(irq); c1=$(cpu1)
echo "ops/s $ops  server ns/op $(( (t1-t0)/N ))  disk irqs/op $(echo "scale=4; ($i1-$i0)/$N" | bc)"
echo "cpu1 before: $c0"; echo "cpu1 after:  $c1"
nstat | egrep "TcpOutSegs|TcpInSegs|TcpExtDelayedACKs|TcpExtTCPPureAcks|TcpExtTCPHPAcks|TcpExtTCPHPHits|IpExtInOctets"
redis-cli -p 16379 info | egrep -i "wal_commit|wal_bytes|instantaneous" 
kill $SPID; wait $SPID 2>/dev/null; rm -rf $DATA
