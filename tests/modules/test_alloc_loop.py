"""An allocation-heavy loop, optionally held at a FIFO until tracers attach.

Demonstrates: steady PyObject_Malloc/PyObject_Free traffic. Each of the N
iterations (argv[1], default 1000) builds a few small objects (a list, a
tuple, a dict, a str) and drops them again.

If the environment variable PYMAC_WAIT_FIFO names a FIFO, the module first
blocks reading one line from it, so a test can attach pymac (and any other
tracer) to this pid and release the workload only when they are all ready.

What a pymac trace should show: py_malloc/py_free in proportion to N, with
as many py_malloc events as an independent counter of PyObject_Malloc calls
sees for this pid, and no lost events.
"""

import os
import sys


def work(n):
    kept = 0
    for i in range(n):
        items = [i, i + 1, i + 2]
        pair = (items, str(i))
        table = {"k%d" % (i % 7): pair}
        kept += len(table) + len(pair[1])
    return kept


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    fifo = os.environ.get("PYMAC_WAIT_FIFO")
    if fifo:
        with open(fifo) as f:
            f.readline()
    print("alloc loop: %d iterations, checksum %d" % (n, work(n)))


main()
