"""The node agent: `pymac record --prometheus`, scraped by a real Prometheus
server (Debian's `prometheus`, run here on 127.0.0.1 with its own storage,
never the system service), trace files that rotate and each replay on their
own, and a clean stop on SIGTERM.

The comparison with Prometheus cannot be flaky: the workload stops
allocating (it sleeps in one call) and says so; the test waits until
Prometheus holds two scrapes taken well after that, equal to each other;
then pymac is stopped and every per-lane counter Prometheus has must equal
what the trace's `replay --summary --json` says, exactly.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import LineReader, stop, summary, tail

PROMETHEUS = "/usr/bin/prometheus"
PY312 = "/root/.pyenv/versions/3.12.1/bin/python3.12"
SCRAPE_S = 1.0

# Waits for the test's go (a file), makes objects, cycles and collections,
# says it is done (a file) and sleeps in one call: no event after that.
WORKLOAD = """
import gc, os, sys, time
gates = sys.argv[1]
while not os.path.exists(os.path.join(gates, "go")):
    time.sleep(0.02)
for r in range(%d):
    junk = [[j, str(j), {"k": j}] for j in range(20000)]
    cycle = []; cycle.append(cycle)
    del junk, cycle
    gc.collect()
    time.sleep(0.05)
open(os.path.join(gates, "done"), "w").close()
time.sleep(600)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, cond, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(step)


