#!/usr/bin/env bash
# lgsys.sh redis|ringkv: session 28's ../s28/lgsys.sh with `--sync ${SYNC:-none}` for ringkv and Redis's persistence from RARGS (default `--appendonly no`)
exec bash <(sed 's/--sync none/--sync ${SYNC:-none}/; s/--appendonly no/${RARGS:---appendonly no}/' "$(dirname "$0")/../s28/lgsys.sh") "$@"
