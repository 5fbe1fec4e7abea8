#!/usr/bin/env bash
cd /work/scratch/s28
for i in 1 2 3; do
  NOPERF=1 BIN=./ringkv-rb N=2400000 ./stprof.sh
  NOPERF=1 BIN=./ringkv-mtb N=2400000 ./stprof.sh
  RK_BASE_SCALE=1 NOPERF=1 BIN=./ringkv-mtb N=2400000 ./stprof.sh
done
