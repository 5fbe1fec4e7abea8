"""cat.py FILE N: per-op ns by category (first matching rule over the whole stack), and by thread"""
import sys, collections, re
sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "../s28"))
import stacks as S
path, n = sys.argv[1], int(sys.argv[2])
RULES = [('idle', ['do_idle', 'cpu_startup_entry']), ('send', ['sendto', 'sendmsg', 'tcp_sendmsg']), ('recv', ['recvfrom', 'recvmsg', 'tcp_recvmsg', 'sock_read']),
         ('irq/softirq', ['do_softirq', 'irq_exit', 'asm_common_interrupt', 'sysvec_']),
         ('uring', ['io_uring_enter', 'io_submit_sqes']), ('page fault', ['asm_exc_page_fault']),
         ('wal', ['storage::wal']), ('memtable', ['memtable']), ('resp parse', ['resp::parse']), ('resp_conn', ['resp_conn']),
         ('engine', ['storage::engine']), ('glommio', ['glommio'])]
cat, comm = collections.Counter(), collections.Counter()
for cur, st in S.samples(path):
    j = ' '.join(st)
    c = next((name for name, keys in RULES if any(k in j for k in keys)), 'other')
    if not cur.startswith('ringkv') and not cur.startswith('shard') and c != 'idle':
        c = 'thread ' + re.sub(r'[/:]\d.*', '', cur)
    cat[c] += 1; comm[re.sub(r'\d+$', '', cur)] += 1
tot = sum(cat.values())
for k, v in cat.most_common(): print(f"{v*250e3/n:7.1f} {k}")
print(f"{tot*250e3/n:7.1f} total"); print()
for k, v in comm.most_common(8): print(f"{v*250e3/n:7.1f} {k}")
