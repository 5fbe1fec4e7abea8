import os, mmap, time, threading, sys
path='/var/tmp/dsync.t'
fd=os.open(path, os.O_RDWR|os.O_CREAT|os.O_DIRECT|os.O_DSYNC, 0o644)
os.posix_fallocate(fd, 0, 256<<20)
# write it once so the extents are written (as the WAL's zero fill makes them)
z=mmap.mmap(-1, 1<<20)
for off in range(0, 256<<20, 1<<20): os.pwrite(fd, z, off)
def run(bs, qd, secs=2.0):
    buf=mmap.mmap(-1, bs); buf.write(b'x'*bs)
    n=[0]*qd; lat=[0.0]*qd
    stop=time.time()+secs
    def w(i):
        off=i*bs
        while time.time()<stop:
            t=time.perf_counter(); os.pwrite(fd, buf, off % (200<<20)); lat[i]+=time.perf_counter()-t; n[i]+=1; off+=qd*bs
    ts=[threading.Thread(target=w,args=(i,)) for i in range(qd)]
    [t.start() for t in ts]; [t.join() for t in ts]
    tot=sum(n); print(f"bs {bs>>10}k qd {qd}: {tot/secs:.0f} writes/s, mean lat {1e6*sum(lat)/tot:.0f} us")
for bs in (4096, 65536, 262144):
    for qd in (1,2,4):
        run(bs,qd)
os.close(fd); os.unlink(path)
