"""Reference counting frees an object the moment its last reference goes.

Demonstrates: sys.getrefcount as references are added and removed, and
deallocation happening immediately at `del` (seen through __del__ and
weakref.finalize) with the cyclic collector switched off, so it cannot be
the collector doing it.

What a pymac trace should show: for this pid, a py_dealloc of "Counted"
right at each del (in program order with the prints, no gc_start around
it), and no gc_start/gc_done at all between gc.disable() and the end of the
module (collections at interpreter shutdown may follow).
"""

import gc
import sys
import weakref

events = []


class Counted:
    def __init__(self, name):
        self.name = name

    def __del__(self):
        events.append("__del__ " + self.name)


gc.disable()

obj = Counted("first")
base = sys.getrefcount(obj)
print("refcount of a fresh object (getrefcount adds its own):", base)
alias = obj
holder = [obj, obj]
print("after one alias and two list slots:", sys.getrefcount(obj),
      "(+%d)" % (sys.getrefcount(obj) - base))
del holder
print("after dropping the list:", sys.getrefcount(obj))
del alias
print("after dropping the alias:", sys.getrefcount(obj))

weakref.finalize(obj, events.append, "finalize first")
events.append("before del")
del obj
events.append("after del")
print("order of events:", events)
assert events.index("__del__ first") < events.index("after del"), events
assert events.index("finalize first") < events.index("after del"), events

second = Counted("second")
events.clear()
second = None  # rebinding drops the last reference just like del
print("rebinding to None:", events)
assert events == ["__del__ second"], events
gc.enable()
print("freed at once, no collection needed")
