"""`pymac live` and `replay --view timeline`: the same timeline, live and from a file.

The full-screen view is driven in a real tmux (keys in, screen out with
capture-pane); the line mode of a live session is compared byte for byte with
the line mode of a replay of the trace that session recorded.
"""

import os
import re
import shlex
import subprocess
import time
import uuid

import pytest

from conftest import MODULES, PYMAC, REPO, LineReader, sh, stop, summary, tail

PY312 = "/root/.pyenv/versions/3.12.1/bin/python3.12"
GC_MODULE = str(MODULES / "test_gc_callbacks.py")


def lines_of(text):
    return [l for l in text.splitlines() if l.startswith("t=")]


def test_live_lines_equal_replay_lines(pymac, tmp_path):
    trace = tmp_path / "live.pmt"
    res = subprocess.run(
        # the module's own output goes elsewhere: sharing pymac's stdout, it
        # could cut one of pymac's lines in two
        [pymac, "live", "--lines", "--interval", "0.5", "--record", str(trace), "--"]
        + ["sh", "-c", 'exec "$0" "$1" >/dev/null', PY312, GC_MODULE],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=300,
    )
    assert res.returncode == 0, tail(res.stderr)
    live = lines_of(res.stdout)
    assert live, "live --lines printed no lane line:\n%s" % tail(res.stdout)
    rep = subprocess.run(
        [pymac, "replay", str(trace), "--lines", "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=120,
    )
    assert rep.returncode == 0, rep.stderr
    assert lines_of(rep.stdout) == live, "replay lines differ from live lines"
    # the lane is the python process, and its GC markers add up to the summary's
    lane = [l for l in live if 'interp="python 3.12"' in l]
    assert lane, live[:3]
    per_gen = [0, 0, 0]
    for l in lane:
        m = re.search(r"gc_in_interval=0:(\d+),1:(\d+),2:(\d+)", l)
        for g in range(3):
            per_gen[g] += int(m.group(g + 1))
    summ = summary(pymac, trace)
    py = [p for p in summ["processes"] if p.get("python_version") == "3.12"]
    assert len(py) == 1
    assert per_gen == py[0]["gc"]["by_generation"], (per_gen, py[0]["gc"])


IDLE_WORKLOAD = """
import gc, os, sys, time
def burst():
    junk = [[i, str(i)] for i in range(20000)]
    gc.collect()
burst()
open(sys.argv[1], "w").close()   # the idle time starts
time.sleep(4)
open(sys.argv[2], "w").close()   # and ends
burst()
"""


def test_live_lines_keep_coming_while_the_targets_are_idle(pymac, tmp_path):
    """Intervals without events are printed while they pass, not with the
    next event, and still equal the replay's lines."""
    trace, idle, woke = tmp_path / "idle.pmt", tmp_path / "idle", tmp_path / "woke"
    proc = subprocess.Popen(
        [pymac, "live", "--lines", "--interval", "0.5", "--record", str(trace), "--"]
        + ["sh", "-c", 'exec "$0" -c "$1" "$2" "$3" >/dev/null', PY312, IDLE_WORKLOAD, str(idle), str(woke)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    try:
        out = LineReader(proc.stdout)
        deadline = time.monotonic() + 120
        while not idle.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert idle.exists(), "the workload never reached its idle time"
        seen = len(out.lines)
        # 4 s idle, 0.5 s intervals: lines of the idle time arrive within it
        got = out.wait_for(lambda l: l.startswith("t="), 3.0)
        while got and len(out.lines) <= seen:
            got = out.wait_for(lambda l: l.startswith("t="), 1.0)
        assert got and not woke.exists(), "no line was printed while the targets were idle"
        proc.wait(timeout=120)
        out.join()
    finally:
        stop(proc)
    assert proc.returncode == 0, tail(proc.stderr.read())
    live = lines_of(out.text())
    rep = subprocess.run(
        [pymac, "replay", str(trace), "--lines", "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=120,
    )
    assert rep.returncode == 0, rep.stderr
    assert lines_of(rep.stdout) == live, "replay lines differ from live lines"


class Tmux:
    def __init__(self, cmd, width=100, height=30):
        self.name = "pymac-test-" + uuid.uuid4().hex[:6]
        # keep the pane after the command ends so its last screen can be read
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), cmd + "; sleep 60"],
            check=True,
        )

    def screen(self):
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], stdout=subprocess.PIPE, universal_newlines=True
        ).stdout

    def keys(self, *keys):
        subprocess.run(["tmux", "send-keys", "-t", self.name] + list(keys), check=True)

    def wait_for(self, predicate, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s = self.screen()
            if predicate(s):
                return s
            time.sleep(0.2)
        pytest.fail("tmux screen never matched; last screen:\n%s" % self.screen())

    def kill(self):
        subprocess.run(["tmux", "kill-session", "-t", self.name], stderr=subprocess.DEVNULL)


@pytest.fixture
def tmux_live(pymac, tmp_path):
    loop = "while :; do %s %s >/dev/null; done" % (PY312, GC_MODULE)
    trace = tmp_path / "tui.pmt"
    cmd = "%s live --record %s -- sh -c %s" % (pymac, trace, shlex.quote(loop))
    t = Tmux(cmd)
    t.trace = trace
    yield t
    t.kill()


def test_tui_lanes_gc_markers_pause_and_quit(tmux_live):
    t = tmux_live
    # lanes named after the interpreter's processes, with their GC markers
    # (generation digits) and the always-on counters
    s = t.wait_for(lambda s: "python3.12" in s and re.search(r"^gc .*[012]", s, re.M), 40)
    assert "LIVE" in s and "lost" in s, s
    first = t.wait_for(lambda s: "python3.12" in s)
    time.sleep(1.5)
    assert t.screen() != first, "the view does not move while the workload runs"
    # pause: the lanes freeze (only the status counters keep counting)
    t.keys("space")
    t.wait_for(lambda s: "PAUSED" in s, 10)
    time.sleep(0.5)
    # (the two top lines are counters and warnings, which stay live)
    a = t.screen().splitlines()[2:]
    time.sleep(1.5)
    b = t.screen().splitlines()[2:]
    assert a == b, "paused view changed"
    t.keys("space")
    t.wait_for(lambda s: "LIVE" in s, 10)
    # zoom out, help, quit
    t.keys("-")
    t.wait_for(lambda s: "window 30s" in s, 10)
    t.keys("?")
    t.wait_for(lambda s: "zoom" in s.lower(), 10)
    t.keys("q")  # closes help
    t.keys("q")
    t.wait_for(lambda s: "pymac: wrote" in s or "PAUSED" not in s and "LIVE" not in s, 20)


def test_replay_timeline_shows_the_same_lanes(pymac, tmp_path):
    trace = tmp_path / "r.pmt"
    res = subprocess.run(
        [pymac, "record", "-q", "-o", str(trace), "--", PY312, GC_MODULE],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    t = Tmux("%s replay %s --view timeline --max" % (pymac, trace))
    try:
        s = t.wait_for(lambda s: "end of trace" in s and "python3.12" in s, 30)
        assert re.search(r"^gc .*[012]", s, re.M), s
        t.keys("Home")
        t.wait_for(lambda s: "t=0.000" in s, 10)
        t.keys("End")
        t.wait_for(lambda s: "end of trace" in s, 10)
        t.keys("q")
    finally:
        t.kill()


def test_replay_timeline_at_real_speed_moves_on_its_own(pymac, tmp_path):
    """--speed N plays the trace on a clock (it once stood still at the
    trace's first record, which only --max and the seek keys got past)."""
    trace = tmp_path / "s.pmt"
    res = subprocess.run(
        [pymac, "record", "-q", "-o", str(trace), "--", PY312, GC_MODULE],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    dur = summary(pymac, trace)["trace"]["duration_ns"] / 1e9
    speed = max(1.0, dur / 3)  # about 3 s of playing
    t = Tmux("%s replay %s --view timeline --speed %.3f" % (pymac, trace, speed))
    try:
        s = t.wait_for(lambda s: re.search(r"t=0\.\d{3} s", s) or "python3.12" in s, 20)
        s = t.wait_for(lambda s: "end of trace" in s and "python3.12" in s, 60)
        assert re.search(r"^gc .*[012]", s, re.M), s
        t.keys("q")
    finally:
        t.kill()


COMPOSE_SERVICES = ["gc_callbacks", "reference_cycle"]


def test_two_containers_live_record_then_replay(pymac, docker_image, tmp_path):
    """The issue's "done when": two demonstration containers, `pymac live
    --compose-project`, a lane per container with its collections, the detail
    pane, --record, and the recording replayed into the same view."""
    project = "pymactui" + uuid.uuid4().hex[:6]
    compose = ["docker-compose", "-p", project, "-f", str(REPO / "docker-compose.yml")]
    trace = tmp_path / "two.pmt"
    sh(compose + ["up", "-d"] + COMPOSE_SERVICES, timeout=180)
    t = None
    try:
        t = Tmux("%s live --compose-project %s --record %s" % (pymac, project, trace), width=120, height=40)
        # both lanes, named by compose service, each with GC markers
        s = t.wait_for(lambda s: all(x in s for x in COMPOSE_SERVICES) and len(re.findall(r"^gc .*[012]", s, re.M)) >= 2, 90)
        assert "lost 0" in s or re.search(r"lost \d+", s), s
        # select the second lane and open its detail: pids, lost, collections
        t.keys("Down")
        t.keys("Enter")
        s = t.wait_for(lambda s: "collections, latest first" in s and "unmatched frees" in s, 20)
        assert re.search(r"gen [012] .* collected", s), s
        assert "cgroup" in s and "deallocated in window" in s, s
        t.keys("q")
        t.wait_for(lambda s: "pymac: wrote" in s, 30)
    finally:
        if t:
            t.kill()
        sh(compose + ["down", "-t", "1"], check=False, timeout=180)
    summ = summary(pymac, trace)
    names = {c.get("service"): c for c in summ["containers"]}
    for svc in COMPOSE_SERVICES:
        assert svc in names, summ["containers"]
        assert sum(names[svc]["totals"]["gc"]["by_generation"]) > 0, names[svc]
    # the recording, replayed into the same view: the same two lanes with their markers
    r = Tmux("%s replay %s --view timeline --max" % (pymac, trace), width=120, height=40)
    try:
        s = r.wait_for(lambda s: "end of trace" in s and all(x in s for x in COMPOSE_SERVICES), 60)
        assert len(re.findall(r"^gc .*[012]", s, re.M)) >= 2, s
        r.keys("q")
    finally:
        r.kill()


PRINTER = "import time\nfor i in range(20):\n    print('MARKER', i, flush=True)\n    time.sleep(0.05)\n"


def test_live_lines_to_a_file_keep_the_program_output_out(pymac, tmp_path):
    """`live --lines -- CMD > log`: the log holds only lines; the program's
    output goes to pymac's standard error, and pymac says so."""
    log = tmp_path / "memory.log"
    with open(str(log), "w") as out:
        res = subprocess.run(
            [pymac, "live", "--lines", "--interval", "0.5", "--", PY312, "-c", PRINTER],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
        )
    assert res.returncode == 0, tail(res.stderr)
    text = log.read_text()
    assert "MARKER" not in text, "the program's output is in the log:\n%s" % tail(text)
    assert lines_of(text) and all(l.startswith("t=") for l in text.splitlines()), tail(text)
    assert "the program's output goes to standard error" in res.stderr, res.stderr
    assert sum(1 for l in res.stderr.splitlines() if l.startswith("MARKER ")) == 20, res.stderr


def test_live_lines_with_stderr_in_the_log_too(pymac, tmp_path):
    """`> log 2>&1`: standard error is the log as well, so the program's
    output goes to the file pymac names, before and after."""
    log = tmp_path / "memory.log"
    to = tmp_path / "program.out"
    with open(str(log), "w") as out:
        res = subprocess.run(
            [pymac, "live", "--lines", "--", PY312, "-c", PRINTER],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=120,
        )
    text = log.read_text()
    assert res.returncode == 0, tail(text)
    assert "MARKER" not in text, tail(text)
    m = re.search(r"^pymac: the program's output is in (\S+)$", text, re.M)
    assert m, tail(text)
    path = m.group(1)
    try:
        assert path.startswith("/tmp/pymac-live-") and path.endswith(".out"), path
        assert "pymac: the program's output goes to %s" % path in text
        assert open(path).read().count("MARKER ") == 20
        assert os.stat(path).st_mode & 0o777 == 0o600
    finally:
        os.unlink(path)
    # --command-output names the file
    with open(str(log), "w") as out:
        res = subprocess.run(
            [pymac, "live", "--lines", "--command-output", str(to), "--", PY312, "-c", PRINTER],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=120,
        )
    assert res.returncode == 0 and "MARKER" not in log.read_text(), tail(log.read_text())
    assert to.read_text().count("MARKER ") == 20


def test_tui_keeps_the_program_output_off_the_screen(pymac, tmp_path):
    """Under the full screen the program's prints go to a file, named in the
    title and again at exit; none reaches the screen."""
    cmd = "%s live -- %s -c %s" % (pymac, PY312, shlex.quote(PRINTER))
    t = Tmux(cmd, width=240)  # room for the whole title
    try:
        s = t.wait_for(lambda s: "targets ended" in s, 60)
        assert "MARKER" not in s, s
        assert "program output: /tmp/pymac-live-" in s, s
        t.keys("q")
        s = t.wait_for(lambda s: "output is in" in s, 20)
        m = re.search(r"pymac: the program's output is in (/tmp/pymac-live-\d+\.out)", s)
        assert m, s
        assert "MARKER" not in s, s
        try:
            assert open(m.group(1)).read().count("MARKER ") == 20
        finally:
            os.unlink(m.group(1))
    finally:
        t.kill()
