#!/bin/bash
set -x
OUT=/work/bench/anchors
DB=/work/bench/rocksdb
for r in 1 2 3; do
  rm -rf $DB
  db_bench --benchmarks=fillrandom --num=20000 --writes=313 --sync=1 --threads=64 --key_size=16 --value_size=100 --db=$DB > $OUT/sync64_r$r.txt 2>&1
done
rm -rf $DB
db_bench --benchmarks=fillrandom,overwrite,stats --statistics=1 --num=1000000 --key_size=16 --value_size=100 --compression_type=none --threads=1 --db=$DB > $OUT/amp_stats.txt 2>&1
ls -l $DB > $OUT/amp_ls.txt; du -sb $DB >> $OUT/amp_ls.txt
rm -rf $DB
echo done
