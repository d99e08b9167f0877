"""Faults, and what must survive them (issue 8).

Real BPF, real interpreters, real Docker. Each test breaks something while
pymac traces (pymac killed, disk full, consumer too slow, a target or
container ending, the binary replaced on disk, a stop signal) and checks what
the docs promise: the targets go on unharmed, nothing of pymac stays attached,
and the trace file says what happened up to where it could.

pymac's BPF objects are identified by the prog and link ids its own file
descriptors hold (/proc/PID/fdinfo), read before the fault: other pymacs may
run on the machine at the same time, and bpftool here cannot name owners.
"""

import ctypes
import errno
import glob
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (
    DEBIAN_PYTHON,
    IMAGE,
    LineReader,
    PYENV,
    parse_jsonl,
    run_replay,
    sh,
    tail,
)

# The most a stop signal may take to end pymac: it detaches (the kernel
# unregisters uprobes one at a time, ~0.1 s each: 21 probes here), reads
# what is left in the ring buffer (at most its size) and closes the trace.
# Measured 1.7-4.8 s on a busy 2-core VM; the bound leaves room for that.
STOP_BOUND_S = 10.0

# argv: SECONDS [PAUSE]: allocates for SECONDS, resting PAUSE seconds after
# each batch (0: flat out, for the tests that must overrun the consumer).
# SECONDS "told": until a line comes on stdin, for a test that must find it
# still running however slow the machine is.
WORKLOAD = r"""
import os, sys, threading, time
print("ready", os.getpid(), flush=True)
if sys.argv[1] == "told":
    told = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), told.set()), daemon=True).start()
    going = lambda: not told.is_set()
else:
    end = time.monotonic() + float(sys.argv[1])
    going = lambda: time.monotonic() < end
pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0
n = 0
while going():
    for i in range(200):
        x = [i, str(i), (i, i)]
        d = {"k": x}
    n += 1
    if pause:
        time.sleep(pause)
print("done", n, flush=True)
"""

# Reads commands on stdin: "MARK SECONDS" allocates bytes objects of MARK
# bytes (PyObject_Malloc(33 + MARK)) among ordinary garbage for SECONDS;
# "quit" ends. A mark tells which phase an event belongs to without clocks.
PHASED = r"""
import os, sys, time
print("ready", os.getpid(), flush=True)
for line in sys.stdin:
    if line.strip() == "quit":
        break
    mark, secs = line.split()
    mark = int(mark)
    end = time.monotonic() + float(secs)
    while time.monotonic() < end:
        b = b"x" * mark
        del b
        for i in range(50):
            x = [i, str(i)]
        time.sleep(0.005)
    print("phase", mark, flush=True)
print("done", flush=True)
"""


def pyenv_python():
    """(interpreter, its libpython): a pyenv build sees every allocation."""
    for path in sorted(glob.glob(PYENV + "/3.1[0-9].*/bin/python3.1[0-9]"), reverse=True):
        libdir = os.path.join(os.path.dirname(os.path.dirname(path)), "lib")
        libs = sorted(glob.glob(libdir + "/libpython3.*.so.1.0"))
        if os.access(path, os.X_OK) and libs:
            return path, libs[0]
    pytest.skip("no pyenv Python 3.10+ with a shared libpython")


