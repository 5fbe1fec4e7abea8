#!/usr/bin/env python3
# runs2.py PERF_DATA: contiguous shard samples by task root (outermost ringkv frame), longest runs of non-connection roots
import subprocess, sys, collections, re
out = subprocess.run(['perf', 'script', '-i', sys.argv[1], '-F', 'comm,tid,time,ip,sym'], capture_output=True, text=True).stdout
samples = []
for s in out.split('\n\n'):
    lines = [l.strip() for l in s.strip().split('\n') if l.strip()]
    if not lines: continue
    head = lines[0].split(); comm = head[0]; t = float(head[2].rstrip(':'))
    if not comm.startswith('shard'): samples.append((t, 'OTHER', [])); continue
    frames = [re.sub(r'^[0-9a-f]+\s+', '', l) for l in lines[1:]]
    rk = [f for f in frames if 'ringkv::' in f]
    root = rk[-1][:90] if rk else ('kernel/idle' if not frames or '[k]' in frames[0] else frames[-1][:60])
    samples.append((t, root, frames))
runs = []; cur = []
for smp in samples:
    if cur and smp[1] == cur[-1][1]: cur.append(smp)
    else:
        if cur: runs.append(cur)
        cur = [smp]
runs.append(cur)
agg = collections.defaultdict(list)
for r in runs: agg[r[0][1]].append((r[-1][0]-r[0][0])*1e6)
for k, v in sorted(agg.items(), key=lambda kv: -max(kv[1])):
    v.sort(reverse=True)
    print(f"{k:90s} runs {len(v):5d} >300us {sum(1 for x in v if x > 300):4d} top {[round(x) for x in v[:5]]}")
