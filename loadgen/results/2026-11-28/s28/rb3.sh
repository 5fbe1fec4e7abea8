#!/usr/bin/env bash
# rb3.sh: alternate Redis, ringkv A, ringkv B on CPU 1; redis-benchmark P16 SET N of DV over 1M keys on CPU 0. MODE always|none
A=${A:-./ringkv-rb}; B=${B:-./ringkv-mt}; REPS=${REPS:-4}; N=${N:-1000000}; DV=${DV:-100}; MODE=${MODE:-always}
D=/var/tmp/rk-rb3
run_rb() { taskset -c 0 redis-benchmark -p 16379 -c 50 -n $N -P 16 -r 1000000 -d $DV -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"'; }
wait_up() { for _ in $(seq 200); do [[ $(redis-cli -p 16379 ping 2>/dev/null) == PONG ]] && return; sleep 0.05; done; }
for r in $(seq $REPS); do
  rm -rf $D; mkdir -p $D
  if [[ $MODE == always ]]; then X="--appendonly yes --appendfsync always"; else X="--appendonly no"; fi
  taskset -c 1 redis-server --port 16379 --dir $D --save '' $X --daemonize no --logfile $D/redis.log >/dev/null 2>&1 & RP=$!
  wait_up; echo "redis $MODE $(run_rb)"; kill $RP; wait $RP 2>/dev/null
  for b in $A $B; do
    rm -rf $D; mkdir -p $D
    $b serve --listen 127.0.0.1:17070 --resp-listen 127.0.0.1:16379 --data-dir $D/rk --sync $MODE --shards 1 --cpus 1 >/dev/null 2>&1 & SP=$!
    wait_up; echo "$(basename $b) $MODE $(run_rb)"; kill $SP; wait $SP 2>/dev/null
  done
done
rm -rf $D
