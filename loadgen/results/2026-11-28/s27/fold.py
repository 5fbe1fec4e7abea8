import sys, collections
# usage: perf script -i X | python3 fold.py FILTER  -> self-symbol counts among samples whose stack contains FILTER
filt = sys.argv[1] if len(sys.argv) > 1 else ''
tot = 0; hit = 0; c = collections.Counter(); stack = []
def done():
    global tot, hit
    if not stack: return
    tot += 1
    if filt in ' '.join(stack):
        hit += 1; c[stack[0]] += 1
for line in sys.stdin:
    line = line.rstrip()
    if not line:
        done(); stack = []; continue
    if line.startswith('\t') or line.startswith(' '):
        parts = line.strip().split(' ', 1)
        if len(parts) == 2:
            s = parts[1].rsplit(" (", 1)[0].split("+0x")[0]
            stack.append(s[:110])
    else:
        stack = []
done()
print(f"samples {tot}, with '{filt}': {hit} ({100*hit/max(tot,1):.1f}%)")
for s, n in c.most_common(int(sys.argv[2]) if len(sys.argv) > 2 else 30):
    print(f"{100*n/tot:6.2f}%  {s}")
