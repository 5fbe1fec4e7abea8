#!/usr/bin/env bash
# precycle.sh: durable loadgen RESP P16 SETs of 100 B for DUR s, against a fresh server (zero fill ahead of the log) and against one whose WAL has cycled (1 KiB SETs under --sync none for 9 s first, then restarted with --sync always: segments recycled, no zero fill)
BIN=${BIN:-./ringkv-cmp}; D=/var/tmp/rk-pre; DUR=${DUR:-4}
serve() { $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync $1 --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!; for _ in $(seq 200); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done; }
cpu() { cat /proc/$SP/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
lg() { taskset -c 0 ./ringkv-loadgen run --target resp://127.0.0.1:16379 --read-pct 0 --dist uniform --keys 100000 --value-size $1 --connections 50 --pipeline 16 --threads 1 --duration $2 --warmup 0 --out /tmp/pre.json >/dev/null 2>&1; }
measure() { local c0 c1; c0=$(cpu); lg 100 $DUR; c1=$(cpu); python3 -c "import json; d=json.load(open('/tmp/pre.json')); n=d['ops']; print('$1', round(d['ops_per_sec']), 'server_ns/op', round(($c1-$c0)/n), 'wal_files', $(ls $D/shard-0 | grep -c wal-))"; }
rm -rf $D; serve always; measure fresh; kill $SP; wait $SP 2>/dev/null
rm -rf $D; serve none; lg 1024 9; kill $SP; wait $SP 2>/dev/null
serve always; measure cycled; kill $SP; wait $SP 2>/dev/null; rm -rf $D
