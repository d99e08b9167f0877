"""replay of a damaged trace: a clear message, no crash, only a prefix."""

import json
import os

import pytest

from conftest import (
    DEBIAN_PYTHON,
    PYENV_INTERPRETERS,
    PYMAC,
    module,
    parse_jsonl,
    record,
    run_replay,
    tail,
)


def workload_python():
    # A pyenv build makes the most events (every allocation is seen).
    for interp in reversed(PYENV_INTERPRETERS):
        if os.access(interp.path, os.X_OK):
            return interp.path
    return DEBIAN_PYTHON


@pytest.fixture(scope="module")
def full_trace(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root for BPF")
    if not os.access(str(PYMAC), os.X_OK):
        pytest.fail("%s is missing: build it with `make` first" % PYMAC)
    pymac = str(PYMAC)
    trace = tmp_path_factory.mktemp("truncated") / "full.pmt"
    rec = record(pymac, trace, [workload_python(), module("test_alloc_loop.py"), "2000"])
    assert rec.returncode == 0, rec.describe()
    res = run_replay(pymac, trace, "--events", "--format", "jsonl")
    assert res.returncode == 0, tail(res.stderr)
    evs = parse_jsonl(res.stdout)
    assert len(evs) > 1000, "too few events (%d) to cut the trace meaningfully" % len(evs)
    return pymac, trace, evs


def cut(src, dst, size):
    with open(str(src), "rb") as f:
        data = f.read(size)
    with open(str(dst), "wb") as f:
        f.write(data)


def no_crash(res, what):
    assert res.returncode >= 0, "%s was killed by signal %d; stderr:\n%s" % (what, -res.returncode, tail(res.stderr))
    assert res.returncode < 128, "%s exit %d looks like a crash; stderr:\n%s" % (what, res.returncode, tail(res.stderr))


@pytest.mark.parametrize("where", ["half", "minus-1", "head-16"])
def test_truncated_trace(full_trace, tmp_path, where):
    pymac, trace, full = full_trace
    size = os.path.getsize(str(trace))
    n = {"half": size // 2, "minus-1": size - 1, "head-16": 16}[where]
    damaged = tmp_path / ("cut-%s.pmt" % where)
    cut(trace, damaged, n)

    res = run_replay(pymac, damaged, "--events", "--format", "jsonl")
    no_crash(res, "replay --events of a trace cut to %d of %d bytes" % (n, size))
    msgs = [l for l in res.stderr.splitlines() if l.startswith("pymac: ")]
    assert msgs, "replay of a trace cut to %d of %d bytes printed no 'pymac: ...' message (exit %d)" % (n, size, res.returncode)
    got = []
    for i, line in enumerate(res.stdout.splitlines()):
        try:
            got.append(json.loads(line))
        except ValueError:
            pytest.fail("line %d of the damaged replay is not JSON: %r" % (i + 1, line[:200]))
    assert len(got) <= len(full), (len(got), len(full))
    for i, (a, b) in enumerate(zip(got, full)):
        assert a == b, "event %d of the damaged replay differs from the full trace:\n%r\n%r" % (i, a, b)

    summ = run_replay(pymac, damaged, "--summary", "--json")
    no_crash(summ, "replay --summary --json of a cut trace")
    if summ.returncode == 0:
        obj = json.loads(summ.stdout)
        assert obj["trace"]["complete"] is False, "a cut trace is reported complete: %r" % obj["trace"]
    else:
        assert any(l.startswith("pymac: ") for l in summ.stderr.splitlines()), summ.stderr

    text = run_replay(pymac, damaged)
    no_crash(text, "replay (text) of a cut trace")
