#!/usr/bin/env bash
# iostat.sh: fresh ringkv --sync always; redis-benchmark P16 SET N of DV; prints vda requests (writes, flushes), virtio irqs, and wal commits per run
BIN=${BIN:-./ringkv-base}; D=/var/tmp/rk-io; rm -rf $D; DV=${DV:-100}; N=${N:-1000000}
$BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D --sync ${SYNC:-always} --shards 1 --cpus 1 ${RK_ARGS:-} >/dev/null 2>&1 & SP=$!
for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
st() { awk '{print $5, $7, $15, $16}' /sys/block/vda/stat; }   # writes completed, sectors written, flushes completed
irq() { grep virtio1-req /proc/interrupts | awk '{print $2+$3}'; }
c0=$(redis-cli -p 16379 info | grep wal_commits | tr -d '\r' | cut -d: -f2); s0=$(st); i0=$(irq)
redis-benchmark -p 16379 -t set -n $N -c 50 -r 1000000 -d $DV -P 16 -q 2>&1 | tr '\r' '\n' | grep -v rps= | grep -v '^ *$'
c1=$(redis-cli -p 16379 info | grep wal_commits | tr -d '\r' | cut -d: -f2); s1=$(st); i1=$(irq)
python3 - "$s0" "$s1" $c0 $c1 $i0 $i1 <<'PY'
import sys
a=list(map(int,sys.argv[1].split())); b=list(map(int,sys.argv[2].split())); c=int(sys.argv[4])-int(sys.argv[3]); i=int(sys.argv[6])-int(sys.argv[5])
w=b[0]-a[0]; sec=b[1]-a[1]; fl=b[3]-a[3]
print(f"commits {c} writes {w} ({w/max(c,1):.2f}/commit, {sec*512/max(w,1)/1024:.1f} KiB each) flushes {fl} ({fl/max(c,1):.2f}/commit) irqs {i} ({i/max(c,1):.2f}/commit)")
PY
kill $SP; wait $SP 2>/dev/null; rm -rf $D
