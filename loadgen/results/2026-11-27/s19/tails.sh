#!/usr/bin/env bash
# tails.sh REPS : durable loadgen RESP SET (P16, P1) on fresh 1-shard servers, 4 KiB pages vs MIMALLOC_ALLOW_THP=1, alternating
REPS=$1; ROOT=$(cd "$(dirname "$0")/../../../.." && pwd); B=${BIN:-$ROOT/target/release/ringkv}; LG=$ROOT/target/release/ringkv-loadgen
for r in $(seq $REPS); do for arm in small thp; do for P in 16 1; do
  pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.3; D=/var/tmp/tails; rm -rf $D; mkdir -p $D
  if [ $arm = thp ]; then E="env MIMALLOC_ALLOW_THP=1"; else E=env; fi
  $E $B serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync always --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
  for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
  taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct 0 --keys 100000 --value-size 100 --connections 50 --pipeline $P --threads 1 --duration 3 --warmup 1 2>/dev/null | awk -v a=$arm -v p=$P '/^all/ {print a, "P" p, $3, "p99", $6, "p99.9", $7, "max", $9}'
  kill $SP; wait $SP 2>/dev/null; rm -rf $D
done; done; done
