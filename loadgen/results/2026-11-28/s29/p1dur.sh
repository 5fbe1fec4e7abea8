#!/usr/bin/env bash
# p1dur.sh: fresh ringkv --sync always on CPU 1; loadgen resp P1 SETs of DV over 100k keys, CONNS connections, DUR s; ops/s, commits, writes per commit, p50/p99
BIN=${BIN:-./ringkv-wp}; D=/var/tmp/rk-p1; rm -rf $D; DV=${DV:-100}; DUR=${DUR:-4}
env ${ENVS:-} $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync always --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
c0=$(redis-cli -p 16379 info | tr -d '\r' | awk -F: '/ringkv_wal_commits:/{print $2}')
taskset -c 0 ./ringkv-loadgen run --target resp://127.0.0.1:16379 --read-pct 0 --dist uniform --keys 100000 --value-size $DV --connections ${CONNS:-50} --pipeline ${PIPE:-1} --threads 1 --duration $DUR --warmup 0 --out /tmp/p1dur.json >/dev/null 2>&1
c1=$(redis-cli -p 16379 info | tr -d '\r' | awk -F: '/ringkv_wal_commits:/{print $2}')
python3 -c "
import json; d=json.load(open('/tmp/p1dur.json')); n=d['ops']; c=$c1-$c0
l=d.get('latency_us') or d.get('latency') or {}
print(round(d['ops_per_sec']), 'commits/s', round(c/d.get('elapsed_s', $DUR)), 'writes/commit', round(n/max(c,1),1), {k: l[k] for k in list(l)[:4]} if isinstance(l, dict) else '')"
kill $SP; wait $SP 2>/dev/null; rm -rf $D
