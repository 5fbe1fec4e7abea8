#!/usr/bin/env bash
# rbpairs.sh A B N [SYNC]: N alternating pairs of rbseq.sh K=1 (fresh server, rb P1 set/get, then rb P16 SET) for ringkv-A vs ringkv-B
for i in $(seq $3); do for b in $1 $2; do echo "$b $(SYNC=${4:-always} BIN=./ringkv-$b K=1 ./rbseq.sh | grep -o 'k1.*')"; done; done
