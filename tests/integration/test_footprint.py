"""Footprint mode (`--mode footprint`), for real: BPF on the mmap, munmap,
mremap and brk syscall tracepoints, RSS samples from /proc, real interpreters.

- pymalloc's own arena counters (sys._debugmallocstats) are the reference:
  the arenas pymac saw mapped and released equal them exactly, on pyenv's
  3.11 (1 MiB arenas), pyenv's 3.9 (256 KiB arenas) and Debian's stripped
  LTO python3.11, which needs no symbols or debug info for this;
- no per-object event is recorded, and the summary says which sources are
  off instead of showing zero counts;
- the footprint follows RSS on a workload that grows and shrinks;
- a process of the same interpreter that is not traced gives no event;
- a container traced in footprint mode gets its arenas, RSS and
  collections in its own lane.
"""

import json
import os
import re
import subprocess
import time
import uuid

import pytest

from conftest import (
    docker_image,  # noqa: F401 (fixture)
    events,
    record,
    run_replay,
    sh,
    summary,
    tail,
)

PYENV = "/root/.pyenv/versions"
INTERPS = {
    "pyenv-3.11": PYENV + "/3.11.7/bin/python3.11",
    "pyenv-3.9": PYENV + "/3.9.18/bin/python3.9",
    "debian-3.11": "/usr/bin/python3.11",
}
ARENA = {"pyenv-3.11": 1 << 20, "pyenv-3.9": 256 << 10, "debian-3.11": 1 << 20}

# Builds and frees many arenas, then prints pymalloc's own counters and
# leaves at once, so that finalization maps or frees nothing after them.
ARENAS = """
import gc, os, sys
keep = [[{"i": i, "s": str(i)} for i in range(2000)] for _ in range(150)]
del keep[::2]
more = [[(i, i) for i in range(3000)] for _ in range(50)]
keep = more = None
gc.collect()
sys._debugmallocstats()
sys.stderr.flush()
os._exit(0)
"""

# Grows to ~80 MB of small objects, holds, frees, holds: RSS and the
# footprint both rise and fall.
WAVE = """
import gc, time
time.sleep(0.3)
keep = [[{"i": i} for i in range(1000)] for _ in range(400)]
time.sleep(0.8)
keep = None
gc.collect()
time.sleep(0.8)
"""


def require(path):
    if not os.access(path, os.X_OK):
        pytest.skip("not installed: %s" % path)


def malloc_stat(text, name):
    m = re.search(r"^# %s\s*=\s*([\d,]+)" % re.escape(name), text, re.M)
    assert m, "no '%s' in _debugmallocstats output:\n%s" % (name, tail(text, 60))
    return int(m.group(1).replace(",", ""))


def only_proc(summ, exe):
    procs = [p for p in summ["processes"] if os.path.realpath(p.get("exe") or "") == os.path.realpath(exe)]
    assert len(procs) == 1, [(p["pid"], p["exe"]) for p in summ["processes"]]
    return procs[0]


@pytest.mark.parametrize("which", sorted(INTERPS))
def test_arenas_equal_pymallocs_own_counters(pymac, tmp_path, which):
    exe = INTERPS[which]
    require(exe)
    trace = tmp_path / "fp.pmt"
    rec = record(pymac, trace, [exe, "-c", ARENAS], extra=["--mode", "footprint"])
    assert rec.returncode == 0, rec.describe()
    total = malloc_stat(rec.stderr, "arenas allocated total")
    reclaimed = malloc_stat(rec.stderr, "arenas reclaimed")
    assert total >= 20, "the workload should need many arenas (%d)" % total

    summ = summary(pymac, trace)
    p = only_proc(summ, exe)
    fp = p.get("footprint")
    assert fp, "no footprint in the summary of pid %d: %s" % (p["pid"], p)
    assert fp["arena_size"] == ARENA[which]
    assert fp["arenas_mapped"] == total, (fp, total)
    assert fp["arenas_released"] == reclaimed, (fp, reclaimed)
    assert fp["arena_bytes"] == (total - reclaimed) * ARENA[which], fp
    assert fp["peak_bytes"] >= 20 * ARENA[which]
    assert fp["rss_samples"] >= 1 and fp["rss_peak_bytes"] > fp["arena_bytes"]

    # footprint, and gc, complete; no per-object source at all
    assert p["coverage"]["footprint"] == "complete", p["coverage"]
    for src in ("pymalloc", "dealloc", "libc"):
        assert p["coverage"][src] == "off", p["coverage"]
    for kind in ("py_malloc", "py_free", "py_dealloc", "malloc", "free"):
        assert p["counts"][kind] == 0, p["counts"]
    assert p["counts"]["vm"] >= total + reclaimed

    # the text summary does not present zero allocator counts as a finding
    text = run_replay(pymac, trace).stdout
    assert "py_malloc" not in text, text
    assert re.search(r"footprint\s+now .*peak", text), text
    assert "%d arenas mapped, %d released" % (total, reclaimed) in text, text

    # every vm event is one of the four ops, on an address that was mapped
    evs = events(pymac, trace, pid=p["pid"])
    ops = {e["op"] for e in evs if e["kind"] == "vm"}
    assert ops <= {"mmap", "munmap", "mremap", "brk"}, ops
    arena_maps = [e for e in evs if e["kind"] == "vm" and e["op"] == "mmap" and e["len"] == ARENA[which]]
    assert len(arena_maps) == total
    assert all(e["addr"] % 4096 == 0 for e in arena_maps)


