#!/bin/bash
# db_bench anchors for ringkv; outputs to /work/bench/anchors/
set -x
OUT=/work/bench/anchors
DB=/work/bench/rocksdb
COMMON="--num=1000000 --key_size=16 --value_size=100 --compression_type=none --threads=1 --db=$DB"
for r in 1 2 3; do
  rm -rf $DB
  db_bench --benchmarks=fillrandom,readrandom,overwrite,readseq $COMMON > $OUT/default_r$r.txt 2>&1
  db_bench --benchmarks=readmissing --use_existing_db=1 $COMMON > $OUT/default_readmissing_r$r.txt 2>&1
  rm -rf $DB
  db_bench --benchmarks=fillrandom,readrandom,overwrite,readseq --bloom_bits=10 $COMMON > $OUT/bloom10_r$r.txt 2>&1
  db_bench --benchmarks=readmissing --use_existing_db=1 --bloom_bits=10 $COMMON > $OUT/bloom10_readmissing_r$r.txt 2>&1
  rm -rf $DB
  db_bench --benchmarks=fillseq $COMMON > $OUT/fillseq_r$r.txt 2>&1
  rm -rf $DB
  db_bench --benchmarks=fillrandom --num=20000 --sync=1 --threads=1 --key_size=16 --value_size=100 --db=$DB > $OUT/sync_r$r.txt 2>&1
done
rm -rf $DB
echo done
