"""Write errors are errors (issue 23): an output that fails (/dev/full, a
full disk) is said in one line naming the output and the cause, with a
non-zero exit, and is not taken for the input being cut short. A trace that
really is cut short still says so when the output is fine."""

import json
import os
import re
import subprocess

import pytest

from conftest import PYENV_INTERPRETERS, PYMAC, module, record, run_replay, tail

ENOSPC = "No space left on device"


def workload_python():
    for interp in reversed(PYENV_INTERPRETERS):
        if os.access(interp.path, os.X_OK):
            return interp.path
    pytest.skip("no pyenv interpreter: its traces have every allocation")


@pytest.fixture(scope="module")
def big_trace(tmp_path_factory):
    """A trace whose listing is many times the event printer's 256 KiB
    block, so that a failing output stops the feed well before the input's
    end (the case that was said as 'cut short')."""
    if os.geteuid() != 0:
        pytest.skip("needs root for BPF")
    pymac = str(PYMAC)
    trace = tmp_path_factory.mktemp("write_errors") / "big.pmt"
    rec = record(pymac, trace, [workload_python(), module("test_alloc_loop.py"), "20000"])
    assert rec.returncode == 0, rec.describe()
    res = run_replay(pymac, trace, "--summary", "--json")
    assert res.returncode == 0, tail(res.stderr)
    assert json.loads(res.stdout)["trace"]["complete"] is True
    return pymac, trace


@pytest.fixture
def full_dir(root, tmp_path):
    """A 64 KiB tmpfs of its own: a disk that is full after a few blocks."""
    d = tmp_path / "small"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=True)


