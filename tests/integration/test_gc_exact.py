"""GC exactness: pymac's gc events agree with the interpreter's own gc.callbacks,
on builds with every symbol and on the shapes people really run: no USDT, no
.symtab, no debug info (the official python:3.x-slim images' shape)."""

import json

import pytest

from conftest import (
    Shape,
    official_tree,
    slim_debian,
    stripped_pyenv,
    INTERPRETERS,
    child_process,
    events,
    interp_params,
    module,
    record,
    require_interp,
    source_status,
    summary,
)

def find_run(haystack, needle):
    """Indices where needle occurs in haystack as a contiguous run."""
    n = len(needle)
    return [i for i in range(len(haystack) - n + 1) if haystack[i : i + n] == needle]


def best_alignment(haystack, needle):
    """(index, matching prefix length) of the longest prefix match, to
    explain a failure."""
    best = (0, 0)
    for i in range(len(haystack)):
        k = 0
        while k < len(needle) and i + k < len(haystack) and haystack[i + k] == needle[k]:
            k += 1
        if k > best[1]:
            best = (i, k)
    return best


def check_gc_exact(pymac, tmp_path, shape, min_collections=10):
    """Record test_gc_callbacks.py under shape; pymac's gc_done events must
    hold the callbacks' collections as one run, with the same generation,
    collected and uncollectable counts, and the gc source must be full."""
    trace = tmp_path / "gc.pmt"
    log = tmp_path / "gc-callbacks.json"
    env = dict(shape.env)
    env["PYMAC_GC_LOG"] = str(log)
    rec = record(pymac, trace, [shape.python, module("test_gc_callbacks.py")], probes="gc", env=env)
    assert rec.returncode == 0, rec.describe()
    assert log.is_file(), "the workload did not write %s; %s" % (log, rec.describe())
    seen = json.loads(log.read_text())
    assert len(seen) >= min_collections, seen
    assert {c["generation"] for c in seen} == {0, 1, 2}, "workload must collect every generation"

    summ = summary(pymac, trace)
    proc = child_process(summ, rec, shape.python)
    pid = proc["pid"]
    status, detail = source_status(proc, "gc")
    assert status == "full", "gc source for %s is %s (%s)" % (shape.python, status, detail)
    if shape.lib:
        assert shape.lib in detail, (shape.lib, detail)

    gc_events = [e for e in events(pymac, trace, pid) if e["kind"] in ("gc_start", "gc_done")]

    # gc_start and gc_done alternate, each pair for one generation.
    for i, ev in enumerate(gc_events):
        want = "gc_start" if i % 2 == 0 else "gc_done"
        assert ev["kind"] == want, "event %d of pid %d is %s, expected %s: %r" % (i, pid, ev["kind"], want, gc_events[max(0, i - 2) : i + 2])
        assert ev.get("source") in ("usdt", "uprobe"), ev
        if want == "gc_done":
            start = gc_events[i - 1]
            assert ev["generation"] == start["generation"], (start, ev)
            assert ev["ts_ns"] >= start["ts_ns"], (start, ev)
            assert ev["duration_ns"] >= 0, ev
            assert ev["collected"] >= 0, ev
    assert len(gc_events) % 2 == 0, "trace ends inside a collection: %r" % gc_events[-1:]

    # uncollectable is known on every build whose GC state pymac reads
    # (-1: not known, as from USDT)
    done_ev = [e for e in gc_events if e["kind"] == "gc_done"]
    with_unc = all(e.get("uncollectable", -1) >= 0 for e in done_ev)
    if with_unc:
        done = [(e["generation"], e["collected"], e["uncollectable"]) for e in done_ev]
        want = [(c["generation"], c["collected"] + c["uncollectable"], c["uncollectable"]) for c in seen]
    else:
        assert "no uncollectable count" in detail, "gc_done without uncollectable from %s" % detail
        done = [(e["generation"], e["collected"]) for e in done_ev]
        want = [(c["generation"], c["collected"] + c["uncollectable"]) for c in seen]
    runs = find_run(done, want)
    if not runs:
        at, k = best_alignment(done, want)
        pytest.fail(
            "[gc source: %s: %s] the %d collections gc.callbacks saw are not a contiguous run of pymac's %d gc_done "
            "events for pid %d.\nlongest match: %d callbacks from gc_done #%d; then callback says %r, "
            "pymac says %r\ncallbacks (generation, collected+uncollectable[, uncollectable]): %r\npymac gc_done: %r"
            % (
                status,
                detail,
                len(want),
                len(done),
                pid,
                k,
                at,
                want[k] if k < len(want) else None,
                done[at + k] if at + k < len(done) else None,
                want[:30],
                done[:40],
            )
        )

    # The summary is computed from the same events.
    gc_sum = proc["gc"]
    assert gc_sum["collections"] == len(done), (gc_sum, len(done))
    by_gen = [sum(1 for d in done if d[0] == x) for x in range(3)]
    assert gc_sum["by_generation"] == by_gen, (gc_sum, by_gen)
    if with_unc:
        assert gc_sum.get("uncollectable") == sum(d[2] for d in done), gc_sum
    assert proc["counts"]["gc_done"] == len(done), proc["counts"]
    assert proc["counts"]["gc_start"] == len(done), proc["counts"]
    assert proc["lost"] == 0, proc.get("lost_by_kind")
    return detail


