#!/usr/bin/env bash
cd /work/scratch/s28
MODE=always ./rb3.sh; MODE=none ./rb3.sh
for i in 1 2 3; do for b in rb mt; do BIN=./ringkv-$b DV=1024 N=300000 ./pf.sh; done; done
for i in 1 2 3; do for b in rb mt; do echo "$b: $(BIN=./ringkv-$b N=1000000 ./mt.sh)"; done; done
