"""replay --format chrome|csv: exports of a real trace (three demonstration
modules, each in its own container), checked against the summary of the same
trace and against a model of the counters recomputed here from the events."""

import csv
import gzip
import json
import os
from collections import Counter, defaultdict

import pytest

from conftest import PYENV, PYMAC, parse_jsonl, record, run_replay, summary, tail

PHASES = {"M", "C", "X", "i"}
CHROME_RES_NS = 10 * 1000 * 1000
CSV_RES = "0.1"
CSV_RES_NS = 100 * 1000 * 1000

ALLOCS = {"py_malloc", "py_calloc", "py_realloc", "malloc", "calloc", "realloc"}
FREES = {"py_free", "free"}


def pymac_bin():
    if not os.access(str(PYMAC), os.X_OK):
        pytest.fail("%s is missing: build it with `make` first" % PYMAC)
    return str(PYMAC)


def export(trace, fmt, out, *extra):
    res = run_replay(pymac_bin(), trace, "--format", fmt, "-o", str(out), *extra)
    assert res.returncode == 0, "replay --format %s exit %d: %s" % (fmt, res.returncode, tail(res.stderr))
    assert os.path.isfile(str(out)), "replay --format %s -o %s wrote no file" % (fmt, out)
    return res


def load_chrome(path):
    with open(str(path), "rb") as f:
        data = f.read()
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as e:
        pytest.fail("the chrome export is not one JSON document (%s): %r" % (e, data[:500]))


def load_csv(path):
    with open(str(path), newline="") as f:
        rows = list(csv.reader(f))
    assert rows, "the csv export is empty"
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


@pytest.fixture(scope="module")
def trace(modules_trace):
    return modules_trace


@pytest.fixture(scope="module")
def summ(trace):
    s = summary(pymac_bin(), trace)
    names = [c["name"] for c in s["containers"] if c["runtime"] != "host"]
    assert len(names) == 3, "the modules trace should hold three containers: %r" % names
    return s