@pytest.mark.parametrize("interp", interp_params(INTERPRETERS))
def test_gc_events_match_callbacks(pymac, tmp_path, interp):
    python = require_interp(interp)
    detail = check_gc_exact(pymac, tmp_path, Shape(python))
    if interp.is_pyenv:
        # a build with symbols: the collector its code leads to is the one
        # its symbols name
        assert "found through its code as well" in detail, detail


def test_gc_exact_debian_slim_shape(pymac, tmp_path):
    """No .symtab, no USDT, no debug info: the collector is found through
    its code, the GC state through _PyRuntime."""
    detail = check_gc_exact(pymac, tmp_path, slim_debian(tmp_path))
    assert "found through its code" in detail, detail


@pytest.mark.parametrize("minor", range(8, 14), ids=lambda m: "3.%d" % m)
def test_gc_exact_stripped_libpython(pymac, tmp_path, minor):
    detail = check_gc_exact(pymac, tmp_path, stripped_pyenv(tmp_path, minor))
    assert "found through its code" in detail, detail


@pytest.mark.parametrize("tag", ["3.11-slim", "3.13t"])
def test_gc_exact_official_build(pymac, tmp_path, tag):
    """CPython built as the official python:3.X-slim image builds it
    (--enable-optimizations --with-lto --enable-shared, linked with
    --strip-all), and its free-threaded 3.13 (--disable-gil)."""
    # the free-threaded collector schedules its collections its own way:
    # fewer automatic ones on this workload (7 in all, measured)
    check_gc_exact(pymac, tmp_path, official_tree(tag), 5 if tag.endswith("t") else 10)


@pytest.mark.parametrize(
    "ident,method",
    [("debian-3.11", "usdt"), ("pyenv-3.8", "args"), ("pyenv-3.12", "args"), ("pyenv-3.13", "args")],
)
def test_gc_other_methods(pymac, tmp_path, ident, method):
    """The ways pymac falls back to where it cannot read the GC state (the
    USDT markers; the collector's argument and return value) see the same
    collections, without the uncollectable count."""
    interps = [i for i in INTERPRETERS if i.id == ident or i.id.startswith(ident + ".")]
    if not interps:
        pytest.skip("no %s interpreter known" % ident)
    python = require_interp(interps[0])
    detail = check_gc_exact(pymac, tmp_path, Shape(python, {"PYMAC_GC_METHOD": method}))
    assert ("USDT" if method == "usdt" else "argument and return value") in detail, detail