def script(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


class Target:
    """A Python workload we started, whose first line says it runs."""

    def __init__(self, argv, env=None, stdin=None):
        full = dict(os.environ)
        full.update(env or {})
        self.proc = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full,
            universal_newlines=True,
            start_new_session=True,
        )
        self.out = LineReader(self.proc.stdout)
        line = self.out.wait_for(lambda l: l.startswith("ready"), 60)
        if not line:
            self.proc.kill()
            pytest.fail("workload did not start: %s" % self.proc.stderr.read())
        self.pid = self.proc.pid

    def send(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def wait_line(self, prefix, timeout=90):
        return self.out.wait_for(lambda l: l.startswith(prefix), timeout)

    def finish(self, timeout=90):
        """Its exit status and whole output, once it ended by itself."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("workload %d did not finish within %ds" % (self.pid, timeout))
        self.out.join()
        return rc, self.out.text(), self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Pymac:
    """A pymac record/live run in the background, its stderr collected."""

    def __init__(self, pymac, args, stdout=subprocess.DEVNULL):
        self.proc = subprocess.Popen(
            [pymac] + args,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            start_new_session=True,
        )
        self.err = LineReader(self.proc.stderr)
        self.pid = self.proc.pid

    def wait_tracing(self, timeout=90):
        line = self.err.wait_for(lambda l: l.startswith("pymac: tracing"), timeout)
        if not line:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("pymac did not start tracing:\n%s" % tail(self.err.text()))
        return line

    def wait(self, timeout=90):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("pymac did not end within %ds:\n%s" % (timeout, tail(self.err.text())))
        self.err.join()
        return rc

    def stderr(self):
        return self.err.text()

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


def bpf_ids(pid):
    """The BPF program and link ids a process holds open."""
    progs, links = set(), set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            what = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            if not what.startswith("anon_inode:bpf"):
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                info = f.read()
        except OSError:
            continue
        for line in info.splitlines():
            key, _, val = line.partition(":")
            if key == "prog_id":
                progs.add(int(val))
            elif key == "link_id":
                links.add(int(val))
    return progs, links


def links_left(progs, links, timeout=15):
    """pymac's links (by id, or by one of its programs) still in the kernel
    once it is gone; the kernel frees them shortly after the last fd closes."""
    deadline = time.monotonic() + timeout
    while True:
        res = sh(["bpftool", "link", "list", "-j"])
        left = [l for l in json.loads(res.stdout or "[]") if l.get("id") in links or l.get("prog_id") in progs]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def replay_prefix(pymac, trace):
    """A trace cut short: replay --summary exits 0 (or 1 naming the damage)
    and has events from the chunks that were complete."""
    res = run_replay(pymac, trace, "--summary", "--json")
    assert res.returncode in (0, 1), "replay exit %d: %s" % (res.returncode, tail(res.stderr))
    if res.returncode == 1:
        assert any(l.startswith("pymac: ") for l in res.stderr.splitlines()), res.stderr
    summ = json.loads(res.stdout)
    assert summ["trace"]["events"] > 0, summ["trace"]
    return summ


def grep_events(pymac, trace, pattern):
    """The events whose JSONL line matches an extended regex. grep does the
    sifting: every Python on this machine, pytest included, may be slowed by
    uprobes other tracers put on the shared interpreter and libc."""
    cmd = "%s replay %s --events --format jsonl | grep -E '%s'; exit ${PIPESTATUS[0]}" % (pymac, trace, pattern)
    res = subprocess.run(
        ["bash", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120
    )
    assert res.returncode == 0, tail(res.stderr)
    return parse_jsonl(res.stdout)


def marked(pymac, trace, pid, mark):
    """Python allocator events of pid for a bytes object of mark bytes
    (PyObject_Malloc(33 + mark) on 64-bit CPython)."""
    sizes = "|".join(str(mark + k) for k in range(65))
    evs = grep_events(pymac, trace, '"kind":"py_[a-z]+","pid":%d,.*"size":(%s),' % (pid, sizes))
    return [e for e in evs if e["pid"] == pid and mark <= e["size"] <= mark + 64]


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Subreaper:
    """Orphans of our children come to us, so a command that outlives a
    killed pymac can be waited for and its exit status seen."""

    PR_SET_CHILD_SUBREAPER = 36

    def __enter__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        assert self.libc.prctl(self.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        return self

    def wait(self, pid, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got, status = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("orphaned command %d did not finish within %ds" % (pid, timeout))

    def __exit__(self, *exc):
        self.libc.prctl(self.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


# ---- 1. pymac killed with SIGKILL


def test_sigkill_attached(pymac, tmp_path):
    """-p PID: the target finishes normally, no link stays, the file
    replays up to its last complete chunk."""
    py, _ = pyenv_python()
    target = Target([py, script(tmp_path, "w.py", WORKLOAD), "6"])
    trace = tmp_path / "killed.pmt"
    pm = Pymac(pymac, ["record", "-o", str(trace), "-p", str(target.pid)])
    try:
        pm.wait_tracing()
        progs, links = bpf_ids(pm.pid)
        assert progs and len(links) > 3, (progs, links)
        time.sleep(2)  # several flushes (every 250 ms)
        pm.proc.kill()
        assert pm.wait() == -signal.SIGKILL
        assert links_left(progs, links) == [], "pymac's BPF links outlive it"
        rc, out, err = target.finish()
        assert rc == 0 and "done" in out, (rc, out, err)
    finally:
        pm.kill()
        target.kill()
    summ = replay_prefix(pymac, trace)
    assert summ["trace"]["complete"] is False, summ["trace"]


def test_sigkill_command(pymac, tmp_path):
    """record -- COMMAND: the command outlives pymac and exits 0 with all
    its output."""
    py, _ = pyenv_python()
    trace = tmp_path / "killed-cmd.pmt"
    out_file = tmp_path / "cmd.out"
    with Subreaper() as reaper, open(str(out_file), "w") as out:
        proc = subprocess.Popen(
            [pymac, "record", "-o", str(trace), "--", py, script(tmp_path, "w.py", WORKLOAD), "5"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )
        err = LineReader(proc.stderr)
        try:
            line = err.wait_for(lambda l: l.startswith("pymac: tracing"), 90)
            assert line, err.text()
            child = int(line.split("(pid ")[1].split(")")[0])
            progs, links = bpf_ids(proc.pid)
            time.sleep(2)
            proc.kill()
            assert proc.wait(30) == -signal.SIGKILL
            assert links_left(progs, links) == [], "pymac's BPF links outlive it"
            rc = reaper.wait(child, 90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = out_file.read_text()
    assert rc == 0, "the command exited %d after pymac was killed: %s" % (rc, text)
    assert text.startswith("ready") and "\ndone " in text, text
    replay_prefix(pymac, trace)


# ---- 2. the disk fills


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    sh(["mount", "-t", "tmpfs", "-o", "size=512k", "pymac-faults", str(mnt)])
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def test_disk_full(pymac, tmp_path, small_fs):
    """One line naming the file and the error, a non-zero exit after the
    command ended normally, and a trace readable up to its last chunk."""
    py, _ = pyenv_python()
    trace = small_fs / "full.pmt"
    pm = Pymac(
        pymac,
        ["record", "-o", str(trace), "--", py, script(tmp_path, "w.py", WORKLOAD), "4"],
        stdout=subprocess.PIPE,
    )
    out = LineReader(pm.proc.stdout)
    try:
        rc = pm.wait(120)
    finally:
        pm.kill()
    out.join()
    err = pm.stderr()
    full = [l for l in err.splitlines() if "No space left on device" in l]
    assert len(full) == 1, "expected one line about the full disk:\n%s" % err
    assert str(trace) in full[0], full[0]
    assert rc != 0, "pymac exit 0 although the trace is incomplete:\n%s" % err
    assert "done" in out.text(), "the command did not finish normally:\n%s\n%s" % (out.text(), err)
    summ = replay_prefix(pymac, trace)
    assert summ["trace"]["complete"] is False, summ["trace"]


def test_live_record_disk_full(pymac, tmp_path, small_fs):
    """live --record onto a disk that fills: the trace writer fails while it
    is one of the session's sinks. One line says so, the view goes on to the
    end without the writer (no write into a closed writer: the ASan build
    runs this too), the exit status says the recording is incomplete, and
    the trace replays up to its last complete chunk."""
    py, _ = pyenv_python()
    trace = small_fs / "live.pmt"
    pm = Pymac(
        pymac,
        ["live", "--lines", "--interval", "0.2", "--record", str(trace), "--", py,
         script(tmp_path, "w.py", WORKLOAD), "4"],
        stdout=subprocess.PIPE,
    )
    out = LineReader(pm.proc.stdout)
    try:
        rc = pm.wait(120)
    finally:
        pm.kill()
    out.join()
    err = pm.stderr()
    assert rc > 0, "pymac live ended with %d (a crash is negative, 0 hides the error):\n%s" % (rc, err)
    assert "AddressSanitizer" not in err and "runtime error" not in err, err
    full = [l for l in err.splitlines() if "No space left on device" in l]
    assert len(full) == 1, "expected one line about the full disk:\n%s" % err
    assert str(trace) in full[0] and "recording stops" in full[0], full[0]
    # the view went on after the writer failed: lines kept coming; the
    # command's own output is on pymac's stderr, out of the lines
    assert any(l.startswith("done ") for l in err.splitlines()), "the command did not finish normally:\n%s\n%s" % (
        out.text(), err)
    assert "done" not in out.text(), out.text()
    assert len([l for l in out.text().splitlines() if l.startswith("t=")]) >= 2, out.text()
    summ = replay_prefix(pymac, trace)
    assert summ["trace"]["complete"] is False, summ["trace"]


# ---- 3. the consumer falls behind


def test_lost_events_counted(pymac, tmp_path):
    """A stopped consumer and a 1 MiB ring buffer: lost events are counted
    per process and kind in the trace, and pymac's memory stays bounded."""
    py, _ = pyenv_python()
    target = Target([py, script(tmp_path, "w.py", WORKLOAD), "8"])
    trace = tmp_path / "lost.pmt"
    pm = Pymac(pymac, ["record", "-o", str(trace), "--ringbuf-mb", "1", "-p", str(target.pid)])
    rss = []
    try:
        pm.wait_tracing()
        rss.append(vmrss_kb(pm.pid))
        for _ in range(2):
            os.kill(pm.pid, signal.SIGSTOP)
            time.sleep(1.5)
            os.kill(pm.pid, signal.SIGCONT)
            for _ in range(5):
                time.sleep(0.2)
                rss.append(vmrss_kb(pm.pid))
        rc, out, _ = target.finish()
        assert rc == 0 and "done" in out
        assert pm.wait() == 0, pm.stderr()
    finally:
        pm.kill()
        target.kill()
    assert max(rss) < 2 * rss[0] + 20 * 1024, "pymac's RSS grew from %d kB to %d kB" % (rss[0], max(rss))
    assert "events were lost" in pm.stderr(), pm.stderr()
    res = run_replay(pymac, trace, "--summary", "--json")
    assert res.returncode == 0, res.stderr
    summ = json.loads(res.stdout)
    assert summ["trace"]["lost"] > 0, summ["trace"]
    proc = [p for p in summ["processes"] if p["pid"] == target.pid][0]
    assert proc["lost"] > 0 and proc["lost_by_kind"], proc
    assert sum(proc["lost_by_kind"].values()) == proc["lost"], proc
    # per container (the host entry holds processes outside containers)
    assert sum(c["totals"]["lost"] for c in summ["containers"]) == summ["trace"]["lost"], summ["containers"]


def test_lost_events_live_lines(pymac, tmp_path):
    """pymac live --lines shows lost events in its lost= field."""
    py, _ = pyenv_python()
    target = Target([py, script(tmp_path, "w.py", WORKLOAD), "6"])
    pm = Pymac(
        pymac,
        ["live", "--lines", "--interval", "0.5", "--ringbuf-mb", "1", "-p", str(target.pid)],
        stdout=subprocess.PIPE,
    )
    lines = LineReader(pm.proc.stdout)
    try:
        pm.wait_tracing()
        time.sleep(0.5)
        os.kill(pm.pid, signal.SIGSTOP)
        time.sleep(2)
        os.kill(pm.pid, signal.SIGCONT)
        rc, _, _ = target.finish()
        assert rc == 0
        assert pm.wait() == 0, pm.stderr()
    finally:
        pm.kill()
        target.kill()
    lines.join()
    lost = []
    for line in lines.lines:
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f and not f.startswith('"'))
        if "pids" in fields and str(target.pid) in fields["pids"].split(","):
            lost.append(int(fields["lost"]))
    assert lost, "no line for pid %d:\n%s" % (target.pid, lines.text()[:2000])
    assert max(lost) > 0, "live --lines never showed a lost event:\n%s" % tail(lines.text())


