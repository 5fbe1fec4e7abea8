import sys, collections
# usage: perf script -i X | python3 fold.py FILTER [N]
#          self-symbol counts among samples whose stack contains FILTER (top N, default 30)
#        perf script -i X | python3 fold.py --user FILTER [DEPTH]
#          the same samples counted by their first DEPTH (default 1) frames from the leaf in
#          user code (ringkv, glommio::, mi_, alloc::), joined by ' <- ' (top 25)
args = sys.argv[1:]
user = bool(args) and args[0] == '--user'
if user:
    args = args[1:]
filt = args[0] if args else ''
num = int(args[1]) if len(args) > 1 else (1 if user else 30)
width = 100 if user else 110
tot = 0; hit = 0; c = collections.Counter(); stack = []
def done():
    global tot, hit
    if not stack: return
    tot += 1
    if user:
        if any(filt in s for s in stack):
            hit += 1
            frames = [s for s in stack if ('ringkv' in s or 'glommio::' in s or 'mi_' in s or 'alloc::' in s)]
            c[' <- '.join(frames[:num]) if frames else '?'] += 1
    elif filt in ' '.join(stack):
        hit += 1; c[stack[0]] += 1
for line in sys.stdin:
    line = line.rstrip()
    if not line:
        done(); stack = []; continue
    if line.startswith('\t') or line.startswith(' '):
        parts = line.strip().split(' ', 1)
        if len(parts) == 2:
            stack.append(parts[1].rsplit(" (", 1)[0].split("+0x")[0][:width])
    else:
        stack = []
done()
print(f"samples {tot}, with '{filt}': {hit} ({100*hit/max(tot,1):.1f}%)")
for s, n in c.most_common(25 if user else num):
    print(f"{100*n/tot:6.2f}%  {s}")
