#!/usr/bin/env python3
"""pymac benchmarks: print figures, assert nothing about time.

Runs one allocation-heavy workload (tests/modules/test_alloc_loop.py) under a
pyenv CPython build (every allocation goes through the exported functions
there), untraced and traced, several times each, and prints min/median/max of:
  - wall time untraced and traced, and their ratio;
  - added ns per traced event;
  - events per second consumed with zero loss during the traced runs;
  - trace bytes per event;
  - replay decode speed (events/s of `replay --events --format jsonl`).
Usage: bench.py [--runs N] [--iterations N] [--python PATH]
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYMAC = os.path.join(ROOT, ".output", "pymac")
WORKLOAD = os.path.join(ROOT, "tests", "modules", "test_alloc_loop.py")


def default_python():
    found = sorted(glob.glob("/root/.pyenv/versions/3.11.*/bin/python3.11"))
    return found[-1] if found else "/usr/bin/python3.11"


def timed(cmd, **kw):
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.monotonic() - t0


def summary(path):
    out = subprocess.run([PYMAC, "replay", path, "--summary", "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def mmm(values, fmt):
    return "min %s  median %s  max %s" % (fmt % min(values), fmt % statistics.median(values),
                                          fmt % max(values))


def run_case(name, python, iterations, runs, probes, tmp):
    cmd = [python, WORKLOAD, str(iterations)]
    base, traced, ns_per_event, rate, bpe, events = [], [], [], [], [], []
    for i in range(runs):
        base.append(timed(cmd))
        trace = os.path.join(tmp, "%s-%d.pmt" % (name, i))
        rec = [PYMAC, "record", "-q", "-o", trace]
        if probes:
            rec += ["--probes", probes]
        traced.append(timed(rec + ["--"] + cmd, stderr=subprocess.DEVNULL))
        s = summary(trace)
        n = s["trace"]["events"]
        if s["trace"]["lost"]:
            print("  run %d lost %d events" % (i, s["trace"]["lost"]))
        else:
            rate.append(n / traced[-1])
        events.append(n)
        ns_per_event.append((traced[-1] - base[-1]) * 1e9 / max(n, 1))
        bpe.append(os.path.getsize(trace) / max(n, 1))
    ratio = [t / b for t, b in zip(traced, base)]
    print("%s (--probes %s), %d iterations, %d runs, %s" % (name, probes or "all", iterations,
                                                          runs, python))
    print("  events per run           %s" % mmm(events, "%d"))
    print("  untraced wall time (s)   %s" % mmm(base, "%.3f"))
    print("  traced wall time (s)     %s" % mmm(traced, "%.3f"))
    print("  traced/untraced ratio    %s" % mmm(ratio, "%.2f"))
    print("  added ns per event       %s" % mmm(ns_per_event, "%.0f"))
    if rate:
        print("  events/s, zero loss      %s" % mmm(rate, "%.0f"))
    print("  trace bytes per event    %s" % mmm(bpe, "%.2f"))
    return os.path.join(tmp, "%s-0.pmt" % name)


def replay_speed(trace, runs):
    n = summary(trace)["trace"]["events"]
    speeds = []
    for _ in range(runs):
        t = timed([PYMAC, "replay", trace, "--events", "--format", "jsonl"])
        speeds.append(n / t)
    print("replay --events jsonl: %s events/s (%d events)" % (mmm(speeds, "%.0f"), n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=20000)
    ap.add_argument("--python", default=default_python())
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root for BPF", file=sys.stderr)
        return 1
    print("machine: %s, %d cores, kernel %s" % (os.uname().nodename, os.cpu_count(),
                                                os.uname().release))
    with tempfile.TemporaryDirectory() as tmp:
        t = run_case("all-sources", a.python, a.iterations, a.runs, None, tmp)
        run_case("python-only", a.python, a.iterations, a.runs, "pymalloc,dealloc,gc", tmp)
        run_case("gc-only", a.python, a.iterations, a.runs, "gc", tmp)
        replay_speed(t, a.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
