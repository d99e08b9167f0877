"""The replica of the official python:3.11-slim image, in a real container.

scripts/build-python.sh 3.11 builds CPython 3.11.2 from Debian's source
package the way the official image's Dockerfile does (--enable-optimizations
--with-lto --enable-shared, LDFLAGS=-Wl,--strip-all); scripts/
build-image-python.sh 3.11-slim turns that tree into the local image
pymaccounter/python:3.11-slim-like (a bookworm minbase with no Debian python,
the tree in /usr/local). No symbols, no USDT, no debug info: pymac finds
everything in the machine code. In one container, `pymac record --container`
sees:

- every collection, as the program's own gc.callbacks log has it;
- all 2N objects of N reference cycles the collector frees;
- on the allocation loop, what N more iterations add: the same py_malloc,
  py_free, py_realloc, requested bytes and deallocations as pyenv's 3.11.7
  (symbols, no LTO) on the host.

The build takes about 11 minutes on this machine's 2 cores and is cached
outside the test run; without it the test skips, saying how to make it."""

import json
import os
import subprocess
import uuid

import pytest

from conftest import (
    MODULES,
    PYENV,
    PYTHON_CACHE,
    REPO,
    events,
    module,
    record,
    sh,
    stop,
    summary,
    tail,
)
from test_containers import HARNESS, containers_by_name, end_container, gc_runs, is_contiguous_run, python_pids, rm_containers, start_record

IMAGE = "pymaccounter/python:3.11-slim-like"
PYENV_311 = PYENV + "/3.11.7/bin/python3.11"
N = 2000
CYCLES = 5000
KEYS = ("py_malloc", "py_free", "py_realloc", "py_dealloc")


@pytest.fixture(scope="module")
def slim_image():
    if os.geteuid() != 0:
        pytest.skip("needs root for Docker and BPF")
    if not os.access(os.path.join(PYTHON_CACHE, "3.11-slim", "BUILD-INFO"), os.R_OK):
        pytest.skip("no 3.11-slim build cached in %s (make it with scripts/build-python.sh 3.11, "
                    "about 11 minutes)" % PYTHON_CACHE)
    for script in (["bash", str(REPO / "scripts" / "docker-setup.sh")],
                   ["sh", str(REPO / "scripts" / "build-image-python.sh"), "3.11-slim"]):
        res = subprocess.run(script, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, timeout=900)
        assert res.returncode == 0, "%s failed: %s" % (script[1], tail(res.stdout))
    return IMAGE


def workload_diff(small, big):
    d = {k: big["counts"].get(k, 0) - small["counts"].get(k, 0) for k in KEYS}
    d["py_bytes"] = big["bytes"]["py_alloc"] - small["bytes"]["py_alloc"]
    return d


def host_pyenv_diff(pymac, tmp_path):
    procs = []
    for n in (N, 2 * N):
        trace = tmp_path / ("pyenv-%d.pmt" % n)
        rec = record(pymac, trace, [PYENV_311, "-S", module("test_alloc_loop.py"), str(n)],
                     probes="pymalloc,dealloc,gc", env={"PYTHONHASHSEED": "0"})
        assert rec.returncode == 0, tail(rec.stderr)
        procs.append([p for p in summary(pymac, trace)["processes"] if p.get("python")][0])
    return workload_diff(*procs)


def test_slim_image_container(pymac, slim_image, tmp_path):
    if not os.access(PYENV_311, os.X_OK):
        pytest.skip("interpreter not installed: %s" % PYENV_311)
    want = host_pyenv_diff(pymac, tmp_path)
    name = "pymac-test-slim-" + uuid.uuid4().hex[:6]
    trace = tmp_path / "slim.pmt"
    sh(["docker", "run", "-d", "--init", "--network", "none", "--read-only", "--name", name,
        "--tmpfs", "/tmp", "-e", "PYTHONHASHSEED=0"]
       + ["-v", HARNESS + ":/harness:ro", "-v", str(MODULES) + ":/modules:ro"]
       + [slim_image, "sleep", "300"])
    proc = None
    try:
        proc, err = start_record(pymac, trace, "--container", name)
        sh(["docker", "exec", name, "python3", "/harness/gclog.py", "/tmp/gc.json",
            "/modules/test_gc_callbacks.py"], timeout=300)
        logged = [(c["generation"], c["collected"] + c["uncollectable"])
                  for c in json.loads(sh(["docker", "exec", name, "cat", "/tmp/gc.json"]).stdout)]
        sh(["docker", "exec", name, "python3", "/modules/test_cycle_pairs.py", str(CYCLES)], timeout=300)
        for n in (N, 2 * N):
            sh(["docker", "exec", name, "python3", "-S", "/modules/test_alloc_loop.py", str(n)], timeout=300)
        end_container(proc, err, name, 60)
    finally:
        if proc:
            stop(proc)
        rm_containers(name)

    summ = summary(pymac, trace)
    cont = containers_by_name(summ)[name]
    by_pid = {p["pid"]: p for p in summ["processes"]}
    # the four Pythons, in the order they were started
    pids = sorted(python_pids(cont))
    assert len(pids) == 4, cont["processes"]
    gclog, cycles, small, big = (by_pid[p] for p in pids)
    for p in (gclog, cycles, big):
        for src in ("pymalloc", "dealloc", "gc"):
            assert p["sources"][src]["status"] == "full", (src, p["sources"][src])
    assert "libpython3.11.so.1.0" in big["sources"]["pymalloc"]["detail"], big["sources"]["pymalloc"]
    seen = gc_runs(events(pymac, trace), gclog["pid"])
    assert logged and is_contiguous_run(seen, logged), "gc.callbacks %r, pymac %r" % (logged[:5], seen[:8])
    nodes = {t["type"]: t["count"] for t in cycles.get("top_dealloc_types", [])}.get("Node")
    assert nodes == 2 * CYCLES, cycles.get("top_dealloc_types")
    got = workload_diff(small, big)
    problems = ["%s: container %d, pyenv %d" % (k, got[k], want[k])
                for k in want if abs(got[k] - want[k]) > 0.01 * max(abs(want[k]), 1)]
    assert not problems, "%d iterations in the -slim replica: %s" % (N, problems)
