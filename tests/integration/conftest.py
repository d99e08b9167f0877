"""Shared helpers for pymac's integration tests.

The tests drive the real binary (.output/pymac) through its command-line
contract (see docs / the CLI notes): `record` a workload, then read the trace
back with `replay --summary --json` and `replay --events --format jsonl`.
"""

import glob
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# the build under test: .output, or the ASan/UBSan one (tests/run.sh)
OUTPUT = REPO / os.environ.get("PYMAC_OUTPUT", ".output")
PYMAC = OUTPUT / "pymac"
MODULES = REPO / "tests" / "modules"
FIXTURES = OUTPUT / "fixtures"
DEBIAN_PYTHON = "/usr/bin/python3.11"
PYENV = "/root/.pyenv/versions"

# Generous bounds: every probe hit costs ~10 us on this VM.
RECORD_TIMEOUT = 180
REPLAY_TIMEOUT = 120


class Interp:
    def __init__(self, ident, path, kind):
        self.id = ident
        self.path = path
        self.kind = kind  # "debian" or "pyenv"

    @property
    def is_pyenv(self):
        return self.kind == "pyenv"

    def __repr__(self):
        return "Interp(%s, %s)" % (self.id, self.path)


def _interpreters():
    found = [Interp("debian-3.11", DEBIAN_PYTHON, "debian")]
    for minor in range(8, 14):
        pattern = "%s/3.%d.*/bin/python3.%d" % (PYENV, minor, minor)
        paths = sorted(glob.glob(pattern))
        if not paths:
            found.append(Interp("pyenv-3.%d" % minor, pattern, "pyenv"))
            continue
        for p in paths:
            version = p[len(PYENV) + 1 :].split("/")[0]
            found.append(Interp("pyenv-" + version, p, "pyenv"))
    return found


INTERPRETERS = _interpreters()
PYENV_INTERPRETERS = [i for i in INTERPRETERS if i.is_pyenv]


def interp_params(interps):
    return [pytest.param(i, id=i.id) for i in interps]


def require_interp(interp):
    if not os.access(interp.path, os.X_OK):
        pytest.skip("interpreter not installed: %s" % interp.path)
    return interp.path


@pytest.fixture
def root():
    if os.geteuid() != 0:
        pytest.skip("needs root for BPF")


@pytest.fixture
def pymac(root):
    if not os.access(str(PYMAC), os.X_OK):
        pytest.fail("%s is missing: build it with `make` first" % PYMAC)
    return str(PYMAC)


def module(name):
    path = MODULES / name
    assert path.is_file(), path
    return str(path)


def fixture_bin(name):
    path = FIXTURES / name
    if not os.access(str(path), os.X_OK):
        pytest.fail("%s is missing: build it with `make fixtures`" % path)
    return str(path)


def tail(text, lines=40):
    text = text if isinstance(text, str) else text.decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


class Recording:
    """The outcome of one `pymac record` run."""

    def __init__(self, proc_pid, returncode, stdout, stderr, trace, elapsed):
        self.pymac_pid = proc_pid
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.trace = trace
        self.elapsed = elapsed

    def describe(self):
        return "pymac record exit %s after %.1fs; stderr:\n%s" % (
            self.returncode,
            self.elapsed,
            tail(self.stderr),
        )


def record(pymac, trace, command, probes=None, env=None, timeout=RECORD_TIMEOUT, extra=()):
    """pymac record -o TRACE [--probes P] -- COMMAND..., waited for."""
    args = [pymac, "record", "-o", str(trace)]
    if probes:
        args += ["--probes", probes]
    args += list(extra) + ["--"] + list(command)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    start = time.monotonic()
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        universal_newlines=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(
            "pymac record did not finish within %ds: %s\nstderr:\n%s"
            % (timeout, " ".join(args), tail(err))
        )
    return Recording(proc.pid, proc.returncode, out, err, trace, time.monotonic() - start)


