#!/usr/bin/env bash
# cpuop.sh: server CPU ns per op and client CPU0 idle%, for Redis and ringkv (MODE always|none), rb P (16) T (set)
BIN=${BIN:-/work/scratch/s26/ringkv}; N=${N:-400000}; DV=${DV:-100}; MODE=${MODE:-none}; P=${P:-16}; T=${T:-set}
D=/var/tmp/rk-s26-cpu
wait_up() { for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && return; sleep 0.1; done; }
cpu() { cat /proc/$1/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }
meas() { # PID NAME
  [[ $T == get ]] && taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P $P -r 1000000 -d $DV -t set >/dev/null 2>&1
  local t0=$(cpu $1) z0=$(grep "^cpu0 " /proc/stat) o0=$(grep "^cpu1 " /proc/stat)
  local s=$(taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P $P -r 1000000 -d $DV -t $T --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
  local t1=$(cpu $1) z1=$(grep "^cpu0 " /proc/stat) o1=$(grep "^cpu1 " /proc/stat)
  echo "$2 $MODE $T P$P rps $s server_ns/op $(( (t1-t0)/N )) cpu0_idle% $(python3 -c "import sys; a=list(map(int,sys.argv[1].split()[1:])); b=list(map(int,sys.argv[2].split()[1:])); d=[y-x for x,y in zip(a,b)]; print(round(100*d[3]/sum(d)))" "$z0" "$z1") cpu1_idle% $(python3 -c "import sys; a=list(map(int,sys.argv[1].split()[1:])); b=list(map(int,sys.argv[2].split()[1:])); d=[y-x for x,y in zip(a,b)]; print(round(100*d[3]/sum(d)), round(100*d[4]/sum(d)))" "$o0" "$o1")"
}
for r in $(seq ${REPS:-1}); do
  rm -rf $D; mkdir -p $D
  if [[ $MODE == always ]]; then A="--appendonly yes --appendfsync always"; else A="--appendonly no"; fi
  taskset -c 1 redis-server --port 16379 --dir $D --save '' $A --daemonize no --logfile $D/redis.log >/dev/null 2>&1 & RP=$!
  wait_up; meas $RP redis; kill $RP; wait $RP 2>/dev/null
  rm -rf $D; mkdir -p $D
  $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync $MODE --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
  wait_up; meas $SP ringkv; kill $SP; wait $SP 2>/dev/null
done
rm -rf $D
