#!/usr/bin/env bash
# Run from the repository root; LG is a ringkv-loadgen binary.
# eng.sh LG V NUM BENCH [extra]: one engine benchmark on CPU 1; prints the rate line, the stats line and CPU
LG=$1; V=$2; NUM=$3; B=$4; shift 4
D=/var/tmp/rk-s22-eng; rm -rf $D
/usr/bin/time -f "cpu %U+%S s wall %e s" taskset -c 1 $LG engine --key-size 16 --value-size $V --num $NUM --dir $D --benchmarks $B "$@" 2>&1 | grep -E "^$B +:|^$B +[0-9]|^cpu|after settle : write"
rm -rf $D
