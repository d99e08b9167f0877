"""GC exactness: pymac's gc events agree with the interpreter's own gc.callbacks."""

import json

import pytest

from conftest import (
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


@pytest.mark.parametrize("interp", interp_params(INTERPRETERS))
def test_gc_events_match_callbacks(pymac, tmp_path, interp):
    python = require_interp(interp)
    trace = tmp_path / "gc.pmt"
    log = tmp_path / "gc-callbacks.json"
    rec = record(
        pymac,
        trace,
        [python, module("test_gc_callbacks.py")],
        probes="gc",
        env={"PYMAC_GC_LOG": str(log)},
    )
    assert rec.returncode == 0, rec.describe()
    assert log.is_file(), "the workload did not write %s; %s" % (log, rec.describe())
    seen = json.loads(log.read_text())
    assert len(seen) >= 10, seen
    assert {c["generation"] for c in seen} == {0, 1, 2}, "workload must collect every generation"

    summ = summary(pymac, trace)
    proc = child_process(summ, rec, python)
    pid = proc["pid"]
    status, detail = source_status(proc, "gc")

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

    done = [(e["generation"], e["collected"]) for e in gc_events if e["kind"] == "gc_done"]
    want = [(c["generation"], c["collected"] + c["uncollectable"]) for c in seen]
    runs = find_run(done, want)
    if not runs:
        at, k = best_alignment(done, want)
        pytest.fail(
            "[gc source: %s: %s] the %d collections gc.callbacks saw are not a contiguous run of pymac's %d gc_done "
            "events for pid %d.\nlongest match: %d callbacks from gc_done #%d; then callback says %r, "
            "pymac says %r\ncallbacks (generation, collected+uncollectable): %r\npymac gc_done: %r"
            % (
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

    # "partial" is an honest answer when some copy of the collector cannot be
    # probed (outside this run's window); attaching nothing is not.
    assert status in ("full", "partial"), "gc source for %s is %s (%s)" % (python, status, detail)

    # The summary is computed from the same events.
    gc_sum = proc["gc"]
    assert gc_sum["collections"] == len(done), (gc_sum, len(done))
    by_gen = [sum(1 for g, _ in done if g == x) for x in range(3)]
    assert gc_sum["by_generation"] == by_gen, (gc_sum, by_gen)
    assert proc["counts"]["gc_done"] == len(done), proc["counts"]
    assert proc["counts"]["gc_start"] == len(done), proc["counts"]
    assert proc["lost"] == 0, proc.get("lost_by_kind")
