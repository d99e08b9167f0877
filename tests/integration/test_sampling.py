"""--sample-duty: the allocation probes are armed only in windows, their
counts are scaled and marked as estimates, and GC stays exact.

The workload forks a child that does the same work every millisecond for a
fixed number of ticks and logs every collection it sees (gc.callbacks), so
the child's counts cover its steady work only, and its life in the trace is
the time they cover. Rates (events per second of the child's life) are the
honest comparison between a full and a sampled run: the probes slow the
work down wherever they are armed, so counts differ between the modes while
the rate of events in armed time does not.
"""

import json
import os
import subprocess
import time

import pytest

from conftest import (
    PYMAC,
    RECORD_TIMEOUT,
    run_replay,
    summary,
    tail,
)
from test_faults import bpf_ids, links_left

PYENV_311 = "/root/.pyenv/versions/3.11.7/bin/python3.11"

WORKLOAD = r'''
import gc, json, os, sys, time

log_path, ticks = sys.argv[1], int(sys.argv[2])
pid = os.fork()
if pid:
    _, st = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(st))

seen = []
def on_gc(phase, info):
    if phase == "stop":
        seen.append(info["generation"])
gc.callbacks.append(on_gc)
keep = []
t0 = time.monotonic()
for t in range(ticks):
    start = time.monotonic()
    for i in range(20):
        d = {"a": i, "b": str(i) * 3}
        l = [d, (i, str(i + 1))]
        keep.append(l)
    if len(keep) > 400:
        del keep[:200]
    rest = 0.001 - (time.monotonic() - start)
    if rest > 0:
        time.sleep(rest)
wall = time.monotonic() - t0
gc.callbacks.remove(on_gc)
with open(log_path, "w") as f:
    json.dump({"wall": wall, "collections": seen, "pid": os.getpid()}, f)
sys.stdout.flush()
os._exit(0)
'''

TICKS = 2000
SAMPLED = ("py_malloc", "py_calloc", "py_realloc", "py_free", "py_dealloc", "malloc", "calloc", "realloc", "free")


def run_workload(pymac, tmp_path, name, extra):
    """Record the workload; returns (summary json, text summary, gc log,
    stderr), and checks that no link of pymac survives it."""
    script = tmp_path / "steady.py"
    script.write_text(WORKLOAD)
    trace = tmp_path / (name + ".pmt")
    log = tmp_path / (name + "-gc.json")
    args = [pymac, "record", "-o", str(trace)] + list(extra) + ["--", PYENV_311, str(script), str(log), str(TICKS)]
    start = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, start_new_session=True)
    # the links come and go with the windows: collect every id seen
    progs, links = set(), set()
    while proc.poll() is None and time.monotonic() - start < RECORD_TIMEOUT:
        try:
            p, l = bpf_ids(proc.pid)
            progs |= p
            links |= l
        except OSError:
            pass
        time.sleep(0.02)
    try:
        out, err = proc.communicate(timeout=max(1, RECORD_TIMEOUT - (time.monotonic() - start)))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        pytest.fail("pymac record did not finish: %s" % tail(err))
    assert proc.returncode == 0, "exit %d: %s" % (proc.returncode, tail(err))
    assert progs and links, "never saw pymac's BPF objects"
    assert links_left(progs, links) == [], "pymac's BPF links outlive it (%s)" % name
    summ = summary(pymac, trace)
    text = run_replay(pymac, trace, "--summary")
    assert text.returncode == 0, tail(text.stderr)
    gclog = json.loads(log.read_text())
    return summ, text.stdout, gclog, err


def child(summ, gclog):
    for p in summ["processes"]:
        if p["pid"] == gclog["pid"]:
            return p
    pytest.fail("the workload's child %d is not in the summary" % gclog["pid"])


def check_gc_exact(proc, gclog, what):
    want = gclog["collections"]
    got = proc["gc"]["by_generation"]
    assert proc["gc"]["collections"] >= len(want), (what, proc["gc"], len(want))
    # the child's collections after the callback was registered: every
    # generation at least as often as the log says, and at most the few
    # made between fork and registration more
    for g in range(3):
        n = sum(1 for x in want if x == g)
        assert n <= got[g] <= n + 2, "%s: gen%d %d collections, the interpreter saw %d" % (what, g, got[g], n)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    require_interp_path()
    if os.geteuid() != 0:
        pytest.skip("needs root for BPF")
    tmp = tmp_path_factory.mktemp("sampling-full")
    summ, text, gclog, err = run_workload(str(PYMAC), tmp, "full", [])
    return summ, text, gclog


def require_interp_path():
    if not os.access(PYENV_311, os.X_OK):
        pytest.skip("%s is not installed" % PYENV_311)


