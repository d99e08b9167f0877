"""`pymac run`: modules each in a container of their own, for real.

Every test here runs real containers of the local image (scripts/build-image.sh)
on the engine scripts/docker-setup.sh starts, through the Engine API that
`pymac run` speaks itself:

- two demonstration modules give two summaries, each headed by its module's
  docstring line, and exit 0, leaving no container behind;
- a module of our own that fails makes the run fail, with its output shown;
  one without a docstring is headed by its file name;
- --record keeps a trace whose replay shows the same containers, headings and
  totals as the run's own --json summary;
- bad input (a missing module, a missing image, no engine) is one line and
  a non-zero exit, before any container is made;
- tests/run-modules is a wrapper over `pymac run`.
"""

import json
import os
import socket
import subprocess

import pytest

from conftest import MODULES, REPO, docker_image, run_replay, sh, tail  # noqa: F401 (fixture)

HEADINGS = {
    "test_baseline.py": "Baseline: the smallest Python program there is.",
    "test_refcount.py": "Reference counting frees an object the moment its last reference goes.",
}


def run(pymac, *args, env=None, timeout=300):
    return subprocess.run(
        [pymac, "run"] + list(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})),
    )


def run_containers():
    """Names of the containers `pymac run` made that still exist."""
    res = sh(["docker", "ps", "-a", "--filter", "name=pymac-run-", "--format", "{{.Names}}"])
    return [n for n in res.stdout.split() if n]


def sections(text):
    """The summary's headed sections: heading -> (module line, container line)."""
    lines = text.splitlines()
    out = {}
    for i, l in enumerate(lines):
        if l.startswith("== "):
            out[l[3:]] = (lines[i + 1].strip(), lines[i + 2])
    return out


@pytest.fixture
def clean_engine(docker_image):
    before = set(run_containers())
    yield docker_image
    left = set(run_containers()) - before
    assert not left, "pymac run left containers behind: %s" % sorted(left)


def test_run_two_modules_headed_summaries(pymac, clean_engine):
    res = run(pymac, "test_baseline.py", "test_refcount.py", "--test-dir", str(MODULES))
    assert res.returncode == 0, "exit %d:\n%s\n%s" % (res.returncode, tail(res.stdout), tail(res.stderr))
    heads = sections(res.stdout)
    assert sorted(heads) == sorted(HEADINGS.values()), res.stdout[:3000]
    for module, heading in HEADINGS.items():
        mod_line, cont_line = heads[heading]
        assert mod_line == "module    %s, exit code 0" % module
        stem = module[:-3]
        assert cont_line.startswith("container pymac-run-%s-" % stem), cont_line
        assert "image %s" % clean_engine in cont_line
        assert any(l.startswith("pymac: %s" % module) and l.split()[-2:] == ["exit", "0"] for l in res.stderr.splitlines())
    assert res.stdout.count("container pymac-run-") == 2
    assert "tracing 2 containers" in res.stderr
    # the module's own work is in its container: its python ran and was traced
    assert res.stdout.count("[python 3.11") == 2, res.stdout[:3000]


def test_run_failing_module_fails(pymac, clean_engine, tmp_path):
    (tmp_path / "test_fails.py").write_text(
        '"""A module that fails on purpose, after saying so."""\n'
        "import sys\n"
        'print("about to fail", flush=True)\n'
        "sys.exit(3)\n"
    )
    (tmp_path / "test_plain.py").write_text("# no docstring here\nx = [1, 2, 3]\n")
    # with no MODULE, every test_*.py of the directory runs
    res = run(pymac, "--test-dir", str(tmp_path))
    assert res.returncode == 1, "exit %d:\n%s\n%s" % (res.returncode, tail(res.stdout), tail(res.stderr))
    heads = sections(res.stdout)
    assert heads["A module that fails on purpose, after saying so."][0] == "module    test_fails.py, exit code 3"
    assert heads["test_plain.py"][0] == "module    test_plain.py, exit code 0"
    # the failed module's output is shown, the other's is not asked for
    assert "--- test_fails.py (container pymac-run-test_fails-" in res.stderr
    assert "about to fail" in res.stderr
    assert "--- test_plain.py" not in res.stderr
    assert any(l.startswith("pymac: test_fails.py") and l.endswith("exit 3") for l in res.stderr.splitlines())


def test_run_record_replays_as_run_summary(pymac, clean_engine, tmp_path):
    trace = tmp_path / "run.pmt"
    res = run(pymac, "test_baseline.py", "test_refcount.py", "--test-dir", str(MODULES), "--record", str(trace), "--json")
    assert res.returncode == 0, "exit %d:\n%s" % (res.returncode, tail(res.stderr))
    live = json.loads(res.stdout)
    assert live["trace"]["complete"] and live["trace"]["lost"] == 0
    replayed = json.loads(run_replay(pymac, trace, "--summary", "--json").stdout)
    assert replayed["trace"]["complete"]
    assert replayed["trace"]["events"] == live["trace"]["events"] > 0

    def by_module(summ):
        return {c["module"]["file"]: c for c in summ["containers"] if c["module"]}

    a, b = by_module(live), by_module(replayed)
    assert sorted(a) == sorted(HEADINGS)
    assert sorted(b) == sorted(HEADINGS)
    for m in HEADINGS:
        assert a[m]["module"] == {"file": m, "heading": HEADINGS[m], "exit_code": 0}
        assert b[m]["module"] == a[m]["module"]
        assert b[m]["name"] == a[m]["name"] and b[m]["cgroup_id"] == a[m]["cgroup_id"]
        assert b[m]["totals"] == a[m]["totals"], m
    # the text replay is headed the same way
    text = run_replay(pymac, trace).stdout
    assert sorted(sections(text)) == sorted(HEADINGS.values())


def test_run_bad_input_one_line(pymac, clean_engine, tmp_path):
    cases = [
        (["test_nothere.py", "--test-dir", str(MODULES)], {}, "no module test_nothere.py in "),
        (["../test_baseline.py", "--test-dir", str(MODULES)], {}, "is not a module name"),
        (["test_baseline.py", "--test-dir", str(tmp_path / "none")], {}, "no module directory "),
        (
            ["test_baseline.py", "--test-dir", str(MODULES), "--image", "pymac-missing-image:0"],
            {},
            "image pymac-missing-image:0 not found: build it with scripts/build-image.sh",
        ),
        (
            ["test_baseline.py", "--test-dir", str(MODULES)],
            {"PYMAC_DOCKER_SOCK": str(tmp_path / "absent.sock")},
            "no Docker engine answers on %s" % (tmp_path / "absent.sock"),
        ),
    ]
    # a socket nobody listens on refuses
    refused = tmp_path / "refused.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(refused))
    s.close()
    cases.append(
        (["test_baseline.py", "--test-dir", str(MODULES)], {"PYMAC_DOCKER_SOCK": str(refused)}, "Connection refused")
    )
    for args, env, text in cases:
        res = run(pymac, *args, env=env, timeout=60)
        lines = res.stderr.splitlines()
        assert res.returncode == 1, (args, res.returncode, res.stderr)
        assert len(lines) == 1 and lines[0].startswith("pymac: ") and text in lines[0], (args, res.stderr)
        assert res.stdout == ""


def test_run_modules_wrapper(pymac, clean_engine):
    res = subprocess.run(
        [str(REPO / "tests" / "run-modules"), "test_baseline.py"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=600,
        env=dict(os.environ, PYMAC=pymac),
    )
    assert res.returncode == 0, "exit %d:\n%s" % (res.returncode, tail(res.stderr))
    assert list(sections(res.stdout)) == [HEADINGS["test_baseline.py"]]
