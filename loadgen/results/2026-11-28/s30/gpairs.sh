#!/usr/bin/env bash
# gpairs.sh A B N: lgget.sh alternating binaries A and B, N pairs (env passed through: PROTO, DV, DUR)
for i in $(seq $3); do for b in $1 $2; do echo -n "$b "; BIN=./$b bash lgget.sh; done; done
