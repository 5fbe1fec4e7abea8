"""leaf.py FILE N [FILTER]: per-op ns by leaf function (and by the first frame matching FILTER's caller chain)"""
import sys, collections
sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "../s28"))
import stacks as S
path, n = sys.argv[1], int(sys.argv[2]); flt = sys.argv[3] if len(sys.argv) > 3 else None
leaf, incl = collections.Counter(), collections.Counter()
for cur, st in S.samples(path):
    if not cur.startswith('shard'): continue
    if flt and not any(flt in f for f in st): continue
    leaf[st[0][:110]] += 1
    for f in set(st): incl[f[:110]] += 1
print("leaf:")
for k, v in leaf.most_common(30): print(f"{v*250e3/n:7.1f} {k}")
print("inclusive:")
for k, v in incl.most_common(45): print(f"{v*250e3/n:7.1f} {k}")