def test_footprint_follows_rss(pymac, tmp_path):
    exe = INTERPS["pyenv-3.11"]
    require(exe)
    trace = tmp_path / "wave.pmt"
    rec = record(pymac, trace, [exe, "-c", WAVE], extra=["--mode", "footprint"])
    assert rec.returncode == 0, rec.describe()
    evs = events(pymac, trace)
    pid = only_proc(summary(pymac, trace), exe)["pid"]
    rss = [(e["ts_ns"], e["rss"]) for e in evs if e["kind"] == "rss" and e["pid"] == pid]
    assert len(rss) >= 10, "RSS is sampled every 100 ms over ~2 s: %d samples" % len(rss)
    # record's count is the trace's: the RSS samples are events too (issue 21)
    wrote = re.search(r"wrote \S+: (\d+) events", rec.stderr)
    assert wrote and int(wrote.group(1)) == len(evs), (wrote and wrote.group(0), len(evs))

    # the footprint at each RSS sample, replayed from the vm events
    arena, level, at_sample = {}, 0, []
    vms = [e for e in evs if e["pid"] == pid and e["kind"] in ("vm", "rss")]
    vms.sort(key=lambda e: e["ts_ns"])
    for e in vms:
        if e["kind"] == "rss":
            at_sample.append((level, e["rss"]))
            continue
        if e["op"] == "mmap":
            arena[e["addr"]] = e["len"]
            level += e["len"]
        elif e["op"] == "munmap" and e["addr"] in arena and arena[e["addr"]] == e["len"]:
            level -= arena.pop(e["addr"])
    rise_fp = max(f for f, _ in at_sample) - at_sample[0][0]
    rise_rss = max(r for _, r in at_sample) - at_sample[0][1]
    assert rise_rss > 40 << 20, "the workload should grow RSS by ~80 MB: %d" % rise_rss
    # Mappings are touched as they are filled, so the two rise together.
    assert abs(rise_fp - rise_rss) < 0.25 * rise_rss, (rise_fp, rise_rss)
    # and fall together: the last samples are far below the peak
    last_fp, last_rss = at_sample[-1]
    assert last_fp < 0.3 * max(f for f, _ in at_sample), at_sample[-5:]
    assert last_rss < max(r for _, r in at_sample) - 0.6 * rise_rss, at_sample[-5:]


HOLDER = """
import sys, time
keep = [[{"i": i} for i in range(1000)] for _ in range(300)]
print("ready", flush=True)
time.sleep(float(sys.argv[1]))
"""


