"""windows.py FILE: per 25 ms window of shard samples, the share of the top frame (first ringkv/glommio frame, else leaf)"""
import sys, collections, re
W=0.025
cur=None; samples=[]
for line in open(sys.argv[1]):
    line=line.rstrip('\n')
    if not line.strip():
        if cur: samples.append(cur)
        cur=None; continue
    if line[0] not in ' \t':
        m=re.match(r'(\S+)\s+(\d+)\s+([\d.]+):', line)
        cur=[m.group(1), float(m.group(3)), []] if m else None
    elif cur is not None:
        p=line.strip().split(None,1)
        cur[2].append(p[1] if len(p)>1 else p[0])
if cur: samples.append(cur)
t0=samples[0][1]
win=collections.defaultdict(collections.Counter)
for comm,t,st in samples:
    if not comm.startswith('shard'): 
        win[int((t-t0)/W)]['<other:'+comm[:10]+'>']+=1; continue
    key=next((s for s in st if 'ringkv::' in s and 'prefetch' not in s), st[0] if st else '?')
    win[int((t-t0)/W)][key[:90]]+=1
for w in sorted(win):
    c=win[w]; tot=sum(c.values()); k,v=c.most_common(1)[0]
    if v/tot>0.4: print(f"{w*W:6.3f}s n={tot:4d} {100*v/tot:3.0f}% {k}")
