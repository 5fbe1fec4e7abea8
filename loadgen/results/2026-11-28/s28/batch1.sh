#!/usr/bin/env bash
cd /work/scratch/s28
for i in 1 2 3 4 5 6; do
  for x in "" "--memtable-bytes 268435456"; do
    echo "steady1k ${x:-default}: $(NOPERF=1 BIN=./ringkv-rb EXTRA="$x" ./stprof.sh)"
    echo "dur100 ${x:-default}: $(MODE=always BIN=./ringkv-rb EXTRA="$x" NOGET=1 N=1000000 ./mt.sh)"
  done
done
