"""A reference cycle outlives `del`; only the cyclic collector frees it.

Demonstrates: two objects that refer to each other keep each other's
reference count above zero, so deleting the last outside name does not free
them. A weakref shows they are still alive after `del`, and dead right after
gc.collect(). Automatic collection is disabled so the moment of death is
exactly the explicit call.

What a pymac trace should show: for this pid, no py_dealloc of "Partner"
between the del and the collection, then a generation-2 gc_start, the two
"Partner" py_dealloc events (and their instance dicts, on Pythons that
still allocate them), and gc_done with collected >= 2.
"""

import gc
import weakref


class Partner:
    def __init__(self, name):
        self.name = name
        self.partner = None


gc.disable()
gc.collect()

alice = Partner("alice")
bob = Partner("bob")
alice.partner = bob
bob.partner = alice
watch = [weakref.ref(alice), weakref.ref(bob)]

del alice, bob
alive_after_del = [r() is not None for r in watch]
print("alive after del:", alive_after_del)

found = gc.collect()
alive_after_collect = [r() is not None for r in watch]
print("gc.collect() found", found, "unreachable objects")
print("alive after gc.collect():", alive_after_collect)
gc.enable()

assert alive_after_del == [True, True], alive_after_del
assert alive_after_collect == [False, False], alive_after_collect
print("cycle freed by the collector, not by del")
