#!/usr/bin/env bash
# seq1k.sh: compare.sh's row order against one fresh ringkv --sync none (1 KiB), with INFO's flush and compaction counters and the memtable's size after each row
BIN=${BIN:-./ringkv-s29}; D=/var/tmp/rk-seq; rm -rf $D; DV=${DV:-1024}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync none --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
info() { redis-cli -p 16379 info | tr -d '\r' | grep -E "^ringkv_(flushes|compactions|memtable_bytes|compaction_bytes_written|write_stall_micros|write_delay_micros):" | tr '\n' ' '; echo; }
lg() { taskset -c 0 ./ringkv-loadgen run --target $1://127.0.0.1:$([[ $1 == resp ]] && echo 16379 || echo 17070) --read-pct $2 --dist uniform --keys 100000 --value-size $DV --connections 50 --pipeline $3 --threads 1 --duration 3 --warmup 1 ${4:-} --out /tmp/seq.json >/dev/null 2>&1; python3 -c "import json; d=json.load(open('/tmp/seq.json')); print('$1 read$2 P$3', round(d['ops_per_sec']), [round(x['ops_per_sec']/1000) for x in d['timeline']])"; }
for p in 1 16; do echo "rb P$p: $(taskset -c 0 redis-benchmark -p 16379 -t set,get -n 100000 -c 50 -r 1000000 -d $DV -P $p -q 2>/dev/null | tr '\r' '\n' | grep -v rps= | grep -v '^ *$' | tr '\n' ' ')"; info; done
lg resp 0 1; info; lg resp 100 1 --load; info; lg resp 0 16; info; lg resp 100 16; info
lg native 0 1; info; lg native 100 1; info; lg native 0 16; info; lg native 100 16; info
kill $SP; wait $SP 2>/dev/null; rm -rf $D
