"""selfcmp.py A.txt NA B.txt NB: per-op ns by leaf symbol (self), A vs B, sorted by difference"""
import sys, collections
import os
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 's28'))
import stacks as S  # noqa: E402 (session 28's, importable)
a, na, b, nb = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ca, cb = collections.Counter(), collections.Counter()
for p, c in ((a, ca), (b, cb)):
    for st in S.stacks(p):
        c[S.sym(st[0])[:90]] += 1
k = set(ca) | set(cb)
rows = sorted(k, key=lambda x: -abs(cb[x]*250e3/nb - ca[x]*250e3/na))
print(f"total {sum(ca.values())*250e3/na:.0f} vs {sum(cb.values())*250e3/nb:.0f}")
for x in rows[:30]:
    print(f"{ca[x]*250e3/na:7.1f} {cb[x]*250e3/nb:7.1f} {x}")
