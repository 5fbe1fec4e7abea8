#!/usr/bin/env bash
# cspairs.sh A B N: cmpseq.sh (FINAL, DV from the environment) alternating ringkv-A and ringkv-B, loadgen lg-base
for i in $(seq $3); do for b in $1 $2; do echo "$b $(BIN=./ringkv-$b LG=./lg-base $(dirname "$0")/../s33/cmpseq.sh 2>&1 | grep -E '^(set|get|nget) ')"; done; done
