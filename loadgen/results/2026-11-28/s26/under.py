#!/usr/bin/env python3
# under.py PERF_DATA PATTERN [COMM]: for samples with a frame matching PATTERN, the leaf symbols (self) and the frame just below PATTERN
import subprocess, sys, collections, re
data, pat = sys.argv[1], sys.argv[2]
comm = sys.argv[3] if len(sys.argv) > 3 else None
out = subprocess.run(['perf', 'script', '-i', data, '-F', 'comm,ip,sym'], capture_output=True, text=True).stdout
total = 0; hit = 0; leaf = collections.Counter(); below = collections.Counter()
for s in out.split('\n\n'):
    lines = [l.strip() for l in s.strip().split('\n') if l.strip()]
    if not lines: continue
    c = lines[0].split()[0]
    if comm and c != comm: continue
    total += 1
    frames = [re.sub(r'^[0-9a-f]+\s+', '', l) for l in lines[1:]]
    idx = [i for i, f in enumerate(frames) if pat in f]
    if not idx: continue
    hit += 1
    leaf[frames[0]] += 1
    i = idx[0]
    below[frames[i - 1] if i > 0 else '(self)'] += 1
print(f"total {total} matching {hit} ({100*hit/max(total,1):.2f}%)")
print("-- leaf"); [print(f"  {100*n/total:5.2f}% {f[:150]}") for f, n in leaf.most_common(15)]
print("-- child of match"); [print(f"  {100*n/total:5.2f}% {f[:150]}") for f, n in below.most_common(12)]