def test_attach_counts_what_the_process_holds(pymac, tmp_path):
    """-p PID: the footprint starts from the process's anonymous mappings
    and heap as /proc/PID/maps shows them, so it matches its anonymous RSS."""
    exe = INTERPS["pyenv-3.11"]
    require(exe)
    holder = subprocess.Popen([exe, "-c", HOLDER, "20"], stdout=subprocess.PIPE, universal_newlines=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        trace = tmp_path / "att.pmt"
        res = subprocess.run(
            [pymac, "record", "-q", "-o", str(trace), "--mode", "footprint", "-p", str(holder.pid), "--duration", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=60,
        )
        assert res.returncode == 0, tail(res.stderr)
    finally:
        holder.kill()
        holder.wait()
    p = [p for p in summary(pymac, trace)["processes"] if p["pid"] == holder.pid][0]
    fp = p["footprint"]
    assert fp["existing_bytes"] > 50 << 20, fp
    assert fp["arenas_mapped"] == 0, "arenas held at attach are not 'mapped' while traced: %s" % fp
    # what it holds in anonymous memory is what it has resident of it (all touched)
    assert abs(fp["total_bytes"] - fp["rss_anon_bytes"]) < 0.2 * fp["rss_anon_bytes"], fp
    evs = [e for e in events(pymac, trace, pid=holder.pid) if e["kind"] == "vm"]
    assert evs and all(e["flags"] & (1 << 63) for e in evs), "only the mappings read at attach: %s" % evs[:5]


def test_untraced_process_gives_nothing(pymac, tmp_path):
    """The syscall tracepoints fire for every process; only traced ones write."""
    exe = INTERPS["pyenv-3.11"]
    require(exe)
    busy = subprocess.Popen(
        [exe, "-c", "import time\nend = time.time() + 20\n"
         "while time.time() < end:\n    x = [[{'i': i} for i in range(1000)] for _ in range(100)]\n    del x\n"],
    )
    try:
        trace = tmp_path / "one.pmt"
        rec = record(pymac, trace, [exe, "-c", ARENAS], extra=["--mode", "footprint"])
        assert rec.returncode == 0, rec.describe()
        assert busy.poll() is None, "the bystander should still run"
        evs = events(pymac, trace)
        assert evs, "nothing recorded"
        assert not [e for e in evs if e["pid"] == busy.pid], "the untraced process left events"
    finally:
        busy.kill()
        busy.wait()


def test_ps_shows_footprint_source(pymac):
    exe = INTERPS["pyenv-3.11"]
    require(exe)
    sleeper = subprocess.Popen([exe, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        res = sh([pymac, "ps", "--json"])
        data = json.loads(res.stdout)
        procs = [p for c in data["containers"] for p in c["processes"]]
        mine = [p for p in procs if p["pid"] == sleeper.pid]
        assert mine, res.stdout[:2000]
        assert mine[0]["sources"]["footprint"]["status"] == "full", mine[0]["sources"]
        res = sh([pymac, "ps"])
        assert "FOOTPRINT" in res.stdout, res.stdout
    finally:
        sleeper.kill()
        sleeper.wait()


LOOP = """
import gc, time
time.sleep(1.0)
end = time.time() + 5
while time.time() < end:
    keep = [[{"i": i} for i in range(1000)] for _ in range(60)]
    time.sleep(0.1)
    keep = None
    gc.collect()
"""


def test_container_footprint(pymac, docker_image, tmp_path):  # noqa: F811
    name = "pymac-fp-%s" % uuid.uuid4().hex[:8]
    sh(["docker", "run", "-d", "--rm", "--network", "none", "--name", name, docker_image, "python3", "-c", LOOP])
    try:
        trace = tmp_path / "cont.pmt"
        res = subprocess.run(
            [pymac, "record", "-o", str(trace), "--mode", "footprint", "--container", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=60,
        )
        assert res.returncode == 0, tail(res.stderr)
        summ = summary(pymac, trace)
        conts = [c for c in summ["containers"] if c["name"] == name]
        assert conts, [c["name"] for c in summ["containers"]]
        pys = [p for p in conts[0]["processes"] if (p.get("python_version") or "") == "3.11"]
        assert pys, conts[0]["processes"]
        p = pys[0]
        fp = p.get("footprint") or {}
        # Debian's python3.11 in the image: stripped, no debug info, and
        # still its arenas, RSS and (USDT) collections are all seen
        assert fp.get("arenas_mapped", 0) >= 10, fp
        assert fp.get("rss_samples", 0) >= 10, fp
        assert p["counts"]["gc_done"] >= 10, p["counts"]
        assert p["coverage"]["footprint"] == "complete"
        assert p["counts"]["py_malloc"] == 0 and p["counts"]["py_dealloc"] == 0
        lines = run_replay(pymac, trace, "--view", "timeline", "--lines")
        assert lines.returncode == 0, tail(lines.stderr)
        peaks = [int(m.group(1)) for m in re.finditer(r"lane=\"%s\".* fp_net=(\d+)" % re.escape(name), lines.stdout)]
        assert peaks and max(peaks) > 10 << 20, lines.stdout[:3000]
    finally:
        subprocess.run(["docker", "rm", "-f", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
