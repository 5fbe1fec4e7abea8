#!/usr/bin/env bash
# batch4: flush that rests (RK_FLUSH_REST) vs not, same binary: open loop 50k durable SETs/s of 1 KiB, 20 s
cd /work/scratch/s28
for i in 1 2 3; do for r in "" 1; do
  echo "== rest=${r:-0}"; env ${r:+RK_FLUSH_REST=1} LG=./ringkv-loadgen BIN=./ringkv-rest SYNC=always RATE=50000 DV=1024 DUR=20 KEYS=1000000 bash /work/main/loadgen/results/2026-11-28/s26/lgopen.sh 2>&1
done; done