def fill(d, leave=0):
    """Fill d to its last block, then give `leave` bytes back."""
    fd = os.open(str(d / "fill"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    size = os.fstat(fd).st_size
    os.ftruncate(fd, max(0, size - leave))
    os.close(fd)


def pymac_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("pymac: ")]


def replay_to(pymac, trace, out, *args):
    with open(out, "wb") as f:
        return subprocess.run(
            [pymac, "replay", str(trace)] + list(args),
            stdout=f,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=120,
        )


def count_events(pymac, trace):
    res = run_replay(pymac, trace, "--events", "--format", "jsonl")
    assert res.returncode == 0, tail(res.stderr)
    return len(res.stdout.splitlines())


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_events_to_dev_full(big_trace, fmt):
    pymac, trace = big_trace
    res = replay_to(pymac, trace, "/dev/full", "--events", "--format", fmt)
    assert res.returncode == 1, res.stderr
    msgs = pymac_lines(res.stderr)
    assert len(msgs) == 1, res.stderr
    m = re.match(
        r"pymac: the event listing to standard output: %s \(stopped at event (\d+); 0 bytes written\)$" % ENOSPC,
        msgs[0],
    )
    assert m, res.stderr
    # the output stopped the feed early; the input was not read further
    # and is not said to be cut short
    assert int(m.group(1)) < count_events(pymac, trace), res.stderr
    assert "cut short" not in res.stderr and "end record" not in res.stderr, res.stderr


def test_events_onto_a_full_disk_say_how_far_they_got(big_trace, full_dir):
    pymac, trace = big_trace
    out = full_dir / "events.jsonl"
    res = replay_to(pymac, trace, str(out), "--events", "--format", "jsonl")
    assert res.returncode == 1, res.stderr
    m = re.search(r"the event listing to standard output: %s \(stopped at event \d+; (\d+) bytes written\)" % ENOSPC, res.stderr)
    assert m, res.stderr
    assert int(m.group(1)) == os.path.getsize(str(out)) > 0, (m.group(0), os.path.getsize(str(out)))
    assert "cut short" not in res.stderr, res.stderr


@pytest.mark.parametrize("view", [["--summary"], ["--json"]])
def test_summary_to_dev_full(big_trace, view):
    pymac, trace = big_trace
    res = replay_to(pymac, trace, "/dev/full", *view)
    assert res.returncode == 1, res.stderr
    assert pymac_lines(res.stderr) == ["pymac: the summary to standard output: %s (0 bytes written)" % ENOSPC], res.stderr


@pytest.mark.parametrize("fmt", ["csv", "chrome", "html", "metrics"])
@pytest.mark.parametrize("gz", ["", ".gz"])
def test_export_onto_a_full_disk(big_trace, full_dir, fmt, gz):
    pymac, trace = big_trace
    fill(full_dir)
    out = full_dir / ("x." + fmt + gz)
    res = run_replay(pymac, trace, "--format", fmt, "-o", str(out))
    assert res.returncode == 1, res.stderr
    assert pymac_lines(res.stderr) and all(str(out) in l and ENOSPC in l for l in pymac_lines(res.stderr)), res.stderr
    assert len(pymac_lines(res.stderr)) == 1, res.stderr
    assert "cut short" not in res.stderr and str(trace) not in res.stderr, res.stderr
    assert sorted(os.listdir(str(full_dir))) == ["fill"], "a failed export left a file"


@pytest.mark.parametrize("fmt", ["chrome", "html"])
def test_export_that_fills_the_disk_leaves_no_file(big_trace, full_dir, fmt):
    # the first blocks go out, then the disk is full: the temporary file is removed
    pymac, trace = big_trace
    fill(full_dir, leave=16384)
    out = full_dir / ("x." + fmt)
    res = run_replay(pymac, trace, "--format", fmt, "-o", str(out))
    assert res.returncode == 1, res.stderr
    assert pymac_lines(res.stderr) == ["pymac: the %s export to %s: %s (stopped at event %s)" % (fmt, out, ENOSPC, re.search(r"event (\d+)", res.stderr).group(1))], res.stderr
    assert sorted(os.listdir(str(full_dir))) == ["fill"], "a failed export left a file"


def test_an_export_keeps_the_old_file_when_the_disk_is_full(big_trace, full_dir):
    pymac, trace = big_trace
    out = full_dir / "x.csv"
    out.write_text("the old one\n")
    fill(full_dir)
    res = run_replay(pymac, trace, "--format", "csv", "-o", str(out))
    assert res.returncode == 1 and ENOSPC in res.stderr, res.stderr
    assert out.read_text() == "the old one\n"


def test_a_cut_trace_to_a_working_output_still_says_cut_short(big_trace, tmp_path):
    pymac, trace = big_trace
    cut = tmp_path / "cut.pmt"
    with open(str(trace), "rb") as f:
        cut.write_bytes(f.read(os.path.getsize(str(trace)) // 2))
    res = run_replay(pymac, cut, "--events")
    assert res.returncode == 0, res.stderr
    assert pymac_lines(res.stderr) and "%s was cut short" % cut in res.stderr and "shown up to there" in res.stderr, res.stderr
    assert "event listing" not in res.stderr, res.stderr
    out = tmp_path / "cut.csv"
    res = run_replay(pymac, cut, "--format", "csv", "-o", str(out))
    assert res.returncode == 0 and "cut short" in res.stderr and "exported up to there" in res.stderr, res.stderr
    assert out.stat().st_size > 0


def test_replay_lines_to_dev_full(big_trace):
    pymac, trace = big_trace
    res = replay_to(pymac, trace, "/dev/full", "--lines")
    assert res.returncode == 1, res.stderr
    assert re.fullmatch(r"pymac: the line view to standard output: %s \(stopped at event \d+; 0 bytes written\)\n" % ENOSPC, res.stderr), res.stderr


def test_live_lines_to_dev_full(pymac):
    # exited 0 before, with nothing said
    with open("/dev/full", "wb") as f:
        res = subprocess.run(
            [pymac, "live", "--lines", "--interval", "0.2", "--", workload_python(), module("test_alloc_loop.py"), "200000"],
            stdout=f,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=120,
        )
    assert res.returncode == 1, res.stderr
    assert "pymac: the line view to standard output: %s (stopped at event" % ENOSPC in res.stderr, res.stderr
    assert "tracing stopped" in res.stderr, res.stderr
