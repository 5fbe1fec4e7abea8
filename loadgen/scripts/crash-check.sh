#!/usr/bin/env bash
# Durability check across SIGKILL, heavier than the test suite's: writes with
# `ringkv-loadgen run --verify` (records every acknowledged write), kill -9 the
# server mid-run, restart it on the same data dir, and `check` that every
# acknowledged write is there. Prints the counts and the server's recovery line.
#
# Usage: loadgen/scripts/crash-check.sh [KILL_AFTER_S] [DIR]
#   env: SYNC (always), SHARDS (1), KEYS (200000), VALUE (200), P (16), CONNS (20),
#        PROTO (native, or resp: the writes go to the RESP port as SETs),
#        EXTRA (more `ringkv serve` flags, e.g. "--compaction tiered")
# Needs: cargo build --release -p ringkv -p ringkv-loadgen
set -uo pipefail
AFTER=${1:-5}
D=${2:-/var/tmp/ringkv-crash-check}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$ROOT/target/release
ADDR=127.0.0.77:17270
RESP_ADDR=127.0.0.77:17271
if [[ ${PROTO:-native} == resp ]]; then TARGET=resp://$RESP_ADDR; else TARGET=native://$ADDR; fi
rm -rf "$D"; mkdir -p "$D"
SPID=
start() {
  "$B/ringkv" serve --listen $ADDR --resp-listen $RESP_ADDR --data-dir "$D/data" --sync "${SYNC:-always}" \
    --shards "${SHARDS:-1}" ${EXTRA:-} >>"$D/server.log" 2>&1 &
  SPID=$!
  for _ in $(seq 100); do "$B/ringkv" get probe --addr $ADDR >/dev/null 2>&1; [[ $? -le 1 ]] && return; sleep 0.1; done
  echo "server did not come up" >&2; exit 2
}
trap '[[ -n $SPID ]] && kill -9 $SPID 2>/dev/null' EXIT
start
"$B/ringkv-loadgen" run --target "$TARGET" --read-pct 0 --keys "${KEYS:-200000}" --value-size "${VALUE:-200}" \
  --pipeline "${P:-16}" --connections "${CONNS:-20}" --duration $((AFTER + 30)) --warmup 0 --verify "$D/verify.log" \
  >/dev/null 2>&1 &
LPID=$!
sleep "$AFTER"
kill -9 $SPID; wait $SPID 2>/dev/null; wait $LPID
echo "acknowledged: $(grep -c '^A ' "$D/verify.log")"
start
"$B/ringkv-loadgen" check --verify "$D/verify.log" --target "$TARGET" | tail -1
rc=${PIPESTATUS[0]}
kill $SPID; wait $SPID 2>/dev/null; SPID=
grep -a "WAL replayed" "$D/server.log" | sed 's/\x1b\[[0-9;]*m//g' | tail -1
exit "$rc"
