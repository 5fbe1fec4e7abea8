"""Summaries of `perf script` output (cpu-clock at 4000 Hz: 250 us a sample), per operation.

  stacks.py under FILE KEY N    samples whose stack holds KEY, by nearest ringkv frame, then by leaf <- frame
  stacks.py any FILE N KEY...   for each KEY, the samples whose stack holds it; the first KEY's by nearest ringkv frame
"""
import collections
import re
import sys


def sym(s):
    p = s.split(None, 1)
    s = p[1] if len(p) > 1 else s
    return re.sub(r'\+0x[0-9a-f]+', '', s).replace(' (inlined)', '').split(' (/')[0]


def stacks(path):
    stack = []
    for line in open(path):
        line = line.rstrip('\n')
        if not line.strip():
            if stack:
                yield stack
            stack = []
        elif line[0] in ' \t':
            stack.append(line.strip())
        else:
            stack = []
    if stack:
        yield stack


def samples(path):
    """(thread name, stack) per sample; the stack innermost frame first."""
    comm, stack = None, []
    for line in open(path):
        line = line.rstrip('\n')
        if not line.strip():
            if stack:
                yield comm, stack
            stack = []
        elif line[0] in ' \t':
            stack.append(line.strip())
        else:
            comm, stack = re.sub(r'\s+\d+\s+\[.*', '', line).strip().split()[0], []
    if stack:
        yield comm, stack


def nearest(syms, width):
    return next((s for s in syms if 'ringkv::' in s), '?')[:width]


def ns(v, n):
    return v * 250e3 / n


def under(path, key, n):
    by, leaf = collections.Counter(), collections.Counter()
    for st in stacks(path):
        if any(key in s for s in st):
            syms = [sym(s) for s in st]
            by[nearest(syms, 100)] += 1
            leaf[syms[0][:50] + ' <- ' + nearest(syms, 70)] += 1
    for c in (by, leaf):
        for k, v in c.most_common(25):
            print(f"{ns(v, n):7.0f} ns {k}")
        print()


def any_of(path, n, keys):
    c, by, tot = collections.Counter(), collections.Counter(), 0
    for st in stacks(path):
        tot += 1
        j = ' '.join(st)
        for k in keys:
            if k in j:
                c[k] += 1
                if k == keys[0]:
                    by[nearest([sym(s) for s in st], 90)] += 1
    for k in keys:
        print(f"{k}: {ns(c[k], n):.0f} ns/op ({100 * c[k] / max(tot, 1):.1f}%)")
    for k, v in by.most_common(12):
        print(f"   {ns(v, n):6.0f} ns {k}")


if __name__ != '__main__':
    pass
elif sys.argv[1] == 'under':
    under(sys.argv[2], sys.argv[3], int(sys.argv[4]))
else:
    any_of(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
