# Sourced by compare.sh and command-sweep.sh: stopping the server a script
# started. SPID is its pid (empty: none running); DATA, its data directory,
# is wiped once it has stopped.
SPID=
stop_server() {
  if [[ -n $SPID ]]; then
    kill "$SPID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    SPID=
  fi
  rm -rf "$DATA"
}
trap stop_server EXIT
