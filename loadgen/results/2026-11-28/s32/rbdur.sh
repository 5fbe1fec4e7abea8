#!/usr/bin/env bash
# rbdur.sh REPS [N] [DV]: alternating fresh Redis (appendonly yes, appendfsync always) and fresh ringkv --sync always (1 shard, CPU 1),
# each driven by redis-benchmark -t set -P 16 -c 50 -r 1000000 -n N -d DV; prints both rates and the ratio per pair
REPS=${1:-5}; N=${2:-1000000}; DV=${3:-100}; BIN=${BIN:-./ringkv-cur}; D=/var/tmp/rk-rbdur
rb() { redis-benchmark -p 16379 -t set -n $N -c 50 -r 1000000 -d $DV -P 16 -q 2>&1 | tr '\r' '\n' | grep -v rps= | grep '^SET' | awk '{print $2}'; }
up() { for _ in $(seq 200); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && return; sleep 0.05; done; }
for i in $(seq $REPS); do
  rm -rf $D; mkdir -p $D
  redis-server --bind 127.0.0.1 --port 16379 --dir $D --save '' --appendonly yes --appendfsync always --daemonize no --logfile $D/redis.log --protected-mode no & RP=$!; up
  r=$(rb); kill $RP; wait $RP 2>/dev/null; rm -rf $D
  $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync always --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!; up
  k=$(rb); kill $SP; wait $SP 2>/dev/null; rm -rf $D
  python3 -c "print(f'redis {float(\"$r\"):9.0f}  ringkv {float(\"$k\"):9.0f}  ratio {float(\"$k\")/float(\"$r\"):.2f}')"
done
