#!/usr/bin/env python3
"""Issue 6 figures: (1) ns per traced event with the entry probe vs the
chooser's site on pyenv 3.11.7; (2) the loop time of an untraced process
of the same interpreter while pymac traces another one with -p, with and
without the pid filter. Usage: issue6_integration.py PYMAC [RUNS]"""

import json, os, subprocess, sys, tempfile, time, statistics

PY = "/root/.pyenv/versions/3.11.7/bin/python3.11"
N = 20000
# allocates and frees one list object per iteration through PyObject_Malloc/Free
LOOP = r"""
import sys, time
n = int(sys.argv[1]); reps = int(sys.argv[2])
for _ in range(reps):
    t = time.perf_counter()
    for i in range(n):
        x = [i, i]
        del x
    print("%.6f" % (time.perf_counter() - t), flush=True)
"""
SLEEPER = "import time\nwhile True: time.sleep(0.05)\n"


def loop_times(env=None, pymac=None, trace=None, reps=3):
    cmd = [PY, "-S", "-c", LOOP, str(N), str(reps)]
    if pymac:
        cmd = [pymac, "record", "-q", "--probes", "pymalloc", "-o", trace, "--"] + cmd
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    return [float(l) for l in out.stdout.split() if l.strip()]


def per_event(pymac, runs):
    base = min(min(loop_times(reps=3)) for _ in range(runs))
    res = {}
    for mode in ("entry", "chosen"):
        env = dict(os.environ)
        if mode == "entry":
            env["PYMAC_PROBE_SITES"] = "entry"
        vals = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as d:
                tr = os.path.join(d, "t.pmt")
                vals.append(min(loop_times(env, pymac, tr, reps=3)))
        # per iteration: one PyObject_Malloc (entry+uretprobe) and one PyObject_Free
        res[mode] = [(v - base) / N * 1e9 for v in vals]
    return base, res


def untraced_slowdown(pymac, runs):
    res = {}
    for mode in ("no pymac", "pymac -p --pid-filter", "pymac -p (default: shared uprobes, as container targets)"):
        a = subprocess.Popen([PY, "-c", SLEEPER])
        rec = None
        try:
            if mode != "no pymac":
                env = dict(os.environ)
                extra = ["--pid-filter"] if "--pid-filter" in mode else []
                rec = subprocess.Popen([pymac, "record", "--probes", "pymalloc,dealloc", "-o", "-", "-p", str(a.pid)] + extra,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True, env=env)
                while not rec.stderr.readline().startswith("pymac: tracing"):
                    pass
            vals = []
            for _ in range(runs):
                vals.append(min(loop_times(reps=3)))
            res[mode] = vals
        finally:
            if rec:
                rec.terminate(); rec.wait()
            a.terminate(); a.wait()
    return res


def fmt(v):
    return "%s / %s / %s" % tuple("{:,.0f}".format(x) for x in (min(v), statistics.median(v), max(v)))


if __name__ == "__main__":
    pymac = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print("machine:", os.uname().release, open("/proc/loadavg").read().split()[:3])
    base, r = per_event(pymac, runs)
    print("untraced loop of %d iterations: %.4f s" % (N, base))
    for k, v in r.items():
        print("ns per iteration (malloc entry+return, free) %-7s min/median/max: %s" % (k, fmt(v)))
    s = untraced_slowdown(pymac, runs)
    for k, v in s.items():
        print("untraced process, %d iterations, %-52s s min/median/max: %.4f / %.4f / %.4f" % (N, k, min(v), statistics.median(v), max(v)))
