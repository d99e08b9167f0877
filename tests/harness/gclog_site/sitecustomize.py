"""gc.callbacks log of every collection, for `pymac run` modules.

A module run with this directory on PYTHONPATH and PYMAC_GC_LOG_DIR set
leaves $PYMAC_GC_LOG_DIR/<module name without .py>.json, the same log
tests/harness/gclog.py writes: [{"generation", "collected",
"uncollectable"}, ...], one entry per finished collection, written at a
normal exit. The callback is registered while the interpreter imports site,
before the module's first line, so the log is one contiguous run of the
collections a tracer attached from the start sees.

  pymac run test_x.py --test-dir tests/modules \\
      -v $PWD/tests/harness:/harness:ro -v /tmp/gc:/gclog \\
      -e PYTHONPATH=/harness/gclog_site -e PYMAC_GC_LOG_DIR=/gclog
"""

import atexit
import gc
import os
import sys

_dir = os.environ.get("PYMAC_GC_LOG_DIR")
_seen = []


def _on_gc(phase, info):
    # No I/O while the collector runs: only remember.
    if phase == "stop":
        _seen.append((info["generation"], info["collected"], info["uncollectable"]))


def _write_log():
    # Stop first: collections during the dump would change the list.
    if _on_gc in gc.callbacks:
        gc.callbacks.remove(_on_gc)
    import json

    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    if name.endswith(".py"):
        name = name[:-3]
    with open(os.path.join(_dir, name + ".json"), "w") as f:
        json.dump([{"generation": g, "collected": c, "uncollectable": u} for g, c, u in _seen], f)
        f.write("\n")


if _dir:
    gc.callbacks.append(_on_gc)
    atexit.register(_write_log)
