#!/usr/bin/env bash
# p1prof.sh: session 28's ../s28/lgprof.sh at pipeline depth 1 (loadgen P1 SETs, 50 connections); same env (BIN, DV, DUR, OUT, PROTO)
exec bash <(sed 's/--pipeline 16/--pipeline 1/' "$(dirname "$0")/../s28/lgprof.sh")
