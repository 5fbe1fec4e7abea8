#!/usr/bin/env bash
# nsop.sh ROUNDS ARM... : profcmd-style ns/op for GET and EXISTS (3 passes each) per arm, medians
R=$1; shift; OUT=${OUT:-/tmp/nsop.out}; : > $OUT
for r in $(seq $R); do for a in "$@"; do
  /work/scratch/s19/profcmd.sh $a "" "-t get" 2>&1 | awk -v a=$(basename $a) '/ns\/op/ {print a, "get", $2}' | tee -a $OUT
done; done
python3 - $OUT <<'P'
import sys,collections,statistics
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    b,t,v=l.split(); d[(b,t)].append(int(v))
for k,v in sorted(d.items()): print(k, "median ns/op", int(statistics.median(v)), v)
P