# ---- 4. a target or a container ends mid-trace


def test_one_of_two_pids_ends(pymac, tmp_path):
    py, _ = pyenv_python()
    w = script(tmp_path, "w.py", WORKLOAD)
    short, long_ = Target([py, w, "1.5", "0.01"]), Target([py, w, "4", "0.01"])
    trace = tmp_path / "two.pmt"
    pm = Pymac(pymac, ["record", "-o", str(trace), "-p", str(short.pid), "-p", str(long_.pid)])
    try:
        pm.wait_tracing()
        assert short.finish()[0] == 0
        assert long_.finish()[0] == 0
        assert pm.wait() == 0, pm.stderr()  # ends by itself when both did
    finally:
        pm.kill()
        short.kill()
        long_.kill()
    # collections stand for the traffic: the loop's lists and dicts start one
    # every few thousand allocations, and there are few enough to parse
    evs = grep_events(pymac, trace, '"kind":"(exit|gc_done)","pid":(%d|%d),' % (short.pid, long_.pid))
    exits = [e for e in evs if e["kind"] == "exit" and e["pid"] == short.pid]
    assert len(exits) == 1 and exits[0]["exit_code"] == 0, exits
    after = [e for e in evs if e["pid"] == long_.pid and e["t_ns"] > exits[0]["t_ns"] and e["kind"] != "exit"]
    assert len(after) > 3, "the other target was not traced after the first ended (%d collections)" % len(after)
    assert [e for e in evs if e["kind"] == "exit" and e["pid"] == long_.pid], "no exit record for the second"


