#!/usr/bin/env python3
"""Where the time of a WAL group commit goes, from a system-wide perf trace.

Record while a server runs a durable load (as root):
  perf record -e block:block_rq_issue,block:block_rq_complete,io_uring:io_uring_submit_req,io_uring:io_uring_complete -a -o blk.data -- sleep 3
  perf script -i blk.data | loadgen/scripts/commit-trace.py

Each group commit is an io_uring WRITE_FIXED (the WAL's O_DSYNC direct write).
It is paired with the first block write (WS) the shard thread issues after it
(the WAL's zero fill is written by io_uring workers) and with the next
completion of its user_data; the last block request to complete before that
completion (the flush, on a device without FUA) ends its device time.
Prints percentiles of: submit -> block issue, block issue -> last block
completion, that -> io_uring completion, submit -> completion, and
completion -> the next group commit's submit. docs/benchmarks.md, seventh pass.
"""
import re
import sys

sub, pending = {}, []
last_blk_done = last_cqe = None
rows = {k: [] for k in ("submit -> block issue", "block issue -> last block done",
                        "block done -> io_uring completion", "submit -> completion",
                        "completion -> next submit")}
sizes = []


def request_key(line):
    """Newer kernels print `req (nil)` at completion: pair by user_data then."""
    return re.search(r"user_data (0x[0-9a-f]+)", line).group(1)


for line in sys.stdin:
    m = re.search(r"\s(\d+\.\d+):\s+(\S+):", line)
    if not m:
        continue
    t, ev = float(m.group(1)), m.group(2)
    if ev == "io_uring:io_uring_submit_req" and "WRITE_FIXED" in line:
        req = request_key(line)
        sub[req] = [t, None]
        pending.append(req)
        if last_cqe is not None:
            rows["completion -> next submit"].append(t - last_cqe)
    elif ev == "block:block_rq_issue" and " WS " in line and "[shard-" in line:
        mm = re.search(r" WS (\d+) ", line)
        if mm and int(mm.group(1)) > 0 and pending:
            sub[pending.pop(0)][1] = t
            sizes.append(int(mm.group(1)))
    elif ev == "block:block_rq_complete":
        last_blk_done = t
    elif ev == "io_uring:io_uring_complete":
        req = request_key(line)
        if req in pending:
            pending.remove(req)
        if req in sub and sub[req][1] is not None and last_blk_done is not None:
            s, i = sub.pop(req)
            rows["submit -> block issue"].append(i - s)
            rows["block issue -> last block done"].append(last_blk_done - i)
            rows["block done -> io_uring completion"].append(t - last_blk_done)
            rows["submit -> completion"].append(t - s)
            last_cqe = t


def pct(xs, p):
    return sorted(xs)[min(len(xs) - 1, int(p * len(xs)))] * 1e6


for name, xs in rows.items():
    if xs:
        print(f"{name:34} n={len(xs):6}  p10={pct(xs, .1):6.0f}  p50={pct(xs, .5):6.0f}  p90={pct(xs, .9):6.0f}  p99={pct(xs, .99):6.0f} us")
if sizes:
    print(f"write size p50: {sorted(sizes)[len(sizes) // 2]} bytes")
