#!/usr/bin/env bash
# pairs-env.sh BIN N "ENV": lgprof.sh with BIN, alternating without and with ENV (e.g. MIMALLOC_ALLOW_THP=1)
B=$1; N=$2; E=$3
for i in $(seq $N); do
  echo -n "plain "; BIN=./$B bash lgprof.sh
  echo -n "$E "; env $E BIN=./$B bash lgprof.sh
done