def run_replay(pymac, trace, *args, timeout=REPLAY_TIMEOUT):
    cmd = [pymac, "replay", str(trace)] + list(args)
    try:
        return subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail("%s did not finish within %ds (stderr: %s)" % (" ".join(cmd), timeout, e.stderr))


def summary(pymac, trace):
    res = run_replay(pymac, trace, "--summary", "--json")
    assert res.returncode == 0, "replay --summary --json exit %d: %s" % (res.returncode, tail(res.stderr))
    try:
        return json.loads(res.stdout)
    except ValueError as e:
        pytest.fail("replay --summary --json is not one JSON object (%s):\n%s" % (e, res.stdout[:2000]))


def events(pymac, trace, pid=None):
    res = run_replay(pymac, trace, "--events", "--format", "jsonl")
    assert res.returncode == 0, "replay --events exit %d: %s" % (res.returncode, tail(res.stderr))
    return parse_jsonl(res.stdout, pid)


def parse_jsonl(text, pid=None):
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except ValueError as e:
            pytest.fail("events line %d is not JSON (%s): %r" % (n, e, line[:300]))
        if pid is None or ev.get("pid") == pid:
            out.append(ev)
    return out


def process(summ, pid):
    for p in summ.get("processes", []):
        if p.get("pid") == pid:
            return p
    pytest.fail(
        "pid %d is not in the summary's processes: %s"
        % (pid, [(p.get("pid"), p.get("comm"), p.get("exe")) for p in summ.get("processes", [])])
    )


def child_process(summ, rec, exe=None):
    """The process that `record -- COMMAND` started: pymac's direct child,
    or failing that the one process running EXE."""
    procs = summ.get("processes", [])
    mine = [p for p in procs if p.get("ppid") == rec.pymac_pid]
    if len(mine) == 1:
        return mine[0]
    if exe:
        real = os.path.realpath(exe)
        same = [p for p in procs if p.get("exe") and os.path.realpath(p["exe"]) == real]
        if len(same) == 1:
            return same[0]
    pytest.fail(
        "cannot tell which process is the recorded command (pymac pid %d): %s"
        % (rec.pymac_pid, [(p.get("pid"), p.get("ppid"), p.get("exe")) for p in procs])
    )


def source_status(proc, source):
    src = (proc.get("sources") or {}).get(source)
    assert src is not None, "summary has no sources.%s for pid %s: %r" % (source, proc.get("pid"), proc.get("sources"))
    return src.get("status"), src.get("detail")


