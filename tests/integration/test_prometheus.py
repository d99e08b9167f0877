"""`pymac live --prometheus`: /metrics scraped during a real live session.

The page is parsed with prometheus_client's own text parser (Debian's
python3-prometheus-client), so a format slip fails the test; its counters
must rise while the workload runs and end at what the trace says.
"""

import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import LineReader, stop, summary, tail

parser = pytest.importorskip(
    "prometheus_client.parser", reason="python3-prometheus-client is not installed (scripts/install-deps.sh)"
)

PY312 = "/root/.pyenv/versions/3.12.1/bin/python3.12"

ROUNDS = 6

# Collections and allocations in rounds. Each round waits for the test's
# go (a file goN in argv[1]): the first until pymac has attached to the
# interpreter (sh execs it, so it runs before its probes are on), each next
# one, and the end, until the test has scraped the round before, however
# slow the machine.
WORKLOAD = """
import gc, os, sys, time
for i in range(%d + 1):
    while not os.path.exists(os.path.join(sys.argv[1], "go%%d" %% i)):
        time.sleep(0.02)
    if i == %d:
        break  # the last round was scraped: the session may end
    junk = [[j, str(j)] for j in range(2000)]
    cycle = []; cycle.append(cycle)
    del junk, cycle
    gc.collect()
""" % (ROUNDS, ROUNDS)


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        ctype = r.headers.get("Content-Type", "")
        assert ctype.startswith("text/plain; version=0.0.4"), ctype
        text = r.read().decode()
    samples = {}
    for fam in parser.text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def total(samples, name, **labels):
    return sum(
        v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == w for k, w in labels.items())
    )


