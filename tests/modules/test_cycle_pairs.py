"""Many reference cycles, freed only by the collector.

Demonstrates: N pairs of objects that point at each other (argv[1],
default 5000) are dropped with automatic collection off, so none is freed
by reference counting; one gc.collect() then frees all 2N of them, through
the collector's own path (tp_clear, then each object's tp_dealloc), not
through the bytecode's decrefs.

What a pymac trace should show: exactly 2N deallocations of "Node" for this
pid, all inside the one generation-2 collection (gc_done's collected counts
them too).
"""

import gc
import sys


class Node:
    pass


def make(n):
    for _ in range(n):
        a, b = Node(), Node()
        a.other, b.other = b, a


n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
gc.disable()
gc.collect()
make(n)
found = gc.collect()
print("gc.collect() found", found, "unreachable objects")
assert found >= 2 * n, (found, n)
