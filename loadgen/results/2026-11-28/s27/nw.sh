#!/usr/bin/env bash
# nw.sh: alternate ringkv-nw with and without RK_NOWARM: rb P16 SET (DV, N, MODE)
for r in $(seq ${REPS:-3}); do
  a=$(BIN=./ringkv-nw MODE=${MODE:-none} N=${N:-1000000} ./rbinfo2.sh | cut -d' ' -f1)
  b=$(RK_NOWARM=1 BIN=./ringkv-nw MODE=${MODE:-none} N=${N:-1000000} ./rbinfo2.sh | cut -d' ' -f1)
  echo "warm $a nowarm $b"
done
