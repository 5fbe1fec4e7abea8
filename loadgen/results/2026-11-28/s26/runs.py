#!/usr/bin/env python3
# runs.py PERF_DATA: contiguous runs of shard samples inside background work (spawn_background / table warm), longest first, with what they did
import subprocess, sys, collections, re
out = subprocess.run(['perf', 'script', '-i', sys.argv[1], '-F', 'comm,tid,time,ip,sym'], capture_output=True, text=True).stdout
samples = []
for s in out.split('\n\n'):
    lines = [l.strip() for l in s.strip().split('\n') if l.strip()]
    if not lines: continue
    head = lines[0].split()
    comm = head[0]; t = float(head[2].rstrip(':'))
    frames = [re.sub(r'^[0-9a-f]+\s+', '', l) for l in lines[1:]]
    bg = any('spawn_background' in f or 'warm' in f.lower() for f in frames) and comm.startswith('shard')
    samples.append((t, comm, bg, frames))
runs = []; cur = []
for smp in samples:
    if smp[2]: cur.append(smp)
    else:
        if cur: runs.append(cur)
        cur = []
if cur: runs.append(cur)
runs.sort(key=lambda r: r[-1][0] - r[0][0], reverse=True)
print("runs", len(runs), "bg samples", sum(len(r) for r in runs), "all", len(samples))
for r in runs[:int(sys.argv[2]) if len(sys.argv) > 2 else 12]:
    dur = (r[-1][0] - r[0][0]) * 1e6
    c = collections.Counter()
    for _, _, _, fr in r:
        # the deepest ringkv frame
        k = next((f for f in fr if 'ringkv::' in f), fr[0] if fr else '?')
        c[k[:110]] += 1
    print(f"{dur:8.0f} us  {len(r)} samples at {r[0][0]:.4f}")
    for k, n in c.most_common(4): print(f"      {n:4d} {k}")
