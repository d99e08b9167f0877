"""What gc.set_debug(gc.DEBUG_LEAK) shows.

Demonstrates: the collector's debugging mode. DEBUG_LEAK is
DEBUG_COLLECTABLE | DEBUG_UNCOLLECTABLE | DEBUG_SAVEALL: every unreachable
object the collector finds is reported on stderr ("gc: collectable <...>")
and, instead of being freed, is appended to gc.garbage, where the program
can inspect it. Here a three-object cycle is made, collected under
DEBUG_LEAK, and then looked at in gc.garbage.

What a pymac trace should show: for this pid, a generation-2 gc_start /
gc_done pair whose collected count includes the cycle, but no py_dealloc of
the "Leaky" objects during that collection (they are kept in gc.garbage);
they are deallocated only later, after gc.garbage is cleared and a second
collection runs with debugging off.
"""

import gc
import sys


class Leaky:
    def __init__(self, name):
        self.name = name
        self.next = None

    def __repr__(self):
        return "Leaky(%r)" % self.name


def make_ring(names):
    nodes = [Leaky(n) for n in names]
    for i, node in enumerate(nodes):
        node.next = nodes[(i + 1) % len(nodes)]


# Start from a clean slate so that only our ring shows up below.
gc.collect()
gc.set_debug(gc.DEBUG_LEAK)
make_ring(["a", "b", "c"])
found = gc.collect()
gc.set_debug(0)
sys.stderr.flush()

leaky = [o for o in gc.garbage if isinstance(o, Leaky)]
print("gc.collect() under DEBUG_LEAK found", found, "unreachable objects")
print("gc.garbage holds", len(gc.garbage), "objects, of them Leaky:",
      sorted(o.name for o in leaky))
print("the ring is intact:", all(o.next.next.next is o for o in leaky))

del leaky
gc.garbage.clear()
print("after clearing gc.garbage, a normal collection frees them:",
      gc.collect(), "unreachable objects")
