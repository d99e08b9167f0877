"""What the reports say, for real traces (issue 21, items 3 and 4).

- The sentence about frees whose allocation was not seen names the cause that
  applies: "before tracing began" for a process pymac attached to (-p PID),
  and for a command traced from its first instruction what of the allocator
  was not seen, by name.
- A compose-like trace of two containers, whose shells run Python again and
  again with a sleep between, has one text section per container and folds
  the processes with no Python and no events (sh's sleeps, docker-init) into
  one line; the HTML states each coverage gap once per binary, with its pids.
"""

import html
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

from conftest import (
    DEBIAN_PYTHON,
    LineReader,
    docker_image,  # noqa: F401 (fixture)
    record,
    run_replay,
    sh,
    stop,
    summary,
    tail,
)


def text_summary(pymac, trace):
    res = run_replay(pymac, trace, "--summary")
    assert res.returncode == 0, tail(res.stderr)
    # wrapped lines joined: a sentence is searched whole
    return re.sub(r"\n {3,}", " ", res.stdout)


def html_report(pymac, trace, out):
    res = run_replay(pymac, trace, "--format", "html", "-o", str(out))
    assert res.returncode == 0, tail(res.stderr)
    return out.read_text()


def unmatched_lines(text):
    return [l for l in text.splitlines() if l.startswith("  unmatched ")]


def html_unmatched(page):
    return [html.unescape(m) for m in re.findall(r'<div class="note[^"]*">([^<]*frees? of blocks whose allocation[^<]*)</div>', page)]


def test_unmatched_cause_of_a_command(pymac, tmp_path):
    trace = tmp_path / "cmd.pmt"
    rec = record(pymac, trace, [DEBIAN_PYTHON, "-c", "x = [str(i) for i in range(20000)]; del x"])
    assert rec.returncode == 0, rec.describe()
    summ = summary(pymac, trace)
    procs = [p for p in summ["processes"] if p["unmatched_frees"]]
    # Debian's LTO build inlines pymalloc: some frees are always unmatched
    assert procs, "no unmatched frees to explain: %r" % [(p["pid"], p["unmatched_frees"]) for p in summ["processes"]]
    for p in procs:
        assert p["origin"] == ["started"], p["origin"]
        assert "before tracing began" not in p["unmatched_cause"], p["unmatched_cause"]
        assert p["unmatched_cause"].startswith("traced from its start: ")
        # the allocator behind the frees is named
        assert ("pymalloc" if p["unmatched_py_frees"] else "libc") in p["unmatched_cause"], p["unmatched_cause"]

    text = text_summary(pymac, trace)
    lines = unmatched_lines(text)
    assert len(lines) == len(procs), text
    for l in lines:
        assert "traced from its start: " in l and "before tracing began" not in l, l
    page = html_report(pymac, trace, tmp_path / "cmd.html")
    notes = html_unmatched(page)
    assert notes, "the HTML report says nothing of the unmatched frees"
    for n in notes:
        assert "traced from its start: " in n and "before tracing began" not in n, n


HOLDER = (
    "import sys\n"
    "held = [bytes(20000) for _ in range(2000)]\n"
    "print('ready', flush=True)\n"
    "sys.stdin.readline()\n"
    "del held\n"
    "print('freed', flush=True)\n"
    "sys.stdin.readline()\n"
)


