"""pymalloc on LTO builds without debug info (the official python:3.x and
-slim images' shape): every call of PyObject_Malloc, _Calloc, _Realloc and
_Free is found through the allocator table in the machine code
(user/attach/elf_tables.c), and counted as pyenv's build, which calls the
exported functions, counts it on the same workload.

Counts are compared on the workload alone, as in test_inline_sites.py: each
interpreter runs the deterministic loop with N and 2N iterations, and the
difference is what N iterations allocate."""

import os

import pytest

from conftest import (
    DEBIAN_PYTHON,
    PYENV,
    PYMAC,
    module,
    official_tree,
    record,
    slim_debian,
    stripped_pyenv,
    source_status,
    summary,
    tail,
)

PYENV_311 = PYENV + "/3.11.7/bin/python3.11"
N = 2000
KEYS = ("py_malloc", "py_calloc", "py_realloc", "py_free")


def trace_loop(pymac, tmp_path, python, n, env=None, tag="run"):
    trace = tmp_path / ("%s-%d.pmt" % (tag, n))
    full_env = {"PYTHONHASHSEED": "0"}
    full_env.update(env or {})
    rec = record(pymac, trace, [python, "-S", module("test_alloc_loop.py"), str(n)],
                 probes="pymalloc", env=full_env)
    assert rec.returncode == 0, tail(rec.stderr)
    procs = [p for p in summary(pymac, trace)["processes"] if p.get("python")]
    assert len(procs) == 1, procs
    return procs[0]


def loop_diff(pymac, tmp_path, python, env=None, tag="run"):
    small, big = (trace_loop(pymac, tmp_path, python, n, env, tag) for n in (N, 2 * N))
    d = {k: big["counts"][k] - small["counts"][k] for k in KEYS}
    d["py_bytes"] = big["bytes"]["py_alloc"] - small["bytes"]["py_alloc"]
    return d, big


@pytest.fixture(scope="module")
def pyenv_diff(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root for BPF")
    if not os.access(PYENV_311, os.X_OK):
        pytest.skip("interpreter not installed: %s" % PYENV_311)
    return loop_diff(str(PYMAC), tmp_path_factory.mktemp("pyenv"), PYENV_311, tag="pyenv")[0]


def within(a, b, rel=0.01):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1)


SHAPES = {
    "debian-slim-shape": lambda tmp: slim_debian(tmp),
    "official-3.11-slim": lambda tmp: official_tree("3.11-slim"),
}


@pytest.mark.parametrize("minor", [8, 11, 12, 13], ids=lambda m: "3.%d" % m)
def test_stripped_libpython_counts_like_its_build(pymac, tmp_path, minor):
    """The other cheap shape: a pyenv libpython after strip --strip-all
    (no LTO: the exported functions are all there is) counts what the same
    build with its symbols counts."""
    shape = stripped_pyenv(tmp_path, minor)
    want = loop_diff(pymac, tmp_path, shape.python, tag="symbols-3.%d" % minor)[0]
    diff, proc = loop_diff(pymac, tmp_path, shape.python, shape.env, tag="stripped-3.%d" % minor)
    status, detail = source_status(proc, "pymalloc")
    assert status == "full", detail
    assert diff["py_malloc"] >= 5 * N, diff
    problems = [k for k in diff if not within(diff[k], want[k])]
    assert not problems, (problems, diff, want)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_counts_like_pyenv(pymac, tmp_path, pyenv_diff, name):
    shape = SHAPES[name](tmp_path)
    diff, proc = loop_diff(pymac, tmp_path, shape.python, shape.env, tag=name)
    status, detail = source_status(proc, "pymalloc")
    assert status == "full", detail
    assert "calls through its allocator table, found in the machine code" in detail, detail
    assert diff["py_malloc"] >= 5 * N, diff
    problems = ["%s: %s %d, pyenv %d" % (k, name, diff[k], pyenv_diff[k])
                for k in diff if not within(diff[k], pyenv_diff[k])]
    assert not problems, "counts of %d iterations differ by more than 1%%: %s" % (N, problems)


def test_code_against_debug_info(pymac, tmp_path):
    """On Debian's build with python3.11-dbg installed, the sites found in
    the code count at least what DWARF's inlined copies count (DWARF keeps
    no location for a few copies' arguments), and the -slim shape of the
    same binary counts the same as the build with its debug info."""
    if os.geteuid() != 0:
        pytest.skip("needs root for BPF")
    dwarf = trace_loop(pymac, tmp_path, DEBIAN_PYTHON, N, {"PYMAC_PYMALLOC_SITES": "dwarf"}, "dwarf")
    status, detail = source_status(dwarf, "pymalloc")
    if "debug info (" not in detail:
        pytest.skip("python3.11-dbg of this python3.11 build is not installed: %s" % detail)
    code = trace_loop(pymac, tmp_path, DEBIAN_PYTHON, N, tag="code")
    status, detail = source_status(code, "pymalloc")
    assert status == "full" and "allocator table" in detail and "debug info (" in detail, detail
    shape = slim_debian(tmp_path)
    slim = trace_loop(pymac, tmp_path, shape.python, N, shape.env, "slim")
    status, detail = source_status(slim, "pymalloc")
    assert status == "full" and "no debug info found" in detail, detail
    for k in ("py_malloc", "py_free", "py_realloc"):
        assert code["counts"][k] >= 0.99 * dwarf["counts"][k], (k, code["counts"], dwarf["counts"])
        assert slim["counts"][k] >= 0.99 * dwarf["counts"][k], (k, slim["counts"], dwarf["counts"])
        # and not more than the program makes: the same binary's code
        assert within(slim["counts"][k], code["counts"][k]), (k, slim["counts"], code["counts"])
    # DWARF locates every free's copy: the two agree (to a run's noise)
    assert within(code["counts"]["py_free"], dwarf["counts"]["py_free"], 0.001), (code["counts"], dwarf["counts"])
