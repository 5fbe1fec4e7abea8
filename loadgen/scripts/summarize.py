#!/usr/bin/env python3
"""Medians of db_bench-format lines over repetitions: files CONFIG_rN.txt in a directory."""
import re, sys, os, statistics, collections
d = sys.argv[1]
line = re.compile(r'^(\w+)\s+:\s+([\d.]+) micros/op (\d+) ops/sec ([\d.]+) seconds (\d+) operations;(.*)$')
timel = re.compile(r'^([\d.]+)_s_elapsed_([\d.]+)_user_([\d.]+)_sys_(\d+)%_cpu_(\d+)KB_maxrss')
data = collections.defaultdict(lambda: collections.defaultdict(list))
times = collections.defaultdict(list)
for f in sorted(os.listdir(d)):
    m = re.match(r'(.+)_r(\d+)\.txt$', f)
    if not m: continue
    cfg = m.group(1)
    for l in open(os.path.join(d, f), errors='replace').read().replace('\r', '\n').splitlines():
        mm = line.match(l)
        if mm:
            data[cfg][mm.group(1)].append((float(mm.group(2)), int(mm.group(3)), float(mm.group(4)), mm.group(6).strip()))
        tm = timel.match(l)
        if tm:
            times[cfg].append((float(tm.group(1)), float(tm.group(2)) + float(tm.group(3)), int(tm.group(4))))
for cfg in sorted(data):
    print(f'== {cfg}')
    for b, runs in data[cfg].items():
        us = [r[0] for r in runs]; ops = [r[1] for r in runs]
        found = re.findall(r'\(\d+ of \d+ found\)|\(concurrency \d+\)', runs[0][3])
        print(f'  {b:<12} median {statistics.median(us):8.3f} micros/op {int(statistics.median(ops)):>8} ops/sec'
              f'   runs(ops/sec): {ops}  {" ".join(found)}')
    if times[cfg]:
        t = times[cfg]
        print(f'  process: elapsed s {[x[0] for x in t]}  cpu s {[round(x[1],2) for x in t]}  cpu% {[x[2] for x in t]}')

# Amplification runs (compare-rocksdb.sh section "amp").
for f in sorted(os.listdir(d)):
    p = os.path.join(d, f)
    if f.startswith('amp_ringkv_'):
        for l in open(p, errors='replace'):
            if l.startswith('after settle'):
                print(f'{f}: {l.strip()}')
    elif f.startswith('amp_rocks_'):
        txt = open(p, errors='replace').read().replace('\r', '\n')
        st = {k: int(v) for k, v in re.findall(r'rocksdb\.(bytes\.written|wal\.bytes|flush\.write\.bytes|compact\.write\.bytes) COUNT : (\d+)', txt)}
        ops = sum(int(m) for m in re.findall(r'^(?:fillrandom|overwrite)\s+:.* (\d+) operations;', txt, re.M))
        rows = re.search(r'^readseq\s+:.* (\d+) operations;', txt, re.M)
        sst = re.search(r'^sst_bytes (\d+)', txt, re.M)
        if not (st and rows and sst):
            continue
        user = ops * 116  # key 16 + value 100
        disk = st['wal.bytes'] + st['flush.write.bytes'] + st['compact.write.bytes']
        live = int(rows.group(1)) * 116
        print(f'{f}: write-amp {disk / user:.2f} = (wal {st["wal.bytes"]} + flush {st["flush.write.bytes"]} + '
              f'compaction {st["compact.write.bytes"]}) / user {user}; space-amp {int(sst.group(1)) / live:.2f} = '
              f'sst {sst.group(1)} / live {live} ({rows.group(1)} keys x 116)')