def test_metrics_rise_while_the_workload_runs(pymac, tmp_path):
    trace = tmp_path / "prom.pmt"
    gates = tmp_path / "gates"
    gates.mkdir()
    proc = subprocess.Popen(
        [pymac, "live", "--lines", "--prometheus", "127.0.0.1:0", "--record", str(trace), "--"]
        + ["sh", "-c", 'exec "$0" -c "$1" "$2" >/dev/null', PY312, WORKLOAD, str(gates)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    try:
        err = LineReader(proc.stderr)
        line = err.wait_for(lambda l: "serving metrics at" in l, 60)
        assert line, "no 'serving metrics at' line: %s" % err.text()
        url = re.search(r"(http://\S+/metrics)", line).group(1)
        # loopback only, as asked
        assert url.startswith("http://127.0.0.1:"), url
        # the interpreter's collector is attached: its coverage line
        line = err.wait_for(lambda l: re.match(r"pymac: pid \d+: gc: full: .*libpython3\.12", l), 120)
        assert line, "pymac never attached to the interpreter's collector: %s" % tail(err.text())
        seen = []
        for i in range(ROUNDS):
            (gates / ("go%d" % i)).touch()
            # wait for what round i did: its collection (gen 2, by
            # gc.collect), then let the workload go on
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, "live ended before round %d was scraped: %s" % (i, tail(err.text()))
                got = scrape(url)
                if total(got, "pymac_gc_collections_total", generation="2") >= i + 1:
                    break
                assert time.monotonic() < deadline, "round %d never showed in /metrics" % i
                time.sleep(0.1)
            seen.append(got)
        (gates / ("go%d" % ROUNDS)).touch()
        proc.wait(timeout=120)
        err.join()
    finally:
        stop(proc)
    assert proc.returncode == 0, tail(err.text())
    assert all(total(s, "pymac_events_total", kind="py_malloc") > 0 for s in seen)
    first, last = seen[0], seen[-1]
    # counters rise as the workload runs, and never fall
    for name, labels in [
        ("pymac_events_total", {"kind": "py_malloc"}),
        ("pymac_events_total", {"kind": "gc_done"}),
        ("pymac_gc_collections_total", {}),
        ("pymac_allocated_bytes_total", {"allocator": "python"}),
        ("pymac_events_received_total", {}),
    ]:
        values = [total(s, name, **labels) for s in seen]
        assert values == sorted(values), (name, labels, values)
        assert values[-1] > values[0], (name, labels, values)
    # one lane, the python process, described by pymac_lane_info
    info = [dict(ls) for (n, ls), v in last.items() if n == "pymac_lane_info"]
    assert any(i["lane_kind"] == "process" and i["interpreter"] == "python 3.12" for i in info), info
    # the last scrape is at most what the whole trace holds
    summ = summary(pymac, trace)
    py = [p for p in summ["processes"] if p.get("python_version") == "3.12"]
    assert len(py) == 1
    gen = py[0]["gc"]["by_generation"]
    for g in range(3):
        assert total(last, "pymac_gc_collections_total", generation=str(g)) <= gen[g]
    assert total(last, "pymac_events_total", kind="py_malloc") <= py[0]["counts"]["py_malloc"]
    assert total(last, "pymac_lost_events_all_total") == 0


# Memory that grows in steps and is let go, slowly enough for scrapes between.
FP_WORKLOAD = """
import time
keep = []
for i in range(6):
    keep.append([{"a": j, "b": str(j)} for j in range(60000)])
    time.sleep(0.4)
del keep
time.sleep(0.8)
"""


def live_scrapes(pymac, trace, extra, workload):
    """Run `pymac live --prometheus` on workload; the scrapes made while it
    ran (every 0.3 s)."""
    proc = subprocess.Popen(
        [pymac, "live", "--lines", "--prometheus", "127.0.0.1:0", "--record", str(trace)]
        + list(extra)
        + ["--", "sh", "-c", 'exec "$0" -c "$1" >/dev/null', PY312, workload],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    seen = []
    try:
        err = LineReader(proc.stderr)
        line = err.wait_for(lambda l: "serving metrics at" in l, 60)
        assert line, "no 'serving metrics at' line: %s" % err.text()
        url = re.search(r"(http://\S+/metrics)", line).group(1)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                seen.append(scrape(url))
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                proc.wait(timeout=15)
                break
            time.sleep(0.3)
        proc.wait(timeout=60)
        err.join()
    finally:
        stop(proc)
    assert proc.returncode == 0, tail(err.text())
    return seen


def test_footprint_gauges(pymac, tmp_path):
    trace = tmp_path / "fp.pmt"
    seen = live_scrapes(pymac, trace, ["--mode", "footprint"], FP_WORKLOAD)
    fp = [total(s, "pymac_footprint_bytes", lane_kind="process") for s in seen]
    rss = [total(s, "pymac_rss_bytes", lane_kind="process") for s in seen]
    assert sum(1 for v in fp if v > 0) >= 3, "fewer than 3 scrapes saw a footprint: %r" % fp
    assert sum(1 for v in rss if v > 0) >= 3, "fewer than 3 scrapes saw an RSS: %r" % rss
    # the gauges are per lane, labelled like every other series
    # (one lane: the process's; a scrape made before its exec names it
    # after the shell it was, "pid N sh", the later ones "pid N python3.12")
    lanes = {dict(ls)["lane"] for s in seen for (n, ls) in s if n == "pymac_footprint_bytes"}
    assert lanes and all(l.startswith("pid ") for l in lanes), lanes
    assert len({l.split()[1] for l in lanes}) == 1, lanes
    assert any(l.endswith(" python3.12") for l in lanes), lanes
    # never more than the trace says the process reached
    summ = summary(pymac, trace)
    py = [p for p in summ["processes"] if p.get("python_version") == "3.12"]
    assert len(py) == 1 and py[0].get("footprint"), summ["processes"]
    want = py[0]["footprint"]
    assert max(fp) <= want["peak_bytes"], (max(fp), want)
    assert max(rss) <= want["rss_peak_bytes"], (max(rss), want)
    # the workload holds some 100 MiB at its peak: a scrape sees a good part
    assert max(fp) >= 20 * 2**20, fp
    # no allocator probes in this mode: the nets stay 0
    assert all(total(s, "pymac_net_bytes") == 0 for s in seen)


def test_no_footprint_gauges_in_full_mode(pymac, tmp_path):
    trace = tmp_path / "full.pmt"
    seen = live_scrapes(pymac, trace, [], "import time; x = [str(i) for i in range(10000)]; time.sleep(1.5)")
    assert seen
    for s in seen:
        assert not [n for (n, _) in s if n in ("pymac_footprint_bytes", "pymac_rss_bytes")]


def test_bad_prometheus_addresses_fail_before_tracing(pymac, tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        for spec, words in [
            ("nonsense", "expected PORT"),
            ("127.0.0.1:99999", "expected PORT"),
            ("127.0.0.1:%d" % port, "Address already in use"),
        ]:
            trace = tmp_path / ("x%d.pmt" % abs(hash(spec)))
            res = subprocess.run(
                [pymac, "live", "--lines", "--prometheus", spec, "--record", str(trace), "--", PY312, "-c", "pass"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                universal_newlines=True,
                timeout=60,
            )
            assert res.returncode != 0, (spec, res.stderr)
            lines = [l for l in res.stderr.splitlines() if l.strip()]
            assert len(lines) == 1 and words in lines[0], (spec, res.stderr)
    finally:
        busy.close()