CONTAINER_LOOP = (
    "import time\n"
    "end = time.monotonic() + 120\n"
    "while time.monotonic() < end:\n"
    "    x = [str(i) for i in range(200)]\n"
    "    time.sleep(0.01)\n"
)


def test_one_of_two_containers_stops(pymac, tmp_path, docker_image):
    names = ["pmfault-a-%d" % os.getpid(), "pmfault-b-%d" % os.getpid()]
    for n in names:
        subprocess.run(["docker", "rm", "-f", n], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for n in names:
            sh(["docker", "run", "-d", "--name", n, docker_image, "python3", "-c", CONTAINER_LOOP])
        trace = tmp_path / "containers.pmt"
        pm = Pymac(pymac, ["record", "-o", str(trace), "--container", names[0], "--container", names[1]])
        try:
            pm.wait_tracing()
            time.sleep(1)
            sh(["docker", "kill", names[0]])
            assert pm.err.wait_for(lambda l: "container %s stopped" % names[0] in l, 30), pm.stderr()
            time.sleep(1.5)
            sh(["docker", "kill", names[1]])
            assert pm.wait(60) == 0, pm.stderr()  # both stopped: recording ends
        finally:
            pm.kill()
    finally:
        for n in names:
            subprocess.run(["docker", "rm", "-f", n], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summ = json.loads(run_replay(pymac, trace, "--summary", "--json").stdout)
    conts = {c["name"]: c for c in summ["containers"]}
    a, b = conts[names[0]], conts[names[1]]
    assert a["stop_ns"] is not None and b["stop_ns"] is not None, (a, b)
    assert a["stop_ns"] < b["stop_ns"], (a["stop_ns"], b["stop_ns"])
    evs = grep_events(pymac, trace, '"cgroup_id":(%d|%d),' % (a["cgroup_id"], b["cgroup_id"]))
    after = [e for e in evs if e.get("cgroup_id") == b["cgroup_id"] and e["t_ns"] > a["stop_ns"]]
    assert len(after) > 10, "container b was not traced after a stopped (%d events)" % len(after)
    assert not [e for e in evs if e.get("cgroup_id") == a["cgroup_id"] and e["t_ns"] > a["stop_ns"] + 1e9]


# ---- 5. the binary is replaced on disk


def private_interpreter(tmp_path):
    """A pyenv interpreter whose libpython is a private copy in tmp_path,
    so replacing it touches no other test."""
    py, lib = pyenv_python()
    libdir = tmp_path / "lib"
    libdir.mkdir()
    mine = libdir / os.path.basename(lib)
    shutil.copy2(lib, str(mine))
    return py, lib, str(mine), {"LD_LIBRARY_PATH": str(libdir)}


def upgrade(src, path):
    """What a package manager does: write the new file aside, rename it over."""
    tmp = path + ".dpkg-new"
    shutil.copy2(src, tmp)
    os.rename(tmp, path)


def maps_deleted(pid, path):
    with open("/proc/%d/maps" % pid) as f:
        return any(l.rstrip().endswith(path + " (deleted)") for l in f)


def test_replaced_before_attach(pymac, tmp_path):
    """Attach after the library was replaced: the probes go on the file the
    process maps (now deleted), not the new one at its path."""
    py, lib, mine, env = private_interpreter(tmp_path)
    target = Target([py, script(tmp_path, "p.py", PHASED)], env=env, stdin=subprocess.PIPE)
    trace = tmp_path / "replaced.pmt"
    pm = None
    try:
        upgrade(lib, mine)
        assert maps_deleted(target.pid, mine)
        pm = Pymac(pymac, ["record", "-o", str(trace), "-p", str(target.pid)])
        pm.wait_tracing()
        target.send("12345 1.5")
        assert target.wait_line("phase"), "workload stuck"
        target.send("quit")
        rc, out, err = target.finish()
        assert rc == 0, err
        assert pm.wait() == 0, pm.stderr()
    finally:
        if pm:
            pm.kill()
        target.kill()
    cov = [l for l in pm.stderr().splitlines() if ": pymalloc: " in l]
    assert cov and ": full: " in cov[0] and mine + " (deleted)" in cov[0], pm.stderr()
    got = marked(pymac, trace, target.pid, 12345)
    assert len(got) > 10, "no allocation of the replaced library was seen (%d)\n%s" % (len(got), pm.stderr())


def test_replaced_while_tracing(pymac, tmp_path):
    py, lib, mine, env = private_interpreter(tmp_path)
    target = Target([py, script(tmp_path, "p.py", PHASED)], env=env, stdin=subprocess.PIPE)
    trace = tmp_path / "replaced-live.pmt"
    pm = Pymac(pymac, ["record", "-o", str(trace), "-p", str(target.pid)])
    try:
        pm.wait_tracing()
        target.send("11111 1")
        assert target.wait_line("phase")
        upgrade(lib, mine)
        assert maps_deleted(target.pid, mine)
        target.send("22222 1")
        assert target.wait_line("phase")
        target.send("quit")
        assert target.finish()[0] == 0
        assert pm.wait() == 0, pm.stderr()
    finally:
        pm.kill()
        target.kill()
    assert len(marked(pymac, trace, target.pid, 11111)) > 10
    assert len(marked(pymac, trace, target.pid, 22222)) > 10, "tracing stopped when the library was replaced"


def test_overwrite_in_place_refused(tmp_path):
    """cp over a running executable: the kernel refuses (ETXTBSY), so an
    in-place overwrite cannot pull the file from under a traced process."""
    exe = tmp_path / "python3.11"
    shutil.copy2(DEBIAN_PYTHON, str(exe))
    proc = subprocess.Popen([str(exe), "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        with pytest.raises(OSError) as e:
            with open(str(exe), "r+b"):
                pass
        assert e.value.errno == errno.ETXTBSY
        res = subprocess.run(["cp", DEBIAN_PYTHON, str(exe)], stderr=subprocess.PIPE, universal_newlines=True)
        assert res.returncode != 0 and "Text file busy" in res.stderr, res.stderr
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


# ---- 6. SIGINT / SIGTERM while attached


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_under_load(pymac, tmp_path, sig):
    """Detach and flush within a bounded delay even while the target floods
    the ring buffer (here: a backlog built by stopping pymac first)."""
    py, _ = pyenv_python()
    # it runs until told: pymac's end must not be mistaken for its own
    target = Target([py, script(tmp_path, "w.py", WORKLOAD), "told"], stdin=subprocess.PIPE)
    trace = tmp_path / "stopped.pmt"
    pm = Pymac(pymac, ["record", "-o", str(trace), "-p", str(target.pid)])
    try:
        pm.wait_tracing()
        progs, links = bpf_ids(pm.pid)
        time.sleep(1)
        os.kill(pm.pid, signal.SIGSTOP)  # a backlog in the ring buffer
        time.sleep(1.5)
        os.kill(pm.pid, sig)
        start = time.monotonic()
        os.kill(pm.pid, signal.SIGCONT)
        rc = pm.wait(60)
        took = time.monotonic() - start
        assert rc == 0, "pymac exit %d:\n%s" % (rc, pm.stderr())
        assert took < STOP_BOUND_S, "pymac took %.1fs to stop" % took
        assert links_left(progs, links) == []
        assert target.proc.poll() is None, "the target ended with pymac"
        target.send("stop")
        trc, out, _ = target.finish()
        assert trc == 0 and "done" in out
    finally:
        pm.kill()
        target.kill()
    print("%s: pymac ended %.2fs after the signal" % (signal.Signals(sig).name, took))
    res = run_replay(pymac, trace, "--summary", "--json")
    assert res.returncode == 0, res.stderr
    summ = json.loads(res.stdout)
    assert summ["trace"]["complete"] is True, summ["trace"]
    assert summ["trace"]["events"] > 0
