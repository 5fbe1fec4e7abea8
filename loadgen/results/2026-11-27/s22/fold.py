#!/usr/bin/env python3
# fold.py DATA COMM MATCH [DEPTH]: among samples of COMM whose stack contains MATCH, count the leaf symbol
# and the frame just below MATCH (its direct child on the path), as shares of all COMM samples.
import sys, subprocess, collections, re
data, comm, match = sys.argv[1], sys.argv[2], sys.argv[3]
out = subprocess.run(['perf','script','-i',data,'--comm',comm,'-F','comm,ip,sym','--no-inline'], capture_output=True, text=True).stdout
total=0; leaf=collections.Counter(); child=collections.Counter(); hit=0
for block in out.split('\n\n'):
    lines=[l.strip() for l in block.strip().split('\n') if l.strip()]
    if not lines: continue
    frames=[]
    for l in lines[1:]:
        parts=l.split(None,1)
        frames.append(parts[1] if len(parts)>1 else '?')
    total+=1
    idx=[i for i,f in enumerate(frames) if match in f]
    if not idx: continue
    hit+=1
    i=idx[-1]  # outermost occurrence
    leaf[re.sub(r'\+0x[0-9a-f]+$','',frames[0])]+=1
    child[re.sub(r'\+0x[0-9a-f]+$','',frames[i-1]) if i>0 else '(self)']+=1
print(f"{hit}/{total} samples = {100*hit/max(total,1):.2f}%")
print("-- leaf"); [print(f"{100*c/total:6.2f}% {s[:120]}") for s,c in leaf.most_common(12)]
print("-- direct child"); [print(f"{100*c/total:6.2f}% {s[:120]}") for s,c in child.most_common(12)]
