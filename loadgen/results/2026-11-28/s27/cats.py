import sys, collections
# categorize samples by stack content; print samples per category (per-op: divide by N)
cats = [
 ('wal_commit', ['Wal<D>::commit', 'write_group']),
 ('wal_fill', ['zero_ahead', 'write_zeros', 'wal_fill_loop']),
 ('wal_release', ['Wal<D>::release']),
 ('flush', ['flush_oldest', 'flush_loop']),
 ('compact', ['compact']),
 ('send', ['sys_sendto', 'send_syscall']),
 ('recv', ['sys_recvfrom', 'recv_syscall']),
 ('irq', ['asm_common_interrupt', 'asm_sysvec']),
 ('uring_enter', ['io_uring_enter']),
 ('membarrier', ['membarrier']),
 ('pagefault', ['exc_page_fault']),
 ('write_start', ['write_start']),
 ('parse', ['parse_command', 'Frame::head', 'Command::parse']),
 ('conn_other', ['resp_conn', 'Connections::track']),
 ('executor', ['glommio::']),
]
f = sys.argv[1]; n = int(sys.argv[2])
c = collections.Counter(); stack = []; tot = 0; comm = None
def done():
    global tot
    if not stack: return
    tot += 1
    j = ' '.join(stack)
    for name, keys in cats:
        if any(k in j for k in keys):
            c[name] += 1; return
    c['other:' + (comm or '?')] += 1
for line in open(f):
    line = line.rstrip('\n')
    if not line.strip():
        done(); stack = []; continue
    if line[0] in ' \t':
        stack.append(line.strip())
    else:
        comm = line.split()[0]; stack = []
done()
# cpu-clock samples: default 4000 Hz -> 250 us each
for k, v in sorted(c.items(), key=lambda x: -x[1]):
    print(f"{k:28s} {v:6d} {v*250e3/n:8.0f} ns/op")
print(f"{'total':28s} {tot:6d} {tot*250e3/n:8.0f} ns/op")
