import sys,collections,re
# samples whose stack contains KEY: by nearest ringkv frame and leaf; ns/op with N
f,key,n=sys.argv[1],sys.argv[2],int(sys.argv[3])
c=collections.Counter(); l=collections.Counter(); stack=[]
def sym(s):
    p=s.split(None,1); s=p[1] if len(p)>1 else s
    return re.sub(r'\+0x[0-9a-f]+','',s).replace(' (inlined)','').split(' (/')[0]
def done():
    if not stack: return
    if not any(key in s for s in stack): return
    syms=[sym(s) for s in stack]
    rk=next((s for s in syms if 'ringkv::' in s),'?')
    c[rk[:100]]+=1; l[(syms[0][:50]+' <- '+rk[:70])]+=1
for line in open(f):
    line=line.rstrip('\n')
    if not line.strip(): done(); stack.clear(); continue
    if line[0] in ' \t': stack.append(line.strip())
    else: stack.clear()
done()
for k,v in c.most_common(25): print(f"{v*250e3/n:7.0f} ns {k}")
print()
for k,v in l.most_common(25): print(f"{v*250e3/n:7.0f} ns {k}")
