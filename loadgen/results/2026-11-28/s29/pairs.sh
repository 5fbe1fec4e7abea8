#!/usr/bin/env bash
# pairs.sh A B N [env...]: lgprof.sh alternating binaries A and B, N pairs; prints per-run lines
A=$1; B=$2; N=$3
for i in $(seq $N); do
  for b in $A $B; do echo -n "$b "; BIN=./$b bash lgprof.sh; done
done
