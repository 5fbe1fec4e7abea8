"""diffprof.py A.txt NA B.txt NB: per-op inclusive ns of functions (shard threads), B - A, biggest differences"""
import sys, collections
sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "../s28"))
import stacks as S
def prof(path, n):
    incl=collections.Counter(); tot=0
    for cur, st in S.samples(path):
        if not cur.startswith('shard'): continue
        tot+=1
        seen=set()
        for f in st:
            name=(f.split(' ',1)[1] if ' ' in f else f).split('+0x')[0]
            if name in seen: continue
            seen.add(name); incl[name]+=1
    return {k: v*250e3/n for k,v in incl.items()}, tot*250e3/n
a, ta = prof(sys.argv[1], int(sys.argv[2])); b, tb = prof(sys.argv[3], int(sys.argv[4]))
print(f"total {ta:.0f} -> {tb:.0f}")
keys=set(a)|set(b)
d=sorted(keys, key=lambda k: -abs(b.get(k,0)-a.get(k,0)))
for k in d[:45]: print(f"{a.get(k,0):7.1f} {b.get(k,0):7.1f} {b.get(k,0)-a.get(k,0):+7.1f} {k[:120]}")
