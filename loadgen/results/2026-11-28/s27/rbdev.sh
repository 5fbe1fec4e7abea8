#!/usr/bin/env bash
# rbdev.sh: rbinfo.sh plus block-device writes and flushes per WAL commit (from /sys/block/vda/stat)
s0=($(cat /sys/block/vda/stat)); out=$(./rbinfo.sh); s1=($(cat /sys/block/vda/stat))
c=$(echo "$out" | grep -o "wal_commits:[0-9]*" | cut -d: -f2)
w=$(( ${s1[4]} - ${s0[4]} )); f=$(( ${s1[15]:-0} - ${s0[15]:-0} ))
echo "$out | dev writes $w flushes $f commits $c writes/commit $(awk -v a=$w -v b=$c 'BEGIN{printf "%.2f", a/b}') flushes/commit $(awk -v a=$f -v b=$c 'BEGIN{printf "%.2f", a/b}')"