def start_workload(gates, rounds):
    return subprocess.Popen(
        [PY312, "-c", WORKLOAD % rounds, str(gates)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_agent(pymac, args):
    """pymac record ARGS; its stderr reader and /metrics address once it serves."""
    proc = subprocess.Popen(
        [pymac, "record"] + args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    err = LineReader(proc.stderr)
    line = err.wait_for(lambda l: "serving metrics at" in l, 60)
    if not line:
        stop(proc)
        pytest.fail("no 'serving metrics at' line: %s" % tail(err.text()))
    addr = re.search(r"http://(\S+)/metrics", line).group(1)
    if not err.wait_for(lambda l: l.startswith("pymac: tracing"), 120):
        stop(proc)
        pytest.fail("pymac never said what it traces: %s" % tail(err.text()))
    return proc, err, addr


class Prometheus:
    """A Prometheus server of the test's own, scraping target every second."""

    def __init__(self, tmp, target):
        if not os.access(PROMETHEUS, os.X_OK):
            pytest.skip("prometheus is not installed (scripts/install-deps.sh)")
        self.port = free_port()
        cfg = tmp / "prometheus.yml"
        cfg.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: pymac\n"
            "    static_configs:\n"
            "      - targets: ['%s']\n" % target
        )
        self.log = open(str(tmp / "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                "--config.file=%s" % cfg,
                "--storage.tsdb.path=%s" % (tmp / "tsdb"),
                "--web.listen-address=127.0.0.1:%d" % self.port,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for("prometheus to be ready", self.ready, 60, 0.2)

    def ready(self):
        assert self.proc.poll() is None, "prometheus exited: %s" % self.logtext()
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return tail(f.read())

    def query(self, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def close(self):
        stop(self.proc)
        self.log.close()


def sample_map(result):
    """{(metric name, frozenset of pymac's labels): value} of a query's vector."""
    out = {}
    for s in result:
        labels = {k: v for k, v in s["metric"].items() if k not in ("__name__", "job", "instance")}
        out[(s["metric"]["__name__"], frozenset(labels.items()))] = float(s["value"][1])
    return out


def lane_value(samples, name, lane, **labels):
    want = dict(labels, lane=lane)
    hits = [v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == w for k, w in want.items())]
    assert len(hits) == 1, (name, want, hits)
    return hits[0]


def run_agent(pymac, tmp_path, rounds, args, serving=None, at_end=None):
    """pymac record ARGS -p WORKLOAD: serving(addr) once it serves (before
    the workload goes), at_end(addr, done_time) once the workload has
    stopped allocating; then SIGTERM, which must end pymac with 0 and leave
    the target running. Returns pymac's stderr, the workload's pid and what
    at_end returned."""
    gates = tmp_path / "gates"
    gates.mkdir()
    work = start_workload(gates, rounds)
    agent = err = None
    cleanup = []
    try:
        agent, err, addr = start_agent(pymac, args + ["-p", str(work.pid)])
        if serving:
            cleanup.append(serving(addr))
        (gates / "go").touch()
        wait_for("the workload's end", lambda: (gates / "done").exists() or work.poll() is not None, 300)
        assert work.poll() is None, "the workload died"
        got = at_end(addr, time.time()) if at_end else None
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=60) == 0, tail(err.text())
        err.join()
        assert work.poll() is None, "the target did not outlive pymac's detach"
    finally:
        for p in (agent, work):
            if p:
                stop(p)
        for c in cleanup:
            c.close()
    return err.text(), work.pid, got


def test_real_prometheus_matches_the_trace(pymac, tmp_path):
    trace = tmp_path / "agent.pmt"
    prom = []

    def serving(addr):
        prom.append(Prometheus(tmp_path, addr))
        return prom[0]

    # two scrapes after the end (pymac has read its ring buffer within
    # 100 ms of an event; a page lives 250 ms), the same both times
    def settled(done):
        ts = prom[0].query("timestamp(pymac_events_received_total)")
        if not ts or float(ts[0]["value"][1]) < done + 2 * SCRAPE_S:
            return None
        got = sample_map(prom[0].query('{job="pymac",__name__=~"pymac_.*"}'))
        time.sleep(SCRAPE_S * 1.5)
        again = sample_map(prom[0].query('{job="pymac",__name__=~"pymac_.*"}'))
        return got if got == again else None

    err, pid, samples = run_agent(
        pymac,
        tmp_path,
        8,
        ["-o", str(trace), "--prometheus", "127.0.0.1:0"],
        serving,
        lambda addr, done: wait_for("two equal scrapes after the workload's end", lambda: settled(done), 60, 0.5),
    )
    assert re.search(r"pymac: wrote .*agent\.pmt: \d+ events, 0 lost", err), tail(err)

    summ = summary(pymac, trace)
    assert summ["trace"]["complete"], summ["trace"]
    lanes = [l for l in summ["lanes"] if l["kind"] == "process"]
    assert len(lanes) == 1, summ["lanes"]
    lane = lanes[0]
    tot = lane["totals"]
    assert tot["counts"]["py_malloc"] > 50000 and tot["gc"]["collections"] >= 8, tot
    name = lane["name"]
    assert str(pid) in name
    for kind, n in tot["counts"].items():
        assert lane_value(samples, "pymac_events_total", name, kind=kind) == n, kind
    for allocator, alloc, freed in [("python", "py_alloc", "py_freed"), ("libc", "malloc", "malloc_freed")]:
        got = lane_value(samples, "pymac_allocated_bytes_total", name, allocator=allocator)
        assert got == tot["bytes"][alloc], allocator
        got = lane_value(samples, "pymac_freed_bytes_total", name, allocator=allocator)
        assert got == tot["bytes"][freed], allocator
    for g, n in enumerate(tot["gc"]["by_generation"]):
        assert lane_value(samples, "pymac_gc_collections_total", name, generation=str(g)) == n, g
    assert lane_value(samples, "pymac_gc_collected_objects_total", name) == tot["gc"]["collected"]
    assert lane_value(samples, "pymac_lost_events_total", name) == 0
    assert samples[("pymac_events_received_total", frozenset())] == summ["trace"]["events"]
    assert samples[("pymac_lost_events_all_total", frozenset())] == 0


def scrape_page(addr, done):
    time.sleep(1.0)
    with urllib.request.urlopen("http://%s/metrics" % addr, timeout=10) as r:
        return r.read().decode()


def test_rotated_files_each_replay_and_add_up(pymac, tmp_path):
    """--rotate-mb 1: every file is a complete trace with the process and its
    coverage, and the files' counts add up to what /metrics said at the end."""
    trace = tmp_path / "rot.pmt"
    err, pid, page = run_agent(
        pymac,
        tmp_path,
        12,
        ["-o", str(trace), "--rotate-mb", "1", "--keep", "50", "--prometheus", "127.0.0.1:0"],
        at_end=scrape_page,
    )
    files = sorted(tmp_path.glob("rot*.pmt"))
    assert len(files) >= 3, (files, tail(err))
    names = {f.name for f in files}
    assert names == {"rot.pmt"} | {"rot.%d.pmt" % i for i in range(1, len(files))}, names
    want = {}
    for line in page.splitlines():
        m = re.match(r'pymac_events_total\{lane="[^"]*",lane_kind="process",kind="(\w+)"\} (\d+)$', line)
        if m:
            want[m.group(1)] = int(m.group(2))
    assert want.get("py_malloc", 0) > 100000, page[:2000]
    got = {}
    total_events = 0
    for f in files:
        s = summary(pymac, f)
        assert s["trace"]["complete"], (f, s["trace"])
        total_events += s["trace"]["events"]
        procs = [p for p in s["processes"] if p["pid"] == pid]
        assert len(procs) == 1, (f, [p["pid"] for p in s["processes"]])
        p = procs[0]
        # described in every file: the interpreter and what each source sees
        assert p["python_version"] == "3.12" and p["exe"].endswith("python3.12"), (f, p)
        assert p["sources"]["pymalloc"]["status"] == "full", (f, p["sources"])
        for kind, n in p["counts"].items():
            got[kind] = got.get(kind, 0) + n
    for kind, n in want.items():
        assert got.get(kind, 0) == n, (kind, got, want)
    assert "wrote %s: %d events" % (trace, total_events) in err, tail(err)


def test_rotation_keeps_at_most_keep_files(pymac, tmp_path):
    trace = tmp_path / "k.pmt"
    err, _, _ = run_agent(
        pymac, tmp_path, 10, ["-o", str(trace), "--rotate-mb", "1", "--keep", "2", "--prometheus", "0"]
    )
    names = sorted(f.name for f in tmp_path.glob("k*.pmt"))
    assert names == ["k.1.pmt", "k.2.pmt", "k.pmt"], (names, tail(err))
    for n in names:
        assert summary(pymac, tmp_path / n)["trace"]["complete"], n


@pytest.mark.parametrize(
    "args, words",
    [
        (["--keep", "3"], "needs --rotate-mb"),
        (["--rotate-mb", "0"], "--rotate-mb wants a whole number"),
        (["--rotate-mb", "1.5"], "--rotate-mb wants a whole number"),
        (["--rotate-mb", "-2"], "--rotate-mb wants a whole number"),
        (["--rotate-mb", "1", "--keep", "0"], "--keep wants a whole number"),
        (["--prometheus", "nonsense"], "expected PORT"),
    ],
)
def test_bad_agent_options(pymac, tmp_path, args, words):
    res = subprocess.run(
        [pymac, "record", "-o", str(tmp_path / "x.pmt")] + args + ["--", PY312, "-c", "pass"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    assert res.returncode != 0, res.stderr
    assert words in res.stderr.splitlines()[0], res.stderr


def test_rotation_wants_a_file(pymac):
    res = subprocess.run(
        [pymac, "record", "-o", "-", "--rotate-mb", "1", "--", PY312, "-c", "pass"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    assert res.returncode != 0 and "needs a file" in res.stderr.splitlines()[0], res.stderr
