#!/usr/bin/env python3
"""Attach time per binary (issue 5): how long `pymac record` takes from its
start until it says it is tracing, which covers reading the interpreter's
ELF and DWARF (with debug info: every inlined copy of the allocator and of
_Py_Dealloc) and attaching every probe. Prints min/median/max over runs and
the number of probes. Then the stop time (issue 21: `q` in the live view
took about 2 s): SIGTERM to exit of `pymac record` on a running command,
which is mostly closing the probes' links, with the links pymac makes by
default (uprobe_multi) and with PYMAC_UPROBE_LINKS=perf (one perf-event
link per site, as before). Usage: attach.py PYMAC [RUNS]"""
import os
import re
import signal
import statistics
import subprocess
import sys
import time

PYTHONS = [("Debian python3.11 (+ python3.11-dbg when installed)", "/usr/bin/python3.11"),
           ("pyenv 3.11.7", "/root/.pyenv/versions/3.11.7/bin/python3.11")]


def once(pymac, py):
    t0 = time.monotonic()
    proc = subprocess.Popen([pymac, "record", "-o", "-", "--", py, "-c", "pass"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    probes, t = None, None
    for line in proc.stderr:
        m = re.search(r"tracing .*?, (\d+) probes attached", line)
        if m and t is None:
            t = time.monotonic() - t0
            probes = int(m.group(1))
    proc.wait()
    return t, probes


LOOP = "import time\nwhile True:\n    x = [{} for i in range(100)]\n    time.sleep(0.01)\n"


def stop_once(pymac, py, links):
    env = dict(os.environ)
    if links:
        env["PYMAC_UPROBE_LINKS"] = links
    proc = subprocess.Popen([pymac, "record", "-o", "-", "--", py, "-c", LOOP], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if re.search(r"tracing .*probes attached", line):
            break
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.stderr.read()
    proc.wait()
    return time.monotonic() - t0


def main():
    pymac = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print("attach time: `pymac record -- PYTHON -c pass` start to its 'tracing' line, %d runs" % runs)
    for label, py in PYTHONS:
        res = [once(pymac, py) for _ in range(runs)]
        ts = sorted(t for t, _ in res if t is not None)
        if not ts:
            print("  %s: no 'tracing' line" % label)
            continue
        print("  %-52s min %.2f  median %.2f  max %.2f s, %s probes" % (
            label, ts[0], statistics.median(ts), ts[-1], res[0][1]))
    print("stop time: SIGTERM to exit of `pymac record -- PYTHON -c LOOP`, %d runs" % runs)
    for label, py in PYTHONS:
        for links, name in ((None, "uprobe_multi links"), ("perf", "PYMAC_UPROBE_LINKS=perf")):
            ts = sorted(stop_once(pymac, py, links) for _ in range(runs))
            print("  %-30s %-24s min %.2f  median %.2f  max %.2f s" % (
                label[:30], name, ts[0], statistics.median(ts), ts[-1]))


if __name__ == "__main__":
    main()
