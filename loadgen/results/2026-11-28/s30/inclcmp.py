"""inclcmp.py A.txt NA B.txt NB: per-op ns by nearest ringkv frame (inclusive of callees outside ringkv), A vs B"""
import sys, collections
import os
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 's28'))
import stacks as S  # noqa: E402 (session 28's, importable)
a, na, b, nb = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ca, cb = collections.Counter(), collections.Counter()
for p, c in ((a, ca), (b, cb)):
    for st in S.stacks(p):
        c[S.nearest([S.sym(s) for s in st], 90)] += 1
rows = sorted(set(ca) | set(cb), key=lambda x: -abs(cb[x]*250e3/nb - ca[x]*250e3/na))
for x in rows[:25]:
    print(f"{ca[x]*250e3/na:7.1f} {cb[x]*250e3/nb:7.1f} {x}")
