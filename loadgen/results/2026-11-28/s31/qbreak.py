"""qbreak.py FILE N: samples with no ringkv frame, by thread and by outermost meaningful frame, ns per op"""
import sys, collections, re
import os
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 's28'))
import stacks as S  # noqa: E402 (session 28's, importable)
path, n = sys.argv[1], int(sys.argv[2])
comm = collections.Counter(); outer = collections.Counter()
cur = None; st = []
def done():
    if not st: return
    syms = [S.sym(s) for s in st]
    if any('ringkv::' in s for s in syms): return
    comm[cur] += 1
    ks = [s.replace(' ([kernel.kallsyms])','') for s in syms]
    key = next((s for s in ks if 'glommio' in s), None) or ' <- '.join(k[:30] for k in ks[-6:-1])
    outer[cur[:12] + ' | ' + key[:150]] += 1
for line in open(path):
    line = line.rstrip('\n')
    if not line.strip():
        done(); st = []
    elif line[0] in ' \t':
        st.append(line.strip())
    else:
        cur = re.sub(r'\s+\d+\s+\[.*', '', line).strip(); st = []
done()
for k, v in comm.most_common(8): print(f"{v*250e3/n:7.1f} {k}")
print()
for k, v in outer.most_common(22): print(f"{v*250e3/n:7.1f} {k}")
