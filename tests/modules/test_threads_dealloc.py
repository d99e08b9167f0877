"""Objects of one class made and dropped by four threads at once.

Demonstrates: deallocation on several threads. Each of four threads makes
and drops K instances of PymacThreadObject (K is argv[1], default 5000), one
at a time. On the free-threaded build (3.13t) each object is owned by the
thread that made it, and its count is split into a local and a shared part;
it is freed all the same, on whichever thread drops it last.

What a pymac trace should show: 4K py_dealloc events with type_name
"PymacThreadObject" for this pid.
"""

import sys
import threading


class PymacThreadObject:
    __slots__ = ("serial",)

    def __init__(self, serial):
        self.serial = serial


def churn(k):
    total = 0
    for i in range(k):
        obj = PymacThreadObject(i)
        total += obj.serial
        obj = None
    return total


k = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
threads = [threading.Thread(target=churn, args=(k,)) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("4 threads made and dropped %d PymacThreadObject instances each" % k)
