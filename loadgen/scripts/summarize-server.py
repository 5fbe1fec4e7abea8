#!/usr/bin/env python3
"""Medians of loadgen/compare.sh's runs: redis-benchmark and ringkv-loadgen, ringkv vs Redis.

Usage: summarize-server.py OUTDIR   (the out/ directory of compare.sh)
Prints markdown tables: medians over repetitions, ratio = ringkv / Redis.
"""
import glob
import json
import os
import re
import statistics
import sys
from collections import defaultdict

out = sys.argv[1]
# compare.sh's server configurations, in the order the tables list them.
CONFIGS = ["redis-aof", "redis-mem", "rk-always-s1", "rk-always-s2", "rk-none-s1", "rk-none-s2"]
rb = defaultdict(list)  # (cfg, P, test) -> [rps]
rbp50 = defaultdict(list)
lg = defaultdict(list)  # (cfg, proto, op, P) -> [json]
lgo = defaultdict(list)  # (cfg, proto, rate) -> [json], open loop
notes = 0
for f in sorted(glob.glob(os.path.join(out, "*.txt"))):
    name = os.path.basename(f)
    text = open(f, errors="replace").read()
    if "NOTE: a compiler" in text:
        notes += 1
    m = re.match(r"(.+)_rb-P(\d+)_r\d+\.txt$", name)
    if m:
        cfg, p = m.group(1), int(m.group(2))
        for t, rps, p50 in re.findall(r"^(SET|GET): ([\d.]+) requests per second, p50=([\d.]+) msec", text, re.M):
            rb[(cfg, p, t)].append(float(rps))
            rbp50[(cfg, p, t)].append(float(p50) * 1000)
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    m = re.match(r"(.+)_lg-(resp|native)-(set|get)-P(\d+)_r\d+\.json$", os.path.basename(f))
    if m:
        lg[(m.group(1), m.group(2), m.group(3), int(m.group(4)))].append(json.load(open(f)))
    m = re.match(r"(.+)_lgo-(resp|native)-set-R(\d+)_r\d+\.json$", os.path.basename(f))
    if m:
        lgo[(m.group(1), m.group(2), int(m.group(3)))].append(json.load(open(f)))


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x):
    return "—" if x is None else f"{x:,.0f}"


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"**{a / b:.2f}×**"


def lgv(key, field="ops", runs=None):
    js = (lg if runs is None else runs).get(key, [])
    if not js:
        return None
    if field == "ops":
        return med([j["ops_per_sec"] for j in js])
    if field == "errors":
        return sum(j["errors"] for j in js)
    # "all", or the only kind of operation (files written before "all" was always present)
    return med([(j["latency_us"].get("all") or next(iter(j["latency_us"].values())))[field] for j in js])


def n(key):
    return len(lg.get(key, []))


for title, redis, rks in [
    ("Durable: Redis `--appendonly yes --appendfsync always` vs ringkv `--sync always`", "redis-aof",
     ["rk-always-s1", "rk-always-s2"]),
    ("Memory speed: Redis `--save '' --appendonly no` vs ringkv `--sync none`", "redis-mem",
     ["rk-none-s1", "rk-none-s2"]),
]:
    print(f"### {title}\n")
    print(f"| client | test | Redis ops/s | " + " | ".join(f"{c} ops/s | ratio" for c in rks) + " |")
    print("|---|---|---:|" + "---:|---:|" * len(rks))
    for p in (1, 16):
        for t in ("SET", "GET"):
            r = med(rb.get((redis, p, t), []))
            cells = []
            for c in rks:
                v = med(rb.get((c, p, t), []))
                cells += [fmt(v), ratio(v, r)]
            print(f"| redis-benchmark -P {p} | {t} | {fmt(r)} | " + " | ".join(cells) + " |")
    for p in (1, 16):
        for op in ("set", "get"):
            r = lgv((redis, "resp", op, p))
            for proto in ("resp", "native"):
                cells = []
                for c in rks:
                    v = lgv((c, proto, op, p))
                    cells += [fmt(v), ratio(v, r)]
                print(f"| loadgen {proto} -P {p} | {op.upper()} | {fmt(r)} | " + " | ".join(cells) + " |")
    print()

print("### Latency (ringkv-loadgen, medians of p50 / p99 / p99.9 in µs, closed loop)\n")
print("| server | protocol | op | P | ops/s | p50 | p99 | p99.9 | max | errors | runs |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for cfg in CONFIGS:
    for proto in ("resp", "native"):
        for op in ("set", "get"):
            for p in (1, 16):
                k = (cfg, proto, op, p)
                if k not in lg:
                    continue
                print(f"| {cfg} | {proto} | {op.upper()} | {p} | {fmt(lgv(k))} | {lgv(k, 'p50'):,.0f} | "
                      f"{lgv(k, 'p99'):,.0f} | {lgv(k, 'p99.9'):,.0f} | {lgv(k, 'max'):,.0f} | {lgv(k, 'errors')} | {n(k)} |")
print()
if lgo:
    print("### Open loop: SETs offered at a fixed rate (ringkv-loadgen `--rate`; medians, latency in µs)\n")
    print("| server | protocol | offered/s | done/s | p50 | p99 | p99.9 | max | errors | runs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rate in sorted({k[2] for k in lgo}):
        for cfg in CONFIGS:
            for proto in ("resp", "native"):
                k = (cfg, proto, rate)
                if k not in lgo:
                    continue
                v = lambda field: lgv(k, field, lgo)  # noqa: E731
                print(f"| {cfg} | {proto} | {rate:,} | {fmt(v('ops'))} | {v('p50'):,.0f} | {v('p99'):,.0f} | "
                      f"{v('p99.9'):,.0f} | {v('max'):,.0f} | {v('errors')} | {len(lgo[k])} |")
    print()
print("### redis-benchmark p50 (µs, medians)\n")
print("| server | P | SET p50 | GET p50 |")
print("|---|---:|---:|---:|")
for cfg in CONFIGS:
    for p in (1, 16):
        s, g = med(rbp50.get((cfg, p, "SET"), [])), med(rbp50.get((cfg, p, "GET"), []))
        if s is not None or g is not None:
            print(f"| {cfg} | {p} | {fmt(s)} | {fmt(g)} |")
print()
print(f"files with a compiler running at the end of the run: {notes}")
