"""Allocator agreement: pymac's py_malloc and py_free counts equal an
independent bpftrace count of PyObject_Malloc and PyObject_Free calls, on
builds where every allocation goes through those exported functions.
pymac probes the frees elsewhere (inside the function PyObject_Free's table
holds, issue 18), so the count of PyObject_Free's own entry checks it."""

import os
import re
import signal
import subprocess
import time

import pytest

from conftest import (
    PYENV_INTERPRETERS,
    LineReader,
    interp_params,
    module,
    process,
    require_interp,
    source_status,
    stop,
    summary,
    tail,
)

N = 3000  # iterations; a few PyObject_Malloc calls each, ~10 us per probe hit


def libpython_of(pid):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and re.search(r"/libpython3\.\d+[^/]*\.so", parts[5]):
                return parts[5]
    return None


def wait_blocked_in_fifo(proc, timeout=20):
    """Wait until the workload sits in open() of the FIFO: from then on it
    makes no allocation until the test writes to it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("workload exited early with %s" % proc.returncode)
        try:
            with open("/proc/%d/syscall" % proc.pid) as f:
                nr = f.read().split()[0]
            with open("/proc/%d/stat" % proc.pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            nr, state = "", ""
        if nr == "257" and state == "S":  # openat, sleeping
            return
        time.sleep(0.02)
    pytest.fail("workload never blocked on its FIFO")


@pytest.mark.parametrize("interp", interp_params(PYENV_INTERPRETERS))
def test_py_malloc_equals_bpftrace(pymac, tmp_path, interp):
    python = require_interp(interp)
    fifo = tmp_path / "go.fifo"
    os.mkfifo(str(fifo))
    trace = tmp_path / "agree.pmt"
    env = dict(os.environ, PYMAC_WAIT_FIFO=str(fifo))
    target = subprocess.Popen(
        [python, module("test_alloc_loop.py"), str(N)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    tracer = counter = None
    try:
        wait_blocked_in_fifo(target)
        lib = libpython_of(target.pid)
        assert lib, "no libpython mapped in pid %d" % target.pid
        pid = target.pid

        tracer = subprocess.Popen(
            [pymac, "record", "-o", str(trace), "-p", str(pid), "--probes", "pymalloc"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )
        program = ("uprobe:%s:PyObject_Malloc /pid == %d/ { @n = count(); } "
                   "uprobe:%s:PyObject_Free /pid == %d && arg0 != 0/ { @f = count(); }" % (lib, pid, lib, pid))
        counter = subprocess.Popen(
            ["bpftrace", "-p", str(pid), "-e", program],
            env=dict(os.environ, __BPFTRACE_NOTIFY_PROBES_ATTACHED="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )
        tracer_err = LineReader(tracer.stderr)
        counter_out = LineReader(counter.stdout)
        counter_err = LineReader(counter.stderr)

        ready = tracer_err.wait_for(lambda l: l.startswith("pymac: tracing "), 60)
        assert ready, "pymac never printed 'pymac: tracing ' (exit %s); stderr:\n%s" % (tracer.poll(), tail(tracer_err.text()))
        attaching = counter_out.wait_for(lambda l: l.startswith("Attaching"), 60)
        assert attaching, "bpftrace did not attach (exit %s): stdout %r stderr %r" % (counter.poll(), counter_out.text(), counter_err.text())
        # bpftrace 0.17 prints this marker (on stderr) once every probe is attached.
        attached = counter_err.wait_for(lambda l: "__BPFTRACE_NOTIFY_PROBES_ATTACHED" in l, 30)
        assert attached, "bpftrace did not finish attaching (exit %s): stdout %r stderr %r" % (counter.poll(), counter_out.text(), counter_err.text())
        assert target.poll() is None, "workload ended before it was released"

        with open(str(fifo), "w") as f:
            f.write("go\n")
        out, err = target.communicate(timeout=120)
        assert target.returncode == 0, "workload exit %d: %s" % (target.returncode, err)
        assert "alloc loop: %d iterations" % N in out, out

        # pymac stops by itself once every target has exited.
        try:
            tracer.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail("pymac record -p %d still running 30s after its only target exited; stderr:\n%s" % (pid, tail(tracer_err.text())))
        tracer_err.join()
        assert tracer.returncode == 0, "pymac record -p exit %d; stderr:\n%s" % (tracer.returncode, tail(tracer_err.text()))

        # bpftrace may or may not stop by itself when its -p target exits.
        try:
            counter.wait(3)
        except subprocess.TimeoutExpired:
            counter.send_signal(signal.SIGINT)
            counter.wait(30)
        counter_out.join()
        m = re.search(r"^@n: (\d+)$", counter_out.text(), re.M)
        bpftrace_n = int(m.group(1)) if m else 0
        assert bpftrace_n > N, "bpftrace counted %d PyObject_Malloc calls for %d iterations: %r %r" % (bpftrace_n, N, counter_out.text(), counter_err.text())

        m = re.search(r"^@f: (\d+)$", counter_out.text(), re.M)
        bpftrace_f = int(m.group(1)) if m else 0
        assert bpftrace_f > N, "bpftrace counted %d PyObject_Free calls: %r" % (bpftrace_f, counter_out.text())

        summ = summary(pymac, trace)
        proc = process(summ, pid)
        status, detail = source_status(proc, "pymalloc")
        problems = []
        if proc["counts"]["py_malloc"] != bpftrace_n:
            problems.append("pymac py_malloc %d != bpftrace PyObject_Malloc %d (%s)" % (proc["counts"]["py_malloc"], bpftrace_n, lib))
        if proc["counts"]["py_free"] != bpftrace_f:
            problems.append("pymac py_free %d != bpftrace PyObject_Free %d (%s)" % (proc["counts"]["py_free"], bpftrace_f, lib))
        if summ["trace"]["lost"] != 0 or proc["lost"] != 0:
            problems.append("lost events: trace %s, pid %s %r" % (summ["trace"]["lost"], proc["lost"], proc.get("lost_by_kind")))
        # Every allocation of these builds goes through the exported
        # functions, so the source must say it sees them all.
        if status != "full":
            problems.append("pymalloc source is %s (%s)" % (status, detail))
        assert not problems, "; ".join(problems)
    finally:
        for p in (counter, tracer, target):
            if p is not None:
                stop(p, signal.SIGINT if p is not target else signal.SIGKILL)


PY311 = "/root/.pyenv/versions/3.11.7/bin/python3.11"


def py_counts(pymac, tmp_path, tag, python_args, env):
    trace = tmp_path / ("%s.pmt" % tag)
    res = subprocess.run(
        [pymac, "record", "-q", "-o", str(trace), "--probes", "pymalloc", "--", PY311, "-S"] + python_args + [module("test_alloc_loop.py"), "1000"],
        env=dict(os.environ, PYTHONHASHSEED="0", **env),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True, timeout=300,
    )
    assert res.returncode == 0, tail(res.stderr)
    procs = summary(pymac, trace)["processes"]
    assert len(procs) == 1, procs
    return procs[0]["counts"]


@pytest.mark.parametrize("case", ["-X dev", "PYTHONMALLOC=debug", "-X tracemalloc=1"])
def test_wrapped_tables_free_as_at_the_entry(pymac, tmp_path, case):
    """Frees are probed inside the function PyObject_Free's table holds
    (issue 18). The debug hooks (-X dev, PYTHONMALLOC=debug) free the block
    below the caller's pointer through that table, so pymac must probe
    PyObject_Free's entry there; tracemalloc passes the pointer on. Either
    way py_free is what PyObject_Free's entry probe counts (the start-up may
    differ by a few calls between two runs)."""
    if not os.access(PY311, os.X_OK):
        pytest.skip("pyenv 3.11.7 is not installed")
    args, env = ([], dict([case.split("=")])) if case.startswith("PYTHON") else (case.split(), {})
    got = py_counts(pymac, tmp_path, "default", args, env)
    ref = py_counts(pymac, tmp_path, "entry", args, dict(env, PYMAC_FREE_SITES="entry"))
    assert abs(got["py_free"] - ref["py_free"]) <= 10, (got, ref)
    assert abs(got["py_malloc"] - ref["py_malloc"]) <= 10, (got, ref)