@pytest.fixture(scope="module")
def chrome_path(trace, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports") / "trace.json"
    export(trace, "chrome", out)
    return out


@pytest.fixture(scope="module")
def chrome(chrome_path):
    return load_chrome(chrome_path)


@pytest.fixture(scope="module")
def csv_rows(trace, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports") / "series.csv"
    export(trace, "csv", out, "--resolution", CSV_RES)
    return load_csv(out)


def containers(summ):
    return [c for c in summ["containers"] if c["runtime"] != "host"]


def lane_name(c):
    """What the exports call a container: its compose service, else its name."""
    return c["service"] or c["name"]


def chrome_pids(chrome, summ):
    """Container name -> the synthetic pid of its process track."""
    names = {}
    for e in chrome["traceEvents"]:
        if e["ph"] == "M" and e["name"] == "process_name":
            names[e["pid"]] = e["args"]["name"]
    out = {}
    for c in containers(summ):
        mine = [pid for pid, n in names.items() if n == lane_name(c) or n.startswith(lane_name(c) + " (")]
        assert len(mine) == 1, "container %s should have one process track, has %r (tracks %r)" % (c["name"], mine, names)
        out[c["name"]] = mine[0]
    return out


# ---- chrome


def test_chrome_structure(chrome, summ):
    assert chrome.get("displayTimeUnit") == "ms"
    assert isinstance(chrome.get("metadata"), dict), "no metadata object"
    evs = chrome["traceEvents"]
    assert evs, "no trace events"
    last = None
    for i, e in enumerate(evs):
        assert e.get("ph") in PHASES, "event %d has phase %r: %r" % (i, e.get("ph"), e)
        assert isinstance(e.get("pid"), int) and isinstance(e.get("tid"), int), e
        ts = e.get("ts")
        assert isinstance(ts, (int, float)) and ts >= 0, "event %d has no valid ts: %r" % (i, e)
        assert last is None or ts >= last, "event %d goes back in time (%r after %r): %r" % (i, ts, last, e)
        last = ts
        if e["ph"] == "X":
            assert e.get("dur", -1) >= 0, e
        if e["ph"] == "i":
            assert e.get("s") == "p", e
        if e["ph"] == "C":
            assert e.get("args") and all(isinstance(v, int) for v in e["args"].values()), e

    pids = chrome_pids(chrome, summ)
    assert len(set(pids.values())) == len(pids)
    named = Counter(e["pid"] for e in evs if e["ph"] == "M" and e["name"] == "process_name")
    for c in containers(summ):
        assert named[pids[c["name"]]] == 1, "container %s named %d times" % (c["name"], named[pids[c["name"]]])
        starts = [
            e for e in evs if e["ph"] == "i" and e["pid"] == pids[c["name"]] and e["name"] == "container start"
        ]
        stops = [e for e in evs if e["ph"] == "i" and e["pid"] == pids[c["name"]] and e["name"] == "container stop"]
        assert starts and starts[0]["args"]["name"] == c["name"], starts
        if c["stop_ns"] is not None:
            assert stops, "container %s stopped but its track has no stop" % c["name"]
        execs = [e for e in evs if e["ph"] == "i" and e["pid"] == pids[c["name"]] and e["name"].startswith("exec ")]
        exits = [e for e in evs if e["ph"] == "i" and e["pid"] == pids[c["name"]] and e["name"].startswith("exit ")]
        assert len(execs) == c["totals"]["counts"]["exec"], (c["name"], len(execs), c["totals"]["counts"])
        assert len(exits) == c["totals"]["counts"]["exit"], (c["name"], len(exits), c["totals"]["counts"])

    # every thread that has a slice has a name
    threads = {(e["pid"], e["tid"]) for e in evs if e["ph"] == "M" and e["name"] == "thread_name"}
    for e in evs:
        if e["ph"] == "X":
            assert (e["pid"], e["tid"]) in threads, "slice on an unnamed thread: %r" % e


def test_chrome_gc_slices_match_summary(chrome, summ):
    pids = chrome_pids(chrome, summ)
    evs = chrome["traceEvents"]
    for c in containers(summ):
        gc = c["totals"]["gc"]
        slices = [e for e in evs if e["ph"] == "X" and e["pid"] == pids[c["name"]] and e.get("cat") == "gc"]
        done = [e for e in slices if not e["args"].get("unfinished")]
        assert len(done) == gc["collections"], "container %s: %d gc slices, summary says %d collections" % (
            c["name"],
            len(done),
            gc["collections"],
        )
        gens = Counter(e["args"]["generation"] for e in done)
        assert [gens[0], gens[1], gens[2]] == gc["by_generation"], (c["name"], gens, gc["by_generation"])
        assert sum(e["args"]["collected"] or 0 for e in done) == gc["collected"]
        for e in done:
            assert e["args"]["source"] == gc["source"], e


def model_levels(evs, res_ns, lane_of_cgroup):
    """Per lane and bucket, the levels the exports should show at the
    bucket's end: bytes and blocks allocated and not yet freed, frees matched
    to their allocation by address within the process, what a process holds
    dropped at its exec or exit. Returns lane -> [(bucket, (py_net, libc_net,
    py_live, libc_live))] for buckets whose levels changed."""
    tables = {}
    lane_of_pid = {}
    deltas = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
    for e in evs:
        if e.get("type") == "container" or "pid" not in e:
            continue
        pid = e["pid"]
        lane = lane_of_pid.setdefault(pid, lane_of_cgroup.get(e["cgroup_id"], "pid %d" % pid))
        b = max(e["t_ns"], 0) // res_ns
        d = deltas[lane][b]
        t = tables.setdefault(pid, ({}, {}))
        k = e["kind"]

        def free(fam, addr):
            size = t[fam].pop(addr, None)
            if size is not None:
                d[fam] -= size
                d[2 + fam] -= 1

        if k in ALLOCS:
            fam = 0 if k.startswith("py_") else 1
            if k.endswith("realloc") and e["old_addr"] and (e["addr"] or not e["size"]):
                free(fam, e["old_addr"])
            if e["addr"]:
                old = t[fam].get(e["addr"])
                if old is None:
                    d[2 + fam] += 1
                    d[fam] += e["size"]
                else:
                    d[fam] += e["size"] - old
                t[fam][e["addr"]] = e["size"]
        elif k in FREES:
            free(0 if k == "py_free" else 1, e["addr"])
        elif k in ("exec", "exit"):
            for fam in (0, 1):
                d[fam] -= sum(t[fam].values())
                d[2 + fam] -= len(t[fam])
                t[fam].clear()
    out = {}
    for lane, buckets in deltas.items():
        level = [0, 0, 0, 0]
        series = []
        for b in sorted(buckets):
            new = [a + x for a, x in zip(level, buckets[b])]
            if new != level:
                series.append((b, tuple(new)))
            level = new
        out[lane] = series
    return out


def test_chrome_counters_follow_the_events(chrome, summ, trace):
    res = run_replay(pymac_bin(), trace, "--events", "--format", "jsonl")
    assert res.returncode == 0, tail(res.stderr)
    evs = parse_jsonl(res.stdout)
    lane_of_cgroup = {c["cgroup_id"]: c["name"] for c in containers(summ)}
    model = model_levels(evs, CHROME_RES_NS, lane_of_cgroup)
    pids = chrome_pids(chrome, summ)
    for c in containers(summ):
        pid = pids[c["name"]]
        samples = {}
        for e in chrome["traceEvents"]:
            if e["ph"] == "C" and e["pid"] == pid and e["name"] in ("net bytes", "live blocks"):
                samples.setdefault(e["name"], []).append((e["ts"], e["args"]["python"], e["args"]["libc"]))
        expected = model.get(c["name"], [])
        assert expected, "no allocation events in container %s" % c["name"]
        # a sample at each bucket's end where the levels changed, after one at zero
        for name, idx in (("net bytes", (0, 1)), ("live blocks", (2, 3))):
            got = samples.get(name, [])
            assert got and got[0][1:] == (0, 0), "%s of %s does not start at zero: %r" % (name, c["name"], got[:2])
            want, prev = [], (0, 0)
            for b, lv in expected:
                v = (lv[idx[0]], lv[idx[1]])
                if v != prev:
                    want.append((round((b + 1) * CHROME_RES_NS / 1000.0, 3),) + v)
                    prev = v
            assert [(round(g[0], 3), g[1], g[2]) for g in got[1:]] == want, (
                "%s of container %s differs from the events" % (name, c["name"])
            )


def test_chrome_lost_counter_matches_summary(chrome, summ):
    pids = chrome_pids(chrome, summ)
    for c in containers(summ):
        lost = [e["args"]["count"] for e in chrome["traceEvents"] if e["ph"] == "C" and e["pid"] == pids[c["name"]] and e["name"] == "lost events"]
        assert lost, "container %s has no lost events counter" % c["name"]
        assert lost[-1] == c["totals"]["lost"], (c["name"], lost[-1], c["totals"]["lost"])


def test_chrome_gzip_and_stdout_are_the_same(trace, chrome_path, tmp_path):
    gz = tmp_path / "trace.json.gz"
    export(trace, "chrome", gz)
    with open(str(gz), "rb") as f:
        assert f.read(2) == b"\x1f\x8b", "%s is not gzip" % gz
    with gzip.open(str(gz), "rb") as f:
        unpacked = f.read()
    with open(str(chrome_path), "rb") as f:
        plain = f.read()
    assert unpacked == plain, "the .gz export decodes to something else than the plain one"
    res = run_replay(pymac_bin(), trace, "--format", "chrome")
    assert res.returncode == 0, tail(res.stderr)
    assert res.stdout.encode() == plain, "the export to standard output differs from the file"


# ---- csv


def test_csv_sums_match_summary(csv_rows, summ):
    header, rows = csv_rows
    for col in (
        "time_s",
        "container",
        "py_alloc_count",
        "py_free_count",
        "py_alloc_bytes",
        "py_free_bytes",
        "py_net_bytes",
        "libc_alloc_count",
        "libc_free_count",
        "libc_net_bytes",
        "dealloc_count",
        "gc_count",
        "gc_collected",
        "gc_seconds",
        "lost",
    ):
        assert col in header, "csv header lacks %s: %r" % (col, header)
    seen = set()
    last_t = -1.0
    for r in rows:
        key = (r["time_s"], r["container"])
        assert key not in seen, "two rows for %r" % (key,)
        seen.add(key)
        t = float(r["time_s"])
        assert t >= last_t, "rows go back in time at %r" % (key,)
        last_t = t
        assert abs(t / float(CSV_RES) - round(t / float(CSV_RES))) < 1e-6, "time_s %s is no bucket start" % t

    for c in containers(summ):
        mine = [r for r in rows if r["container"] == lane_name(c)]
        assert mine, "no rows for container %s" % c["name"]

        def total(col):
            return sum(int(r[col]) for r in mine)

        counts = c["totals"]["counts"]
        gc = c["totals"]["gc"]
        assert total("py_alloc_count") == counts["py_malloc"] + counts["py_calloc"] + counts["py_realloc"]
        assert total("py_free_count") == counts["py_free"]
        assert total("libc_alloc_count") == counts["malloc"] + counts["calloc"] + counts["realloc"]
        assert total("libc_free_count") == counts["free"]
        assert total("py_alloc_bytes") == c["totals"]["bytes"]["py_alloc"]
        assert total("libc_alloc_bytes") == c["totals"]["bytes"]["malloc"]
        assert total("dealloc_count") == counts["py_dealloc"]
        assert total("gc_count") == gc["collections"]
        assert [total("gc_gen0"), total("gc_gen1"), total("gc_gen2")] == gc["by_generation"]
        assert total("gc_collected") == gc["collected"]
        assert abs(sum(float(r["gc_seconds"]) for r in mine) - gc["time_ns"] / 1e9) < 1e-6
        assert total("lost") == c["totals"]["lost"]
        # freed bytes are never more than were allocated
        assert total("py_free_bytes") <= total("py_alloc_bytes")
        # every process exited: nothing is held at the end
        assert int(mine[-1]["py_net_bytes"]) == 0 and int(mine[-1]["libc_net_bytes"]) == 0, mine[-1]


def test_csv_net_levels_follow_the_events(csv_rows, summ, trace):
    _, rows = csv_rows
    res = run_replay(pymac_bin(), trace, "--events", "--format", "jsonl")
    assert res.returncode == 0, tail(res.stderr)
    lane_of_cgroup = {c["cgroup_id"]: c["name"] for c in containers(summ)}
    model = model_levels(parse_jsonl(res.stdout), CSV_RES_NS, lane_of_cgroup)
    for c in containers(summ):
        level = (0, 0, 0, 0)
        changes = dict(model.get(c["name"], []))
        for r in (r for r in rows if r["container"] == lane_name(c)):
            b = int(round(float(r["time_s"]) / float(CSV_RES)))
            level = changes.get(b, level)
            got = tuple(int(r[k]) for k in ("py_net_bytes", "libc_net_bytes", "py_live_blocks", "libc_live_blocks"))
            assert got == level, "container %s at %s s: %r, the events say %r" % (c["name"], r["time_s"], got, level)


def test_no_footprint_without_footprint_events(chrome, csv_rows):
    """The modules trace is a full-mode one: no footprint tracks, and the
    footprint columns are there (a stable header) but empty."""
    names = {e["name"] for e in chrome["traceEvents"] if e["ph"] == "C"}
    assert not names & {"footprint", "rss"}, names
    header, rows = csv_rows
    assert header[-3:] == ["footprint_bytes", "arena_bytes", "rss_bytes"], header
    assert all(r["footprint_bytes"] == r["arena_bytes"] == r["rss_bytes"] == "" for r in rows)


# ---- footprint mode

FP_PYTHON = "%s/3.11.7/bin/python3.11" % PYENV
# Lists of dicts (pymalloc arenas, and libc's large blocks for the lists)
# that grow, then are dropped.
FP_WORKLOAD = """
import time
keep = []
for r in range(3):
    keep.append([{"a": i, "b": str(i)} for i in range(100000)])
    time.sleep(0.2)
del keep
time.sleep(0.3)
"""
FP_RES_NS = 10 * 1000 * 1000
PAGE = 4096


@pytest.fixture(scope="module")
def fp_trace(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root for BPF")
    if not os.access(FP_PYTHON, os.X_OK):
        pytest.skip("interpreter not installed: %s" % FP_PYTHON)
    trace = tmp_path_factory.mktemp("fp") / "fp.pmt"
    rec = record(pymac_bin(), trace, [FP_PYTHON, "-c", FP_WORKLOAD], extra=("--mode", "footprint"))
    assert rec.returncode == 0, rec.describe()
    return trace


@pytest.fixture(scope="module")
def fp_proc(fp_trace):
    summ = summary(pymac_bin(), fp_trace)
    py = [p for p in summ["processes"] if p.get("python_version") == "3.11"]
    assert len(py) == 1, [(p["pid"], p["comm"]) for p in summ["processes"]]
    fp = py[0].get("footprint")
    assert fp and fp["peak_bytes"] > 10 * 2**20, "the workload mapped little: %r" % fp
    assert "rss_bytes" in fp, "no RSS sample: %r" % fp
    return py[0]


class Footprint:
    """What the vm events say a process has mapped: ranges of pages, told
    apart into pymalloc arenas (a mapping of exactly the arena size) and the
    rest, plus the brk heap. Written from the event semantics in
    bpf/events.h, apart from user/model/footprint.c."""

    def __init__(self, arena_size):
        self.arena_size = arena_size
        self.ranges = []  # [start, end, is_arena], sorted, disjoint
        self.heap = 0

    def cut(self, a, b):
        out = []
        for s, e, arena in self.ranges:
            if e <= a or s >= b:
                out.append([s, e, arena])
                continue
            if s < a:
                out.append([s, a, arena])
            if e > b:
                out.append([b, e, arena])
        self.ranges = out

    def put(self, a, b, arena):
        self.cut(a, b)
        self.ranges.append([a, b, arena])
        self.ranges.sort()

    def apply(self, e):
        up = lambda n: (n + PAGE - 1) // PAGE * PAGE
        op = e["op"]
        if op == "mmap":
            if up(e["len"]):
                self.put(e["addr"], e["addr"] + up(e["len"]), e["len"] == self.arena_size)
        elif op == "munmap":
            self.cut(e["addr"], e["addr"] + up(e["len"]))
        elif op == "mremap":
            a, b = e["old_addr"], e["old_addr"] + up(e["old_len"])
            known = any(s < b and x > a for s, x, _ in self.ranges)
            self.cut(a, b)
            if known and up(e["len"]):
                self.put(e["addr"], e["addr"] + up(e["len"]), False)
        elif op == "brk":
            self.heap = max(e["addr"] - e["old_addr"], 0)

    def levels(self):
        arenas = sum(e - s for s, e, arena in self.ranges if arena)
        return arenas + sum(e - s for s, e, arena in self.ranges if not arena) + self.heap, arenas


def fp_model(evs, pid, arena_size, res_ns):
    """Bucket -> (footprint, arenas, rss) at the end of each bucket with a
    vm, rss, exec or exit event of pid; 0 once it exited."""
    fp, rss, out = Footprint(arena_size), 0, {}
    # In time order, as the export places records (file order has small
    # inversions: an RSS sample taken by user space can precede in the file
    # a vm event the ring buffer still held; the export puts each in its
    # bucket while buckets are open, so by time across a bucket edge).
    for e in sorted(evs, key=lambda e: e["ts_ns"]):
        if e.get("pid") != pid:
            continue
        k = e["kind"]
        if k == "vm":
            fp.apply(e)
        elif k == "rss":
            rss = e["rss"]
        elif k == "exec":
            fp = Footprint(arena_size)
        elif k == "exit":
            fp, rss = Footprint(arena_size), 0
        else:
            continue
        out[max(e["t_ns"], 0) // res_ns] = fp.levels() + (rss,)
    return out


def test_footprint_chrome_matches_summary(fp_trace, fp_proc, tmp_path):
    # buckets of 1 us: every change is a sample of its own
    out = tmp_path / "fp.json"
    export(fp_trace, "chrome", out, "--resolution", "0.000001")
    evs = load_chrome(out)["traceEvents"]
    fp = [e for e in evs if e["ph"] == "C" and e["name"] == "footprint"]
    rss = [e for e in evs if e["ph"] == "C" and e["name"] == "rss"]
    assert fp and rss, "no footprint or rss counter"
    assert len({e["pid"] for e in fp + rss}) == 1
    want = fp_proc["footprint"]
    total = [sum(e["args"].values()) for e in fp]
    assert total[0] == 0 and total[-1] == 0, "footprint should start and end (exit) at 0: %r" % total[:3]
    assert max(total) == want["peak_bytes"], (max(total), want)
    # the summary keeps what the process had mapped when it exited; the
    # export drops it at the exit: the sample before is that
    last = fp[-2]["args"]
    assert (last["arenas"], last["mmap"], last["heap"]) == (
        want["arena_bytes"],
        want["mmap_bytes"],
        want["heap_bytes"],
    ), (last, want)
    totals = [e["args"]["total"] for e in rss]
    assert rss[-1]["args"] == {"total": 0, "anon": 0}
    assert max(totals) == want["rss_peak_bytes"]
    assert rss[-2]["args"] == {"total": want["rss_bytes"], "anon": want["rss_anon_bytes"]}, (rss[-2], want)


def test_footprint_csv_follows_the_events(fp_trace, fp_proc, tmp_path):
    out = tmp_path / "fp.csv"
    export(fp_trace, "csv", out, "--resolution", "0.01")
    header, rows = load_csv(out)
    assert header[-3:] == ["footprint_bytes", "arena_bytes", "rss_bytes"], header
    mine = [r for r in rows if r["container"].startswith("pid %d " % fp_proc["pid"])]
    assert mine, "no rows for pid %d" % fp_proc["pid"]
    res = run_replay(pymac_bin(), fp_trace, "--events", "--format", "jsonl")
    assert res.returncode == 0, tail(res.stderr)
    evs = parse_jsonl(res.stdout)
    model = fp_model(evs, fp_proc["pid"], fp_proc["footprint"]["arena_size"], FP_RES_NS)
    first_vm = min(max(e["t_ns"], 0) // FP_RES_NS for e in evs if e.get("kind") == "vm")
    first_rss = min(max(e["t_ns"], 0) // FP_RES_NS for e in evs if e.get("kind") == "rss")
    level, checked = (0, 0, 0), 0
    for r in mine:
        b = int(round(float(r["time_s"]) / 0.01))
        level = model.get(b, level)
        if b < first_vm:
            assert r["footprint_bytes"] == r["arena_bytes"] == "", r
        else:
            got = (int(r["footprint_bytes"]), int(r["arena_bytes"]))
            assert got == level[:2], "at %s s: footprint, arenas %r, the events say %r" % (r["time_s"], got, level[:2])
            assert got[0] <= fp_proc["footprint"]["peak_bytes"]
            checked += 1
        if b < first_rss:
            assert r["rss_bytes"] == "", r
        else:
            assert int(r["rss_bytes"]) == level[2], "at %s s: rss %s, the events say %d" % (r["time_s"], r["rss_bytes"], level[2])
    assert checked >= 10, "too few rows with a footprint: %d" % checked
    assert max(int(r["arena_bytes"] or 0) for r in mine) > 0, "no arena seen"
    assert int(mine[-1]["footprint_bytes"]) == 0 and int(mine[-1]["rss_bytes"]) == 0, mine[-1]


# ---- bad inputs


def leftovers(d):
    return sorted(p.name for p in d.iterdir())


@pytest.mark.parametrize("fmt", ["chrome", "csv"])
def test_missing_trace(tmp_path, fmt):
    out = tmp_path / "out"
    res = run_replay(pymac_bin(), tmp_path / "nothing.pmt", "--format", fmt, "-o", str(out))
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pymac: "), res.stderr
    assert leftovers(tmp_path) == [], leftovers(tmp_path)


@pytest.mark.parametrize("fmt", ["chrome", "csv"])
def test_unwritable_output(trace, tmp_path, fmt):
    for out in (tmp_path / "no-such-dir" / "out.json", "/proc/pymac-export-test.json"):
        res = run_replay(pymac_bin(), trace, "--format", fmt, "-o", str(out))
        assert res.returncode != 0, "exporting to %s succeeded" % out
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pymac: ") and str(out) in lines[0], res.stderr
        assert not os.path.exists(str(out))
    assert leftovers(tmp_path) == [], leftovers(tmp_path)


@pytest.mark.parametrize("fmt", ["chrome", "csv"])
def test_truncated_trace_still_exports(trace, tmp_path, fmt):
    cut = tmp_path / "half.pmt"
    with open(str(trace), "rb") as f:
        data = f.read()
    with open(str(cut), "wb") as f:
        f.write(data[: len(data) // 2])
    out = tmp_path / ("out." + ("json" if fmt == "chrome" else "csv"))
    res = run_replay(pymac_bin(), cut, "--format", fmt, "-o", str(out))
    assert res.returncode == 0, "export of a cut trace failed (exit %d): %s" % (res.returncode, tail(res.stderr))
    assert "warning" in res.stderr, "no warning about the cut trace: %r" % res.stderr
    if fmt == "chrome":
        doc = load_chrome(out)
        ts = [e["ts"] for e in doc["traceEvents"]]
        assert ts == sorted(ts)
    else:
        header, rows = load_csv(out)
        assert header[0] == "time_s"
    assert leftovers(tmp_path) == sorted([cut.name, out.name])