class LineReader:
    """Collects a pipe's lines in a thread so a test can wait for one."""

    def __init__(self, stream):
        self.lines = []
        self._q = queue.Queue()
        self._t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._t.start()

    def _run(self, stream):
        for line in iter(stream.readline, ""):
            self.lines.append(line)
            self._q.put(line)
        self._q.put(None)

    def wait_for(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            if predicate(line):
                return line

    def join(self, timeout=10):
        self._t.join(timeout)

    def text(self):
        return "".join(self.lines)


def start_record(pymac, trace, *targets, env=None):
    """`pymac record -o trace TARGETS...` in the background, once it says it is tracing:
    (the process, a LineReader of its stderr)."""
    proc = subprocess.Popen(
        [pymac, "record", "-o", str(trace)] + list(targets),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        env=env,
    )
    err = LineReader(proc.stderr)
    if not err.wait_for(lambda l: l.startswith("pymac: tracing"), 60):
        stop(proc)
        pytest.fail("pymac record did not start tracing: %s" % tail(err.text()))
    return proc, err


def stop(proc, sig=signal.SIGTERM, timeout=10):
    """End a process we started (and only that one); kill it if it lingers."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(sig)
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout)


# ---- containers

IMAGE = os.environ.get("PYMAC_IMAGE", "pymaccounter/python:3.11")


def sh(args, check=True, timeout=120):
    res = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    if check and res.returncode != 0:
        pytest.fail("%s: exit %d: %s" % (" ".join(args), res.returncode, tail(res.stderr)))
    return res


@pytest.fixture(scope="session")
def docker_image():
    """A running Docker engine and the locally built image (built once, cached)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for Docker")
    res = subprocess.run(
        ["bash", str(REPO / "scripts" / "docker-setup.sh")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        timeout=600,
    )
    assert res.returncode == 0, "scripts/docker-setup.sh failed: %s" % tail(res.stdout, 5)
    res = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-image.sh")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        timeout=1800,
    )
    assert res.returncode == 0, "scripts/build-image.sh failed: %s" % tail(res.stdout)
    return IMAGE


TRACE_MODULES = ["test_gc_callbacks.py", "test_reference_cycle.py", "test_class_dealloc.py"]


@pytest.fixture(scope="session")
def modules_trace(docker_image, tmp_path_factory):
    """One trace of three demonstration modules, each in its own container
    (`pymac run`), recorded once and shared by the tests that read it."""
    if not os.access(str(PYMAC), os.X_OK):
        pytest.fail("%s is missing: build it with `make` first" % PYMAC)
    trace = tmp_path_factory.mktemp("modules") / "modules.pmt"
    res = subprocess.run(
        [str(PYMAC), "run", "--test-dir", str(MODULES), "--record", str(trace)] + TRACE_MODULES,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=600,
    )
    assert res.returncode == 0, "pymac run exit %d:\n%s\n%s" % (res.returncode, tail(res.stdout), tail(res.stderr))
    assert trace.is_file(), "pymac run kept no trace at %s" % trace
    return trace


# ---- build shapes: the Pythons people run, made from the ones here ----

# scripts/build-python.sh caches the official images' builds here
PYTHON_CACHE = os.environ.get("PYMAC_PYTHON_CACHE", "/var/cache/pymac-python")


class Shape:
    """A Python to run: the interpreter, its environment, and the build's
    file pymac should find the collector in."""

    def __init__(self, python, env=None, lib=None):
        self.python = python
        self.env = env or {}
        self.lib = lib


def slim_debian(tmp):
    """Debian's python3.11 (LTO, non-PIE, no .symtab) without its USDT notes
    and without the build-id and debug link that find its debug info."""
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        pytest.skip("interpreter not installed: %s" % DEBIAN_PYTHON)
    copy = tmp / "python3.11"
    shutil.copy(DEBIAN_PYTHON, copy)
    subprocess.run(
        ["objcopy", "--remove-section=.note.stapsdt", "--remove-section=.note.gnu.build-id",
         "--remove-section=.gnu_debuglink", str(copy)],
        check=True,
    )
    return Shape(str(copy), {"PYTHONHOME": "/usr"}, str(copy))


def stripped_pyenv(tmp, minor):
    """A pyenv build whose libpython went through strip --strip-all."""
    libs = sorted(glob.glob("%s/3.%d.*/lib/libpython3.%d.so.1.0" % (PYENV, minor, minor)))
    if not libs:
        pytest.skip("pyenv 3.%d with a shared libpython not installed under %s" % (minor, PYENV))
    lib = libs[-1]
    python = os.path.join(os.path.dirname(os.path.dirname(lib)), "bin", "python3.%d" % minor)
    libdir = tmp / "lib"
    libdir.mkdir()
    copy = libdir / os.path.basename(lib)
    subprocess.run(["strip", "--strip-all", "-o", str(copy), lib], check=True)
    return Shape(python, {"LD_LIBRARY_PATH": str(libdir)}, str(copy))


def official_tree(tag):
    """A build made as the official image makes it (scripts/build-python.sh)."""
    tree = os.path.join(PYTHON_CACHE, tag, "usr", "local")
    python = os.path.join(tree, "bin", "python3")
    if not os.access(python, os.X_OK):
        pytest.skip("no %s build cached in %s (make it with scripts/build-python.sh %s)"
                    % (tag, PYTHON_CACHE, tag.split("-")[0]))
    lib = sorted(glob.glob(os.path.join(tree, "lib", "libpython3*.so.1.0")))
    return Shape(python, {"LD_LIBRARY_PATH": os.path.join(tree, "lib")}, lib[0] if lib else None)
