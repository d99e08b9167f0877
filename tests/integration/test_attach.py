"""Attach to a running Python, detach after --duration, and leave it healthy."""

import os
import subprocess
import time

import pytest

from conftest import (
    INTERPRETERS,
    LineReader,
    interp_params,
    process,
    require_interp,
    stop,
    summary,
    tail,
)

# The target allocates (and makes cyclic garbage, so collections happen on
# every build) until the test tells it pymac has gone, then keeps allocating
# a little longer - with any probe or semaphore pymac failed to remove still
# in place - and exits 0 with a known line. The stop file, rather than a fixed
# ~3 s, keeps the test independent of how long attaching takes.
TARGET = r"""
import os, sys, time
stop_file = sys.argv[1]
print("ready", flush=True)
class Node:
    pass
loops = 0
deadline = time.monotonic() + 60
after = None
while True:
    for _ in range(500):
        a = Node(); b = Node(); a.b = b; b.a = a
        s = [str(loops), {"k": loops}, (loops, loops + 1)]
    loops += 1
    if after is None and os.path.exists(stop_file):
        after = time.monotonic() + 0.5
    if after is not None and time.monotonic() > after:
        break
    if time.monotonic() > deadline:
        print("stop file never came", flush=True)
        sys.exit(3)
print("attach-detach target finished cleanly", flush=True)
"""


@pytest.mark.parametrize("interp", interp_params(INTERPRETERS))
def test_attach_duration_detach(pymac, tmp_path, interp):
    python = require_interp(interp)
    stop_file = tmp_path / "stop"
    trace = tmp_path / "attach.pmt"
    target = subprocess.Popen(
        [python, "-c", TARGET, str(stop_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    try:
        assert target.stdout.readline().strip() == "ready"
        start = time.monotonic()
        try:
            rec = subprocess.run(
                [pymac, "record", "-o", str(trace), "-p", str(target.pid), "--duration", "1"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                universal_newlines=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired as e:
            pytest.fail("pymac record -p --duration 1 still running after 60s; stderr:\n%s" % tail(e.stderr or ""))
        elapsed = time.monotonic() - start
        assert rec.returncode == 0, "pymac record -p exit %d; stderr:\n%s" % (rec.returncode, tail(rec.stderr))
        assert any(l.startswith("pymac: tracing ") for l in rec.stderr.splitlines()), rec.stderr
        assert any(l.startswith("pymac: wrote ") for l in rec.stderr.splitlines()), rec.stderr
        assert elapsed < 30, "--duration 1 took %.1fs" % elapsed
        assert target.poll() is None, "target died while pymac was attached (status %s): %s" % (target.returncode, target.stderr.read())

        stop_file.write_text("")
        out, err = target.communicate(timeout=60)
        assert target.returncode == 0, "target exit %d after detach; stderr:\n%s" % (target.returncode, tail(err))
        assert out.strip().splitlines()[-1:] == ["attach-detach target finished cleanly"], (out, err)
    finally:
        stop(target)

    summ = summary(pymac, trace)
    proc = process(summ, target.pid)
    total = sum(proc["counts"].values())
    assert total > 0, "no events for pid %d: %r" % (target.pid, proc["counts"])
    assert proc["counts"]["gc_done"] > 0, "a second of cyclic garbage but no collection seen: %r" % proc["counts"]
    assert summ["trace"]["events"] >= total, (summ["trace"], proc["counts"])


def test_attach_missing_pid(pymac, tmp_path):
    # A pid that surely is gone: one of our own children, reaped.
    child = subprocess.Popen(["true"])
    child.wait()
    pid = child.pid
    assert not os.path.exists("/proc/%d" % pid)
    res = subprocess.run(
        [pymac, "record", "-o", str(tmp_path / "none.pmt"), "-p", str(pid), "--duration", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    assert res.returncode > 0, "exit %d for a missing pid; stderr: %r" % (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pymac: "), "expected one 'pymac: ...' line on stderr, got %r" % res.stderr


def link_types(pid):
    """The link type of each BPF link descriptor process pid holds."""
    types = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if "bpf_link" not in os.readlink("/proc/%d/fd/%s" % (pid, fd)):
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    if line.startswith("link_type:"):
                        kind = line.split()[1]
                        types[kind] = types.get(kind, 0) + 1
        except OSError:
            continue
    return types


@pytest.mark.parametrize("links", ["default", "perf"])
def test_uprobes_are_uprobe_multi_links(pymac, links):
    """Every uprobe is a uprobe_multi link (issue 21: `q` and a stop took
    about 2 s, closing perf-event uprobe links one at a time under the
    kernel's event mutex); PYMAC_UPROBE_LINKS=perf keeps the old links, the
    control that shows what the first case tells apart."""
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    if (major, minor) < (6, 6):
        pytest.skip("uprobe_multi needs Linux 6.6 or later; this kernel is %s" % os.uname().release)
    exe = require_interp(next(i for i in INTERPRETERS if i.id.startswith("pyenv-3.11")))
    env = dict(os.environ)
    if links == "perf":
        env["PYMAC_UPROBE_LINKS"] = "perf"
    proc = subprocess.Popen(
        [pymac, "record", "-o", "-", "--", exe, "-c", "import sys; sys.stdin.read()"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    err = LineReader(proc.stderr)
    try:
        assert err.wait_for(lambda l: "probes attached" in l, 60), tail(err.text())
        types = link_types(proc.pid)
    finally:
        proc.stdin.close()
        rc = proc.wait(60)
    assert rc == 0, tail(err.text())
    if links == "perf":
        assert types.get("perf", 0) >= 10, types
    else:
        assert types.get("perf", 0) == 0 and types.get("uprobe_multi", 0) >= 10, types
