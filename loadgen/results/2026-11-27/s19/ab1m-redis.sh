#!/usr/bin/env bash
# ab1m-redis.sh REPS BIN... : per binary ("redis": redis-server --save "" --appendonly no) and round, a fresh 1-shard server, 3M SETs over 1M keys, 8 s pause, a warm GET pass,
# then 3 GET and 3 EXISTS passes (redis-benchmark P16 on CPU 0); medians per binary.
REPS=$1; shift
OUT=${OUT:-/tmp/ab1m.out}; : > $OUT
for r in $(seq $REPS); do for B in "$@"; do
  pkill -9 -f "resp-listen 127.0.0.1:16379"; pkill -9 -f "redis-server 127.0.0.1:16379"; sleep 0.3
  D=/var/tmp/ab1m; rm -rf $D; mkdir -p $D
  if [ "$B" = redis ]; then taskset -c 1 redis-server --bind 127.0.0.1 --port 16379 --save "" --appendonly no --dir $D >/dev/null 2>&1 & SP=$!; else $B serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync none --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!; fi
  for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
  taskset -c 0 redis-benchmark -p 16379 -c 50 -n 3000000 -P 16 -r 1000000 -d 100 -t set --csv >/dev/null 2>&1
  sleep 8
  taskset -c 0 redis-benchmark -p 16379 -c 50 -n 1000000 -P 16 -r 1000000 -t get --csv >/dev/null 2>&1
  for t in get exists; do for i in 1 2 3; do
    if [ $t = get ]; then a="-t get"; else a="exists key:__rand_int__"; fi
    v=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n 1000000 -P 16 -r 1000000 --csv $a 2>/dev/null | tail -1 | cut -d'"' -f4 | cut -d. -f1)
    echo "$(basename $B) $t $v" | tee -a $OUT
  done; done
  kill $SP; wait $SP; rm -rf $D
done; done
python3 - $OUT <<'P'
import sys,collections,statistics
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    b,t,v=l.split(); d[(b,t)].append(int(v))
for k,v in sorted(d.items()): print(k, "median", int(statistics.median(v)), "n", len(v), v)
P
