import sys, collections
# samples whose stack contains FILTER: count by the first frame (from leaf) matching none of the SKIP prefixes and in user code (ringkv::/glommio::)
filt = sys.argv[1]; depth = int(sys.argv[2]) if len(sys.argv) > 2 else 1
tot = 0; hit = 0; c = collections.Counter(); stack = []
def done():
    global tot, hit
    if not stack: return
    tot += 1
    if any(filt in s for s in stack):
        hit += 1
        user = [s for s in stack if ('ringkv' in s or 'glommio::' in s or 'mi_' in s or 'alloc::' in s)]
        c[' <- '.join(user[:depth]) if user else '?'] += 1
for line in sys.stdin:
    line = line.rstrip()
    if not line:
        done(); stack = []; continue
    if line.startswith('\t') or line.startswith(' '):
        parts = line.strip().split(' ', 1)
        if len(parts) == 2:
            stack.append(parts[1].rsplit(" (", 1)[0].split("+0x")[0][:100])
    else:
        stack = []
done()
print(f"samples {tot}, with '{filt}': {hit} ({100*hit/max(tot,1):.1f}%)")
for s, n in c.most_common(25):
    print(f"{100*n/tot:6.2f}%  {s}")
