#!/usr/bin/env bash
# setget.sh BIN [DV] : fresh 1-shard server (--sync none), loadgen RESP SET P16 of DV bytes over 100k keys (3 s),
# then loadgen GET P16 (3 s) and P1 (3 s), as compare.sh runs them: ops/s of each
B=$1; DV=${2:-1024}; LG=/work/main/target/release/ringkv-loadgen
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.3; D=/var/tmp/s20sg; rm -rf $D
$B serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
lg() { taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct $1 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline $2 --threads 1 --duration 3 --warmup 1 ${3:-} 2>&1 | grep -oE '[0-9,]+ ops/s' | head -1 | tr -d ', ops/'; }
info() { redis-cli -p 16379 info | tr -d "\r" | grep -E "ringkv_cache_(hits|misses)|ringkv_compactions:|ringkv_flushes:|tables_per_level" | tr "\n" " "; }
s=$(lg 0 16); i1=$(info); g16=$(lg 100 16 --load); i2=$(info); g1=$(lg 100 1)
[ -n "$INFO" ] && { echo "  after set: $i1"; echo "  after get16: $i2"; }
echo "$(basename $B) set16 $s get16 $g16 get1 $g1 levels $(redis-cli -p 16379 info | tr -d '\r' | awk -F: '/tables_per_level/ {print $2}')"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
