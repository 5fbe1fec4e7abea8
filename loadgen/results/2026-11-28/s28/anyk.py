import sys,collections,re
f,n=sys.argv[1],int(sys.argv[2]); keys=sys.argv[3:]
c=collections.Counter(); stack=[]; tot=0; by=collections.Counter()
def sym(s):
    p=s.split(None,1); s=p[1] if len(p)>1 else s
    return re.sub(r'\+0x[0-9a-f]+','',s).replace(' (inlined)','').split(' (/')[0]
def done():
    global tot
    if not stack: return
    tot+=1
    j=' '.join(stack)
    for k in keys:
        if k in j:
            c[k]+=1
            if k==keys[0]:
                syms=[sym(s) for s in stack]
                rk=next((s for s in syms if 'ringkv::' in s),'?'); by[rk[:90]]+=1
for line in open(f):
    line=line.rstrip('\n')
    if not line.strip(): done(); stack.clear(); continue
    if line[0] in ' \t': stack.append(line.strip())
    else: stack.clear()
done()
for k in keys: print(f"{k}: {c[k]*250e3/n:.0f} ns/op ({100*c[k]/tot:.1f}%)")
for k,v in by.most_common(12): print(f"   {v*250e3/n:6.0f} ns {k}")
