#!/usr/bin/env bash
# tails2.sh REPS : fresh 1-shard server per arm (same binary, RINGKV_HUGE_READ off/on), durable loadgen RESP SET over 1M keys (P16, DUR s),
# then GETs over the same keys (DUR s): ops/s, p99, p99.9, max per phase
REPS=$1; B=${B:-/work/scratch/s20/ringkv-h2}; LG=/work/main/target/release/ringkv-loadgen; DUR=${DUR:-12}
for r in $(seq $REPS); do for arm in small huge; do
  pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.3; D=/var/tmp/tails2; rm -rf $D; mkdir -p $D
  if [ $arm = huge ]; then E="env RINGKV_HUGE_READ=1"; else E=env; fi
  $E $B serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-always} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
  for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
  for pct in 0 100; do
  taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct $pct --keys 1000000 --value-size 100 --connections 50 --pipeline 16 --threads 1 --duration $DUR --warmup 1 2>/dev/null | awk -v a=$arm -v p=$pct '/^all/ {print a, "read" p, $3, "p99", $6, "p99.9", $7, "max", $9}'
  done
  for t in /proc/$SP/task/*; do awk -v a=$arm "{print a, \$2, \"minflt\", \$10}" $t/stat; done | grep -E "shard|huge"
  echo "$arm rss $(grep -E '^Rss' /proc/$SP/smaps_rollup | awk '{print $2}') huge $(grep AnonHuge /proc/$SP/smaps_rollup | awk '{print $2}')"
  kill $SP; wait $SP 2>/dev/null; rm -rf $D
done; done