@pytest.mark.parametrize("duty,period", [("10%", "0.2"), ("2%", "0.5")])
def test_sampled_rates_match_full(pymac, tmp_path, full_run, duty, period):
    fsumm, ftext, fgc = full_run
    ssumm, stext, sgc, serr = run_workload(pymac, tmp_path, "sampled", ["--sample-duty", duty, "--sample-period", period])

    # said on stderr and in the summary
    assert "sampling" in serr and "estimates" in serr, tail(serr)
    assert "sampled" in stext and "estimate" in stext, stext[:2000]
    assert "exact" in stext, stext[:2000]
    samp = ssumm.get("sampling")
    assert samp, "no sampling object in the JSON summary"
    want_duty = float(duty.rstrip("%")) / 100
    assert abs(samp["duty"] - want_duty) < 1e-9, samp
    assert samp["windows"] >= 3, samp
    assert samp["armed_ns"] > 0 and samp["scale"] > 1, samp
    # the armed share is about the duty asked for (windows land at random
    # and the last may be cut short)
    share = samp["armed_ns"] / ssumm["trace"]["duration_ns"]
    assert want_duty * 0.4 < share < want_duty * 2.5, (share, samp)
    assert "sampling" not in fsumm, "a full trace says it is sampled"

    fp, sp = child(fsumm, fgc), child(ssumm, sgc)
    assert "estimated_counts" in sp and sp["estimated_counts"], sp.keys()
    assert set(sp["estimated_counts"]) == set(SAMPLED), sp["estimated_counts"]
    ps = sp["sampling"]
    assert ps["scale"] and ps["scale"] > 1, ps

    # rates: events per second of the child's life
    flife = (fp["sampling"]["life_ns"] / 1e9) if "sampling" in fp else None
    slife = ps["life_ns"] / 1e9
    assert slife > 0.5, ps
    if flife is None:
        # a full trace has no sampling object: the child's life is its wall
        # time plus its fork and exit, near enough
        flife = fgc["wall"]
    frate = fp["counts"]["py_free"] / flife
    srate = sp["estimated_counts"]["py_free"] / slife
    fm = fp["counts"]["py_malloc"] / flife
    sm = sp["estimated_counts"]["py_malloc"] / slife
    detail = "py_free %.0f/s full, %.0f/s sampled estimate; py_malloc %.0f/s full, %.0f/s sampled; scale %.2f" % (frate, srate, fm, sm, ps["scale"])
    print(duty, detail, "wall %.2f s sampled, %.2f s full" % (sgc["wall"], fgc["wall"]))
    assert frate > 0 and srate > 0, detail
    # Measured (pyenv 3.11.7, 2 busy cores): the sampled rate runs 10-40%
    # above the full one at 10% (armed windows trap once per allocation,
    # full mode twice with its uretprobe, and its consumer competes for
    # the CPU), and scatters more with 2% of a short run (few windows).
    # py_free is compared: it is probed at its entry in both modes. The
    # py_malloc rates are not asserted yet: full mode reports an allocation
    # at its uretprobe and a window at its entry, and the two have been
    # seen to disagree by 1.3-2.5x (py_malloc/py_free itself moved between
    # 0.3 and 1 in full mode, and 1 and 2.1 in windows, from run to run).
    lo, hi = (0.65, 1.6) if duty == "10%" else (0.5, 2.5)
    assert lo <= srate / frate <= hi, detail
    assert sp["estimated_counts"]["py_malloc"] > 0, detail

    # GC is exact in both
    check_gc_exact(fp, fgc, "full")
    check_gc_exact(sp, sgc, "sampled " + duty)

    # the work runs faster when the probes are armed only part of the time
    assert sgc["wall"] < fgc["wall"], "sampled wall %.2f s, full %.2f s" % (sgc["wall"], fgc["wall"])


def test_sample_duty_rejects_bad_values(pymac):
    for bad in ("0", "0%", "100%", "1", "abc", "5%%"):
        res = subprocess.run([pymac, "record", "-o", "/tmp/x.pmt", "--sample-duty", bad, "--", "true"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=20)
        assert res.returncode not in (0, 1), (bad, res.returncode, res.stderr)
        assert "sample-duty" in res.stderr, (bad, res.stderr)
    res = subprocess.run([pymac, "record", "-o", "/tmp/x.pmt", "--mode", "footprint", "--sample-duty", "5%", "--", "true"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=20)
    assert res.returncode not in (0, 1) and "sample-duty" in res.stderr, res.stderr
    res = subprocess.run([pymac, "record", "-o", "/tmp/x.pmt", "--sample-duty", "0.1%", "--sample-period", "1", "--", "true"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=20)
    assert res.returncode not in (0, 1) and "too short" in res.stderr, res.stderr