def test_unmatched_cause_of_an_attached_process(pymac, tmp_path):
    trace = tmp_path / "attached.pmt"
    target = subprocess.Popen(
        [DEBIAN_PYTHON, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True
    )
    out = LineReader(target.stdout)
    proc = None
    try:
        assert out.wait_for(lambda l: l.startswith("ready"), 60), "the target did not start"
        proc = subprocess.Popen(
            [pymac, "record", "-o", str(trace), "-p", str(target.pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )
        err = LineReader(proc.stderr)
        assert err.wait_for(lambda l: l.startswith("pymac: tracing"), 60), tail(err.text())
        # the blocks it holds were allocated before pymac attached
        target.stdin.write("free\n")
        target.stdin.flush()
        assert out.wait_for(lambda l: l.startswith("freed"), 60), "the target did not free"
        time.sleep(0.5)
        assert stop(proc, signal.SIGINT, 30) == 0, tail(err.text())
    finally:
        if proc:
            stop(proc)
        stop(target)
    summ = summary(pymac, trace)
    p = [p for p in summ["processes"] if p["pid"] == target.pid][0]
    assert p["unmatched_frees"] >= 1000, p["unmatched_frees"]
    assert p["origin"] == ["attached"], p["origin"]
    assert p["unmatched_cause"].startswith("made before tracing began, as pymac attached to it while it ran")
    lines = unmatched_lines(text_summary(pymac, trace))
    assert len(lines) == 1 and "made before tracing began" in lines[0], lines
    notes = html_unmatched(html_report(pymac, trace, tmp_path / "attached.html"))
    assert len(notes) == 1 and "made before tracing began" in notes[0], notes


# ---- a compose-like trace of two containers

COMPOSE = """\
x-svc: &svc
  image: {image}
  init: true
  network_mode: none
  stop_grace_period: 1s
  entrypoint:
    - /bin/sh
    - -c
    - |
      while :; do
        /usr/bin/python3 -c 'x = [str(i) for i in range(5000)]'
        sleep 0.3
      done
services:
  web:
    <<: *svc
  worker:
    <<: *svc
"""


@pytest.fixture(scope="module")
def compose_trace(docker_image, tmp_path_factory):  # noqa: F811 (fixture)
    from conftest import PYMAC

    if os.geteuid() != 0:
        pytest.skip("needs root for BPF")
    tmp = tmp_path_factory.mktemp("compose")
    (tmp / "docker-compose.yml").write_text(COMPOSE.format(image=docker_image))
    project = "pymacnoise" + uuid.uuid4().hex[:6]
    compose = ["docker-compose", "-p", project, "-f", str(tmp / "docker-compose.yml")]
    trace = tmp / "compose.pmt"
    # deallocations probed at their entry only: every Python of the image has
    # the same partial dealloc source, a gap the HTML must state once
    proc = subprocess.Popen(
        [str(PYMAC), "record", "-o", str(trace), "--compose-project", project],
        env=dict(os.environ, PYMAC_DEALLOC_SITES="entry"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    err = LineReader(proc.stderr)
    try:
        assert err.wait_for(lambda l: l.startswith("pymac: tracing"), 60), tail(err.text())
        sh(compose + ["up", "-d"], timeout=180)
        joined = 0
        while joined < 2 and err.wait_for(lambda l: "joined" in l, 30):
            joined += 1
        assert joined == 2, tail(err.text())
        time.sleep(4)  # several runs of each loop: a Python and a sleep each
        sh(compose + ["down", "-t", "1"], timeout=180)
        time.sleep(1)
    finally:
        rc = stop(proc, signal.SIGINT, 30)
        subprocess.run(compose + ["down", "-t", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert rc == 0, tail(err.text())
    return str(PYMAC), trace, project, tmp


def test_compose_summary_one_section_per_container_folds_empty(compose_trace):
    pymac, trace, project, _ = compose_trace
    summ = summary(pymac, trace)
    conts = [c for c in summ["containers"] if c.get("project") == project]
    assert sorted(c["service"] for c in conts) == ["web", "worker"], summ["containers"]
    text = text_summary(pymac, trace)
    heads = [m.start() for m in re.finditer(r"^container ", text, re.M)] + [len(text)]
    assert len(heads) == 3, text[:2000]
    for c in conts:
        # no Python, nothing but their life and libc calls, nothing lost or unmatched
        empty = [
            p
            for p in c["processes"]
            if not p["python"]
            and not p["python_version"]
            and not p["unmatched_frees"]
            and not any(p["lost_by_kind"].values())
            and not any(v for k, v in p["counts"].items() if k not in ("exec", "exit", "malloc", "calloc", "realloc", "free"))
        ]
        assert len(empty) >= 2, "no sleep or docker-init in %s: %r" % (c["name"], [p["comm"] for p in c["processes"]])
        mine = [i for i in range(2) if text[heads[i] :].startswith("container " + c["name"] + " ")]
        assert len(mine) == 1, "container %s has %d sections" % (c["name"], len(mine))
        section = text[heads[mine[0]] : heads[mine[0] + 1]]
        folds = re.findall(r"^(\d+) other process(?:es)? with no Python and no events[^:]*: (.*)$", section, re.M)
        assert len(folds) == 1, section[-3000:]
        assert int(folds[0][0]) == len(empty), (folds, [p["comm"] for p in empty])
        assert "sleep" in folds[0][1], folds
        # none of them has a section of its own
        for p in empty:
            assert not re.search(r"^pid %d " % p["pid"], section, re.M), p
        # every Python has its own
        for p in c["processes"]:
            if p["python_version"]:
                assert re.search(r"^pid %d " % p["pid"], section, re.M), p["pid"]


def test_compose_html_states_each_coverage_gap_once(compose_trace):
    pymac, trace, project, tmp = compose_trace
    summ = summary(pymac, trace)
    gaps = {}
    for p in summ["processes"]:
        for name, s in (p.get("sources") or {}).items():
            py = p["python"] or p["python_version"]
            if s["status"] == "partial" or (s["status"] == "none" and py):
                key = (p["python"] or p["exe"], name, s["status"], s["detail"])
                gaps.setdefault(key, []).append(p["pid"])
    # the image's Python is probed in part (or not at all) somewhere: a
    # trace without gaps would prove nothing here
    assert gaps and max(len(v) for v in gaps.values()) >= 2, gaps
    page = html_report(pymac, trace, tmp / "compose.html")
    warns = "".join(re.findall(r'<div class="warn".*?</div>', page, re.S))
    top = re.findall(r'<li id="cov-\d+" class="gap"[^>]*>(.*?)</li>', page, re.S)
    assert len(top) == len(gaps), (len(top), list(gaps))
    for (binary, name, status, detail), pids in gaps.items():
        said = html.escape(detail, quote=True)
        assert warns.count(said) == 1, "%s %s stated %d times" % (name, status, warns.count(said))
        # the tables of processes give it once per container, for all its processes alike
        groups = len(re.findall(r'<section class="group"', page))
        assert page.count(said) <= 1 + groups, "%s %s: %d times on the page" % (name, status, page.count(said))
        item = [t for t in top if said in t and "<b>%s %s</b>" % (name, status) in t]
        assert len(item) == 1, (name, status)
        assert html.escape(binary, quote=True) in item[0]
        for pid in pids:
            assert re.search(r"\b%d \(" % pid, item[0]), (pid, item[0][:300])
