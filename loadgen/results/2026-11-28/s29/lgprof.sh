#!/usr/bin/env bash
# lgprof.sh: session 28's ../s28/lgprof.sh with `--sync ${SYNC:-none}` (SYNC=always for durable runs); same env (BIN, DV, DUR, OUT, PROTO)
exec bash <(sed 's/--sync none/--sync ${SYNC:-none}/' "$(dirname "$0")/../s28/lgprof.sh")
