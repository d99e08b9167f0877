"""record -- COMMAND: exit status, and the issue's example."""

import os
import shutil
import subprocess
import time

import pytest

from conftest import (
    DEBIAN_PYTHON,
    child_process,
    events,
    module,
    record,
    run_replay,
    source_status,
    summary,
    tail,
)


@pytest.mark.parametrize(
    "code,status",
    [
        pytest.param("import sys; sys.exit(3)", 3, id="exit-3"),
        pytest.param("print('fine')", 0, id="exit-0"),
        pytest.param("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 128 + 9, id="sigkill"),
    ],
)
def test_exit_status_propagates(pymac, tmp_path, code, status):
    trace = tmp_path / "exit.pmt"
    rec = record(pymac, trace, [DEBIAN_PYTHON, "-c", code])
    assert rec.returncode == status, "command ended with %d, pymac record exit %d; stderr:\n%s" % (status, rec.returncode, tail(rec.stderr))
    lines = rec.stderr.splitlines()
    assert sum(1 for l in lines if l.startswith("pymac: tracing ")) == 1, rec.stderr
    assert any(l.startswith("pymac: wrote ") for l in lines), rec.stderr
    summ = summary(pymac, trace)
    assert summ["trace"]["complete"] is True, summ["trace"]


def test_issue_example_gen2_usdt(pymac, tmp_path):
    """The issue: `gc.collect()` in a script run by Debian's python3.11 must
    show up as a generation-2 collection seen through the USDT markers
    (asked for: by default pymac reads the GC state, test_gc_exact.py)."""
    trace = tmp_path / "issue.pmt"
    script = module("test_multiply_gc.collect.py")
    rec = record(pymac, trace, [DEBIAN_PYTHON, script], env={"PYMAC_GC_METHOD": "usdt"})
    assert rec.returncode == 0, rec.describe()
    assert "multiply(6, 7) = 42" in rec.stdout, rec.stdout

    summ = summary(pymac, trace)
    proc = child_process(summ, rec, DEBIAN_PYTHON)
    pid = proc["pid"]

    # stderr: one coverage line per process and source, then one "tracing" line.
    for src in ("pymalloc", "dealloc", "gc", "libc"):
        prefix = "pymac: pid %d: %s: " % (pid, src)
        cov = [l for l in rec.stderr.splitlines() if l.startswith(prefix)]
        assert len(cov) == 1, "expected one %r coverage line, got %d:\n%s" % (prefix, len(cov), rec.stderr)
        assert cov[0][len(prefix):].split(":")[0] in ("full", "partial", "none", "off"), cov[0]

    status, detail = source_status(proc, "gc")
    assert status == "full", "gc source is %s (%s)" % (status, detail)
    gc_sum = proc["gc"]
    assert gc_sum["by_generation"][2] >= 1, "no generation-2 collection for pid %d: %r" % (pid, gc_sum)
    assert gc_sum["source"] == "usdt", gc_sum

    gen2 = [e for e in events(pymac, trace, pid) if e["kind"] == "gc_done" and e["generation"] == 2]
    assert gen2 and all(e["source"] == "usdt" for e in gen2), gen2
    # The script's own gc.collect() finds its five two-object cycles.
    assert max(e["collected"] for e in gen2) >= 10, gen2

    text = run_replay(pymac, trace)
    assert text.returncode == 0, text.stderr
    assert str(pid) in text.stdout, "human summary does not mention pid %d:\n%s" % (pid, tail(text.stdout))


def test_trace_name_that_is_a_link_or_another_users_file_is_refused(pymac, tmp_path):
    """pymac runs as root: -o must not follow a link planted at the name, nor
    truncate another user's file. Neither is touched, nothing is run."""
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    link = tmp_path / "t.pmt"
    link.symlink_to(victim)
    marker = tmp_path / "ran"
    rec = record(pymac, link, ["/bin/sh", "-c", "touch %s" % marker])
    assert rec.returncode == 1, rec.describe()
    assert "symbolic link" in rec.stderr and len(rec.stderr.strip().splitlines()) == 1, rec.stderr
    assert victim.read_text() == "keep me\n"
    assert not marker.exists(), "the command ran although the trace could not be created"

    other = tmp_path / "other.pmt"
    other.write_text("someone else's\n")
    os.chown(str(other), 65534, 65534)
    rec = record(pymac, other, ["/bin/true"])
    assert rec.returncode == 1, rec.describe()
    assert "another user's file" in rec.stderr, rec.stderr
    assert other.read_text() == "someone else's\n"
    # the user sudo ran pymac for may overwrite their own file
    rec = record(pymac, other, ["/bin/true"], env={"SUDO_UID": "65534", "SUDO_GID": "65534"})
    assert rec.returncode == 0, rec.describe()
    st = os.stat(str(other))
    assert (st.st_uid, st.st_mode & 0o777) == (65534, 0o600), st


def test_too_few_file_descriptors_is_named(pymac, tmp_path):
    """`ulimit -n 16` is said as such, before anything is loaded (it used to
    read as the kernel refusing the BPF programs)."""
    import subprocess

    res = subprocess.run(
        ["sh", "-c", 'ulimit -n 16 && exec "$@"', "sh", pymac, "record", "-o", str(tmp_path / "t.pmt"), "--", "/bin/true"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
    )
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert "file descriptors" in lines[0] and "ulimit -n" in lines[0] and "16" in lines[0], lines[0]


def test_interpreter_over_4_gib_is_named(pymac, tmp_path):
    """A libpython too large to read is said to be so, not taken for a
    process without Python. The copy is sparse: it costs no disk."""

    lib = "/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0"
    if not os.path.exists(lib):
        pytest.skip("pyenv 3.12.1 is not installed (scripts/install-deps.sh)")
    big = tmp_path / "libpython3.12.so.1.0"
    shutil.copy(lib, str(big))
    os.truncate(str(big), 5 << 30)
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp_path))
    proc = subprocess.Popen(["/root/.pyenv/versions/3.12.1/bin/python3.12", "-c", "import time; time.sleep(60)"], env=env)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and str(big) not in open("/proc/%d/maps" % proc.pid).read():
            time.sleep(0.05)
        res = subprocess.run(
            [pymac, "record", "-o", str(tmp_path / "t.pmt"), "-p", str(proc.pid), "--duration", "1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
        )
    finally:
        proc.kill()
        proc.wait()
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert "over 4 GiB" in lines[0] and str(big) in lines[0], lines[0]


# Every family at work all the time: a list and a str (pymalloc, dealloc), a
# bytearray past pymalloc's 512 bytes (libc malloc and free) and a young
# collection every 50 rounds (gc), so each family's last event is within a
# few milliseconds of the window's end, however slow the machine.
BUSY_LOOP = r"""
import gc
print("ready", flush=True)
while True:
    for i in range(50):
        b = bytearray(4096)
        l = [i, str(i)]
    gc.collect(0)
"""

FAMILIES = {
    "pymalloc": ("py_malloc", "py_calloc", "py_realloc", "py_free"),
    "libc": ("malloc", "calloc", "realloc", "free"),
    "dealloc": ("py_dealloc",),
    "gc": ("gc_start", "gc_done"),
}


def test_duration_is_one_window_for_every_family(pymac, tmp_path):
    """--duration 2 on a busy process: the trace lasts 2 s (within 0.2 s),
    and every family ends (and starts) within 0.1 s of the others, however
    long attaching and detaching took. Only the trace's own timestamps are
    measured, not how long the command ran."""
    py = "/root/.pyenv/versions/3.12.1/bin/python3.12"
    if not os.access(py, os.X_OK):
        pytest.skip("pyenv 3.12.1 is not installed (scripts/install-deps.sh)")
    trace = tmp_path / "window.pmt"
    target = subprocess.Popen([py, "-c", BUSY_LOOP], stdout=subprocess.PIPE, universal_newlines=True)
    try:
        assert target.stdout.readline().strip() == "ready"
        res = subprocess.run(
            [pymac, "record", "-q", "-o", str(trace), "-p", str(target.pid), "--duration", "2"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
            timeout=120,
        )
    finally:
        target.kill()
        target.wait()
    assert res.returncode == 0, res.stderr
    info = summary(pymac, trace)["trace"]
    assert info["complete"], info
    start, length = info["start_ns"], info["duration_ns"] / 1e9
    assert abs(length - 2.0) <= 0.2, "a 2 s window gave a %.3f s trace" % length
    first, last = {}, {}
    for ev in events(pymac, trace, pid=target.pid):
        fam = next((f for f, kinds in FAMILIES.items() if ev["kind"] in kinds), None)
        if fam is None:
            continue
        t = (ev["ts_ns"] - start) / 1e9
        assert 0 <= t < length, "a %s event at %.4f s, outside the trace's [0, %.3f s)" % (ev["kind"], t, length)
        first.setdefault(fam, t)
        last[fam] = max(last.get(fam, t), t)
    assert sorted(last) == sorted(FAMILIES), "families seen: %s" % sorted(last)
    ends = ", ".join("%s %.3f" % (f, last[f]) for f in sorted(last))
    assert max(last.values()) - min(last.values()) <= 0.1, "the families end apart: " + ends
    assert length - max(last.values()) <= 0.1, "the last events end before the trace: " + ends
    starts = ", ".join("%s %.3f" % (f, first[f]) for f in sorted(first))
    assert max(first.values()) - min(first.values()) <= 0.1, "the families start apart: " + starts
    print("trace %.3f s; last events: %s; first: %s" % (length, ends, starts))
