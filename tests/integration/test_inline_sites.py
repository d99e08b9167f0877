"""Inline-aware probe sites: Debian's LTO python3.11 inlines PyObject_Malloc,
PyObject_Free and _Py_Dealloc at hundreds of call sites. pymac finds them in
the machine code (the allocator table's calls, the calls through
tp_dealloc) and counts what pyenv's 3.11.7 (every call through the exported
functions) counts on the same workload; its debug package (found by
build-id, or fetched from debuginfod) adds pymalloc's arenas, which size the
frees, and DWARF's inlined copies remain the way in where the code is not
read (PYMAC_PYMALLOC_SITES=dwarf, PYMAC_DEALLOC_SITES=entry).

Counts are compared on the workload alone: each interpreter runs the
deterministic loop twice, with N and 2N iterations, and the difference of
the two traces is what N iterations allocate, whatever the two builds do at
start-up (their site-packages, frozen modules and paths differ)."""

import http.server
import json
import os
import socketserver
import subprocess
import threading

import pytest

from conftest import DEBIAN_PYTHON, PYENV, PYMAC, module, record, source_status, summary, tail

PYENV_311 = PYENV + "/3.11.7/bin/python3.11"
DEBIAN_BUILD_ID = "c561f3aa7232f2bd6ac6d56bd475f1c154a00486"
DEBIAN_DEBUG = "/usr/lib/debug/.build-id/%s/%s.debug" % (DEBIAN_BUILD_ID[:2], DEBIAN_BUILD_ID[2:])
N = 2000
SLEEPER = "import time; time.sleep(60)"


def need(*paths):
    for p in paths:
        if not os.access(p, os.R_OK):
            pytest.skip("not installed: %s" % p)


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], stdout=subprocess.PIPE, universal_newlines=True).stdout
    for line in out.splitlines():
        if "Build ID:" in line:
            return line.split()[-1]
    return None


def trace_loop(pymac, tmp_path, python, n, extra=(), env=None):
    trace = tmp_path / ("loop-%s-%d.pmt" % (os.path.basename(os.path.dirname(os.path.dirname(python))), n))
    full_env = {"PYTHONHASHSEED": "0"}
    full_env.update(env or {})
    rec = record(
        pymac,
        trace,
        [python, "-S", module("test_alloc_loop.py"), str(n)],
        probes="pymalloc,dealloc,gc",
        env=full_env,
        extra=extra,
    )
    assert rec.returncode == 0, tail(rec.stderr)
    summ = summary(pymac, trace)
    procs = [p for p in summ["processes"] if p.get("python")]
    assert len(procs) == 1, procs
    return procs[0], summ


def dealloc_types(pymac, trace_proc):
    return {t["type"]: t["count"] for t in trace_proc.get("top_dealloc_types", [])}


def close(a, b, rel=0.01):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1)


@pytest.fixture(scope="module")
def loop_counts(tmp_path_factory):
    """Counts of N and 2N iterations under each interpreter."""
    if os.geteuid() != 0:
        pytest.skip("needs root for BPF")
    pymac = str(PYMAC)
    need(DEBIAN_PYTHON, PYENV_311, pymac)
    if build_id(DEBIAN_PYTHON) != DEBIAN_BUILD_ID or not os.access(DEBIAN_DEBUG, os.R_OK):
        pytest.skip("python3.11-dbg of this python3.11 build is not installed")
    tmp = tmp_path_factory.mktemp("inline")
    out = {}
    # both builds' deallocations through the sweep of their code
    # (test_dealloc.py): Debian's debug info is not needed for them
    for name, py in (("debian", DEBIAN_PYTHON), ("pyenv", PYENV_311)):
        out[name] = [trace_loop(pymac, tmp, py, n)[0] for n in (N, 2 * N)]
    return out


def test_debian_coverage_from_debug_info(loop_counts):
    proc = loop_counts["debian"][0]
    # dealloc: the sweep of the code (every call through tp_dealloc, the
    # compares PGO made of them, the bytecode loop's specialized frees)
    status, detail = source_status(proc, "dealloc")
    assert status == "full" and "by compare)" in detail and "specialized frees" in detail, detail
    # pymalloc: the calls through the allocator table, found in the code,
    # see every copy (test_pymalloc_code.py); the debug file gives the
    # arenas that size the frees
    status, detail = source_status(proc, "pymalloc")
    assert status == "full" and "allocator table" in detail, detail
    assert "debug info (build-id %s" % DEBIAN_BUILD_ID[:12] in detail, detail
    assert "frees sized from pool headers" in detail, detail
    # the copies mostly start with a compare and a branch: the probe goes
    # on the branch, which the kernel emulates (sites.h)
    emulated = int(detail.split(" emulated")[0].split()[-1])
    assert emulated >= 30, detail
    status, detail = source_status(proc, "gc")
    assert status == "full" and "generation_stats" in detail, detail


