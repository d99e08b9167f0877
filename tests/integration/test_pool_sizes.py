"""Frees sized from pymalloc's pool headers.

On an LTO build (Debian's python3.11) the allocations made at inlined copies
of PyObject_Malloc have no address, so a free cannot be sized by pairing it
with its allocation. pymac reads the freed block's size class from the pool
header instead (bpf/alloc.bpf.c: pool_block), after the check pymalloc itself
makes. These tests hold that reading to the truth:

- wherever a free *can* be paired with its allocation by address (every
  allocation on pyenv's builds, the out-of-line copies on Debian's), the
  block the pool header gives is exactly pymalloc's class of the requested
  size (1..512 bytes, rounded up to 16), and "raw" (malloc's) for the rest;
- on the workload alone (N and 2N iterations, differenced), Debian's LTO
  build frees the same block bytes as pyenv's 3.11.7, where every call goes
  through the exported functions.

pyenv builds size their frees only with PYMAC_POOL_SIZES=all (they do not
need it: their allocations have addresses)."""

import os

import pytest

from conftest import DEBIAN_PYTHON, PYENV, events, record, source_status, summary, tail

N = 300
PYENV_311 = PYENV + "/3.11.7/bin/python3.11"
PYENV_39 = PYENV + "/3.9.18/bin/python3.9"
DEBIAN_BUILD_ID = "c561f3aa7232f2bd6ac6d56bd475f1c154a00486"
DEBIAN_DEBUG = "/usr/lib/debug/.build-id/%s/%s.debug" % (DEBIAN_BUILD_ID[:2], DEBIAN_BUILD_ID[2:])

# Blocks of every class and past pymalloc's threshold (bytes objects of
# 33..740 bytes), list growth (reallocs), and a bounded set kept alive.
WORKLOAD = """
import sys
n = int(sys.argv[1])
keep = []
for i in range(n):
    for k in range(0, 708, 37):
        keep.append(bytes(k + i % 5))
    grown = []
    for j in range(i % 60):
        grown.append(j)
    keep.append(grown)
    if len(keep) > 64:
        del keep[:32]
print(len(keep))
"""

INTERPS = {
    "debian-3.11": (DEBIAN_PYTHON, {}),
    "pyenv-3.11": (PYENV_311, {"PYMAC_POOL_SIZES": "all"}),
    "pyenv-3.9": (PYENV_39, {"PYMAC_POOL_SIZES": "all"}),
}


def pymalloc_class(size):
    return (size + 15) & ~15 if 1 <= size <= 512 else "raw"


def block_of(ev, prefix=""):
    if ev.get("raw_%sblock" % prefix):
        return "raw"
    return ev.get("%sblock" % prefix)


def need(name):
    if os.geteuid() != 0:
        pytest.skip("needs root for BPF")
    path = INTERPS[name][0]
    if not os.access(path, os.X_OK):
        pytest.skip("not installed: %s" % path)
    if name.startswith("debian") and not os.access(DEBIAN_DEBUG, os.R_OK):
        pytest.skip("python3.11-dbg of this python3.11 build is not installed")


def trace_workload(pymac, tmp_path, name, n):
    python, env = INTERPS[name]
    script = tmp_path / "workload.py"
    script.write_text(WORKLOAD)
    trace = tmp_path / ("%s-%d.pmt" % (name, n))
    full_env = {"PYTHONHASHSEED": "0"}
    full_env.update(env)
    rec = record(pymac, trace, [python, "-S", str(script), str(n)], probes="pymalloc", env=full_env)
    assert rec.returncode == 0, tail(rec.stderr)
    procs = [p for p in summary(pymac, trace)["processes"] if p.get("python")]
    assert len(procs) == 1, procs
    return procs[0], events(pymac, trace, procs[0]["pid"])


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """name -> [(summary process, events) of N and 2N iterations]"""
    cache = {}

    def get(name):
        if name not in cache:
            need(name)
            from conftest import PYMAC

            tmp = tmp_path_factory.mktemp("pool-" + name)
            cache[name] = [trace_workload(str(PYMAC), tmp, name, n) for n in (N, 2 * N)]
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(INTERPS))
def test_pool_header_gives_the_allocations_class(traces, name):
    proc, evs = traces(name)[1]
    if name.startswith("debian"):
        status, detail = source_status(proc, "pymalloc")
        assert "frees sized from pool headers at" in detail, detail
    live = {}  # address -> requested size, for blocks py_malloc/py_calloc made
    checked, raw, wrong, unsized, frees = 0, 0, [], 0, 0
    for ev in evs:
        kind = ev["kind"]
        if kind in ("py_malloc", "py_calloc"):
            if ev["addr"]:
                live[ev["addr"]] = ev["size"]
        elif kind == "py_realloc":
            old = ev.get("old_addr")
            if old in live:
                want, got = pymalloc_class(live.pop(old)), block_of(ev, "old_")
                checked += 1
                if want != got:
                    wrong.append(("realloc", live.get(old), want, got))
            live.pop(ev["addr"], None)
        elif kind == "py_free":
            frees += 1
            got = block_of(ev)
            if got is None:
                unsized += 1
            if ev["addr"] in live:
                size = live.pop(ev["addr"])
                checked += 1
                raw += pymalloc_class(size) == "raw"
                # a large malloc block's would-be pool header may lie below
                # its mapping: unreadable, so unsized (never called raw)
                if pymalloc_class(size) != got and not (got is None and size > 512):
                    wrong.append(("free", size, pymalloc_class(size), got))
    assert frees > 3 * N, frees
    assert unsized <= max(5, frees // 1000), "%d of %d frees not sized" % (unsized, frees)
    assert not wrong, "%d of %d blocks sized wrong, e.g. %s" % (len(wrong), checked, wrong[:10])
    # enough pairs to mean something, of both kinds of block
    assert checked >= (N if name.startswith("debian") else 10 * N), checked
    assert raw >= (1 if name.startswith("debian") else N), raw


def freed(evs):
    out = {"bytes": 0, "raw": 0}
    for ev in evs:
        if ev["kind"] == "py_free" or (ev["kind"] == "py_realloc" and ev.get("old_addr")):
            b = block_of(ev, "" if ev["kind"] == "py_free" else "old_")
            if b == "raw":
                out["raw"] += 1
            elif b:
                out["bytes"] += b
    return out


def test_lto_frees_the_same_block_bytes_as_pyenv(traces):
    diffs = {}
    for name in ("debian-3.11", "pyenv-3.11"):
        (_, small), (_, big) = traces(name)
        a, b = freed(small), freed(big)
        diffs[name] = {k: b[k] - a[k] for k in a}
        assert diffs[name]["bytes"] > 100 * N, (name, diffs[name])
        assert diffs[name]["raw"] >= N, (name, diffs[name])
    d, p = diffs["debian-3.11"], diffs["pyenv-3.11"]
    for k in d:
        assert abs(d[k] - p[k]) <= 0.01 * max(d[k], p[k]), "freed %s of %d iterations: debian %d, pyenv %d" % (k, N, d[k], p[k])
