#!/usr/bin/env bash
# seq.sh BIN [DV] [DUR]: fresh 1-shard server (--sync none, CPU 1); loadgen RESP P16 SET, sequential keys over 50M, DV bytes, DUR s (CPU 0)
B=$1; DV=${2:-1024}; DUR=${3:-15}; LG=/work/main/target/release/ringkv-loadgen
pkill -9 -f "resp-listen 127.0.0.1:16379"; sleep 0.3; D=/var/tmp/s21seq; rm -rf $D
$B serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-none} --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
out=$(taskset -c 0 $LG run --target resp://127.0.0.1:16379 --read-pct 0 --dist sequential --keys 50000000 --value-size $DV --connections 50 --pipeline 16 --threads 1 --duration $DUR --warmup 1 2>&1)
echo "$(basename $B)"; echo "$out" | tail -12

redis-cli -p 16379 info | tr -d '\r' | grep -E 'ringkv_compactions:|table_moves|tables_per_level|compaction_bytes_written|delay_micros|stall_micros' | tr '\n' ' '; echo
kill $SP; wait $SP 2>/dev/null; rm -rf $D
