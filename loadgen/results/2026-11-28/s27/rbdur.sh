#!/usr/bin/env bash
# rbdur.sh: alternate Redis (appendfsync always or none) and ringkv (sync always/none) on CPU 1; redis-benchmark P16 SET on CPU 0.
# env: BIN, REPS, N, DV, MODE=always|none, ONLY=rk|redis, P
BIN=${BIN:-/work/scratch/s27/ringkv-base}; REPS=${REPS:-3}; N=${N:-200000}; DV=${DV:-100}; MODE=${MODE:-always}; P=${P:-16}
D=/var/tmp/rk-s27-rb
run_rb() { taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P $P -r 1000000 -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"'; }
wait_up() { for _ in $(seq 100); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && return; sleep 0.1; done; }
for r in $(seq $REPS); do
  if [[ ${ONLY:-} != rk ]]; then
  rm -rf $D; mkdir -p $D
  if [[ $MODE == always ]]; then A="--appendonly yes --appendfsync always"; else A="--appendonly no"; fi
  taskset -c 1 redis-server --port 16379 --dir $D --save '' $A --daemonize no --logfile $D/redis.log >/dev/null 2>&1 & RP=$!
  wait_up; echo "redis $MODE $(run_rb)"; kill $RP; wait $RP 2>/dev/null
  fi
  if [[ ${ONLY:-} != redis ]]; then
  rm -rf $D; mkdir -p $D
  $BIN serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync $MODE --shards 1 --cpus 1 ${EXTRA:-} >/dev/null 2>&1 & SP=$!
  wait_up; echo "ringkv $MODE $(run_rb)"; kill $SP; wait $SP 2>/dev/null
  fi
done
rm -rf $D
