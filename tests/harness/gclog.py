"""Run a Python module with a gc.callbacks log of every collection it sees.

usage: python3 gclog.py LOG.json MODULE.py [ARGS...]

The callback is registered before the module runs and the log is written
when the interpreter exits normally (atexit), as JSON:
[{"generation": g, "collected": c, "uncollectable": u}, ...], one entry per
finished collection, in order. Collections during interpreter start-up and
final shutdown happen outside the callback's life; a tracer that sees every
collection shows this list as one contiguous run of its own.

The soak test (tests/soak/soak.py) wraps its runs with it so that each
container's collections can be compared with what pymac recorded; modules
that `pymac run` runs get the same log from gclog_site/sitecustomize.py.
"""

import atexit
import gc
import json
import runpy
import sys

log_path, module_path = sys.argv[1], sys.argv[2]
seen = []


def on_gc(phase, info):
    # No I/O while the collector runs: only remember.
    if phase == "stop":
        seen.append((info["generation"], info["collected"], info["uncollectable"]))


def write_log():
    # Stop first: collections during the dump would change the list.
    if on_gc in gc.callbacks:
        gc.callbacks.remove(on_gc)
    with open(log_path, "w") as f:
        json.dump([{"generation": g, "collected": c, "uncollectable": u}
                   for g, c, u in seen], f)
        f.write("\n")


atexit.register(write_log)
gc.callbacks.append(on_gc)
sys.argv = sys.argv[2:]
runpy.run_path(module_path, run_name="__main__")
