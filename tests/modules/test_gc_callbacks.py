"""Watch every collection through gc.callbacks, and let pymac watch too.

Demonstrates: CPython's collector as its own callbacks see it. A callback is
registered first; the module then makes cyclic garbage (with lowered
thresholds, so automatic collections happen in generations 0, 1 and 2, and a
few survivors reach the oldest generation), calls gc.collect(0), (1), (2),
and unregisters the callback. Every collection is printed afterwards.

Uncollectable garbage: objects with a legacy finalizer (tp_del, which only C
types have) in a cycle are never freed; the collector moves them to
gc.garbage and counts them as uncollectable. Where the interpreter ships its
C test module (_testcapi.with_tp_del gives a class such a finalizer), the
last explicit collection finds a few of those.

What a pymac trace should show: for this pid, the gc_done events contain,
as one contiguous run in the same order, exactly the collections printed
here, with the same generation, and gc_done.collected equal to
collected + uncollectable from the callback. (Start-up and shutdown may
run collections the callback never sees; those lie outside the run.)

If the environment variable PYMAC_GC_LOG is set, the list of collections
is also written there as JSON: [{"generation": g, "collected": c,
"uncollectable": u}, ...], one entry per "stop" phase, in order.
"""

import gc
import json
import os
import sys

seen = []


def on_gc(phase, info):
    # Keep the callback minimal: no I/O while the collector is running.
    if phase == "stop":
        seen.append((info["generation"], info["collected"], info["uncollectable"]))


gc.callbacks.append(on_gc)


class Cell:
    def __init__(self, value):
        self.value = value
        self.peer = None


def cyclic_garbage(n):
    for i in range(n):
        a = Cell(i)
        b = Cell(i + 1)
        a.peer = b
        b.peer = a


old_thresholds = gc.get_threshold()
# Low thresholds so that a small workload triggers collections of every
# generation automatically, not just explicitly.
gc.set_threshold(100, 3, 3)
survivors = []
for round_no in range(40):
    cyclic_garbage(200)
    # Objects that live on make the oldest generation grow, which is what
    # lets the collector schedule automatic full collections.
    survivors.append([Cell(round_no) for _ in range(50)])
gc.set_threshold(*old_thresholds)
automatic = len(seen)

for generation in (0, 1, 2):
    cyclic_garbage(50)
    gc.collect(generation)

try:
    import _testcapi

    class Legacy:
        def __tp_del__(self):
            pass

    Legacy = _testcapi.with_tp_del(Legacy)
except (ImportError, AttributeError):
    Legacy = None
if Legacy is not None:
    for i in range(3):
        a, b = Legacy(), Legacy()
        a.peer, b.peer = b, a
    del a, b
    cyclic_garbage(10)
    gc.collect()

gc.callbacks.remove(on_gc)

by_generation = [0, 0, 0]
for generation, collected, uncollectable in seen:
    by_generation[generation] += 1
for index, (generation, collected, uncollectable) in enumerate(seen):
    how = "automatic" if index < automatic else "explicit"
    print("collection %3d: %-9s generation %d collected %d uncollectable %d"
          % (index, how, generation, collected, uncollectable))
print("collections by generation:", by_generation)

log_path = os.environ.get("PYMAC_GC_LOG")
if log_path:
    with open(log_path, "w") as f:
        json.dump([{"generation": g, "collected": c, "uncollectable": u}
                   for g, c, u in seen], f)
        f.write("\n")
sys.stdout.flush()
