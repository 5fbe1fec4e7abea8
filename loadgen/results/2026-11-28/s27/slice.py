import ctypes, struct, sys, os
# slice.py PID NS: set SCHED_OTHER custom slice (sched_runtime) on every thread of PID
libc = ctypes.CDLL(None, use_errno=True)
pid, ns = int(sys.argv[1]), int(sys.argv[2])
for tid in os.listdir(f'/proc/{pid}/task'):
    comm = open(f'/proc/{pid}/task/{tid}/comm').read().strip()
    if len(sys.argv) > 3 and sys.argv[3] not in comm: continue
    attr = struct.pack('IIQiIQQQII', 56, 0, 0, 0, 0, ns, 0, 0, 0, 0)
    buf = ctypes.create_string_buffer(attr, 56)
    r = libc.syscall(314, int(tid), buf, 0)
    print(tid, comm, 'ok' if r == 0 else f'err {ctypes.get_errno()}')
