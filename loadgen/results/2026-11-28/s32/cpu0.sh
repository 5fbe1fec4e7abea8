#!/usr/bin/env bash
# cpu0.sh: lgprof.sh (env passed through) while sampling CPU 0 and CPU 1 busy % from /proc/stat over the run
read -r _ a1 a2 a3 a4 a5 a6 a7 _ < <(grep '^cpu0 ' /proc/stat); read -r _ b1 b2 b3 b4 b5 b6 b7 _ < <(grep '^cpu1 ' /proc/stat)
bash lgprof.sh
read -r _ c1 c2 c3 c4 c5 c6 c7 _ < <(grep '^cpu0 ' /proc/stat); read -r _ d1 d2 d3 d4 d5 d6 d7 _ < <(grep '^cpu1 ' /proc/stat)
t0=$(( (c1+c2+c3+c4+c5+c6+c7)-(a1+a2+a3+a4+a5+a6+a7) )); i0=$(( c4-a4 )); t1=$(( (d1+d2+d3+d4+d5+d6+d7)-(b1+b2+b3+b4+b5+b6+b7) )); i1=$(( d4-b4 ))
echo "cpu0 busy $(( 100*(t0-i0)/t0 ))% (user $(( 100*(c1-a1)/t0 ))% sys $(( 100*(c3-a3)/t0 ))% softirq $(( 100*(c7-a7)/t0 ))%)  cpu1 busy $(( 100*(t1-i1)/t1 ))%"