def test_counts_agree_with_pyenv(loop_counts):
    diffs = {}
    for name, (small, big) in loop_counts.items():
        diffs[name] = {k: big["counts"][k] - small["counts"][k] for k in ("py_malloc", "py_free", "py_realloc")}
        diffs[name]["py_bytes"] = big["bytes"]["py_alloc"] - small["bytes"]["py_alloc"]
        assert diffs[name]["py_malloc"] >= 5 * N, (name, diffs[name])
    problems = [
        "%s: debian %d, pyenv %d" % (k, diffs["debian"][k], diffs["pyenv"][k])
        for k in diffs["debian"]
        if not close(diffs["debian"][k], diffs["pyenv"][k])
    ]
    assert not problems, "counts of %d iterations differ by more than 1%%: %s" % (N, problems)
    # and the whole runs (start-up included) stay close too
    for k in ("py_malloc", "py_free"):
        d, p = loop_counts["debian"][1]["counts"][k], loop_counts["pyenv"][1]["counts"][k]
        assert close(d, p, 0.05), (k, d, p)


def test_dealloc_per_type_agrees_with_pyenv(loop_counts):
    per = {}
    for name, (small, big) in loop_counts.items():
        a, b = dealloc_types(None, small), dealloc_types(None, big)
        per[name] = {t: b[t] - a.get(t, 0) for t in b}
    # the types the loop frees through _Py_Dealloc (in 3.11 the bytecode
    # loop frees some objects by their tp_dealloc directly, in both builds)
    types = [t for t in set(per["debian"]) | set(per["pyenv"]) if max(per["debian"].get(t, 0), per["pyenv"].get(t, 0)) >= N // 2]
    assert len(types) >= 3, per
    for t in types:
        d, p = per["debian"].get(t, 0), per["pyenv"].get(t, 0)
        assert close(d, p), "%s deallocations of %d iterations: debian %d, pyenv %d (%s)" % (t, N, d, p, per)


def test_gc_counted(loop_counts):
    for name, (small, big) in loop_counts.items():
        assert source_status(small, "gc")[0] == "full", name


def ps_process(pymac, pid, env=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    res = subprocess.run(
        [pymac, "ps", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        env=full_env,
        timeout=120,
    )
    assert res.returncode == 0, tail(res.stderr)
    for c in json.loads(res.stdout)["containers"]:
        for p in c["processes"]:
            if p["pid"] == pid:
                return p
    pytest.fail("pid %d not in pymac ps" % pid)


@pytest.fixture
def debian_sleeper():
    need(DEBIAN_PYTHON)
    p = subprocess.Popen([DEBIAN_PYTHON, "-c", SLEEPER], stdin=subprocess.DEVNULL)
    try:
        yield p
    finally:
        p.kill()
        p.wait()


def test_without_debug_info(pymac, tmp_path, debian_sleeper):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"PYMAC_DEBUG_DIRS": str(empty), "DEBUGINFOD_URLS": ""}
    p = ps_process(pymac, debian_sleeper.pid, env)
    status, detail = p["sources"]["pymalloc"]["status"], p["sources"]["pymalloc"]["detail"]
    assert status == "full", detail
    assert "no debug info found" in detail and "inlines the allocator" in detail, detail
    assert "frees not sized" in detail, detail
    # dealloc without debug info: every call through tp_dealloc, found in
    # the machine code, and the specialized frees, inlined ones included
    status, detail = p["sources"]["dealloc"]["status"], p["sources"]["dealloc"]["detail"]
    assert status == "full" and "calls through tp_dealloc" in detail, detail
    # the same through record's --debug-dir
    proc, _ = trace_loop(pymac, tmp_path, DEBIAN_PYTHON, 100, extra=["--debug-dir", str(empty)], env=env)
    status, detail = source_status(proc, "pymalloc")
    assert status == "full" and "no debug info found" in detail, detail


class BuildIdHandler(http.server.BaseHTTPRequestHandler):
    """A debuginfod server's one route: GET /buildid/<id>/debuginfo."""

    files = {}
    requests = []

    def do_GET(self):
        self.requests.append(self.path)
        parts = self.path.strip("/").split("/")
        path = self.files.get(parts[1]) if len(parts) == 3 and parts[0] == "buildid" and parts[2] == "debuginfo" else None
        if not path:
            self.send_error(404)
            return
        with open(path, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_debuginfod_fetch_cache_and_use(pymac, tmp_path, debian_sleeper):
    need(DEBIAN_DEBUG)
    BuildIdHandler.files = {DEBIAN_BUILD_ID: DEBIAN_DEBUG}
    BuildIdHandler.requests = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), BuildIdHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cache = tmp_path / "cache"
        env = {
            "DEBUGINFOD_URLS": "http://127.0.0.1:%d" % server.server_address[1],
            "DEBUGINFOD_CACHE_PATH": str(cache),
            "PYMAC_DEBUG_DIRS": "",  # no directory: only the server has it
        }
        p = ps_process(pymac, debian_sleeper.pid, env)
        detail = p["sources"]["pymalloc"]["detail"]
        assert "debug info (debuginfod, cached at %s" % cache in detail, detail
        assert "/buildid/%s/debuginfo" % DEBIAN_BUILD_ID in BuildIdHandler.requests
        cached = cache / DEBIAN_BUILD_ID / "debuginfo"
        assert cached.is_file() and cached.stat().st_size == os.path.getsize(DEBIAN_DEBUG)
        # a second run takes it from the cache
        ours = "/buildid/%s/debuginfo" % DEBIAN_BUILD_ID
        n = BuildIdHandler.requests.count(ours)
        p = ps_process(pymac, debian_sleeper.pid, env)
        assert "debuginfod" in p["sources"]["pymalloc"]["detail"]
        assert BuildIdHandler.requests.count(ours) == n, BuildIdHandler.requests
    finally:
        server.shutdown()
        server.server_close()
