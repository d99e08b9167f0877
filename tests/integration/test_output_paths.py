"""Output paths that a hostile neighbour plants (issue 23): pymac runs as
root and must not be turned against the user by what is at its -o name."""

import os
import subprocess
import time

from conftest import record, run_replay, summary

PY = "/root/.pyenv/versions/3.12.1/bin/python3.12"


def test_replay_export_leaves_a_device_node_a_device(pymac, tmp_path):
    trace = tmp_path / "t.pmt"
    assert record(pymac, trace, [PY, "-c", "pass"]).returncode == 0
    node = tmp_path / "n"
    os.mknod(str(node), 0o600 | 0o020000, os.makedev(1, 3))
    for fmt in ("csv", "chrome", "html"):
        res = run_replay(pymac, trace, "--format", fmt, "-o", str(node))
        assert res.returncode == 1 and "character device" in res.stderr, res.stderr
        assert os.major(os.stat(str(node)).st_rdev) == 1 and not os.path.isfile(str(node))
    # a planted link at an export's name is not replaced by a file either
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    res = run_replay(pymac, trace, "--format", "csv", "-o", str(link))
    assert res.returncode == 1 and "symbolic link" in res.stderr, res.stderr
    assert link.is_symlink() and victim.read_text() == "keep me\n"
    # and another user's file is not replaced
    other = tmp_path / "other.csv"
    other.write_text("someone else's\n")
    os.chown(str(other), 65534, 65534)
    res = run_replay(pymac, trace, "--format", "csv", "-o", str(other))
    assert res.returncode == 1 and "another user's file" in res.stderr, res.stderr
    assert other.read_text() == "someone else's\n"
    # no temporary file is left behind
    assert not [p for p in os.listdir(str(tmp_path)) if p.startswith(".")], os.listdir(str(tmp_path))


def test_a_fifo_at_the_trace_name_is_refused_at_once(pymac, tmp_path):
    fifo = tmp_path / "x.pmt"
    os.mkfifo(str(fifo))
    marker = tmp_path / "ran"
    t0 = time.monotonic()
    rec = record(pymac, fifo, ["/bin/sh", "-c", "touch %s" % marker], timeout=20)
    took = time.monotonic() - t0
    assert rec.returncode == 1 and "FIFO" in rec.stderr, rec.describe()
    assert took < 1.0, took
    assert not marker.exists(), "the command ran although the trace could not be created"


def test_a_planted_directory_link_is_not_followed(pymac, tmp_path):
    target = tmp_path / "root-only"
    target.mkdir()
    planted = tmp_path / "pmdir"
    planted.symlink_to(target)
    os.lchown(str(planted), 65534, 65534)
    rec = record(pymac, planted / "victim.txt", ["/bin/true"])
    assert rec.returncode == 1 and "uid 65534" in rec.stderr, rec.describe()
    assert not (target / "victim.txt").exists()


def test_a_trace_to_standard_output(pymac, tmp_path):
    out = tmp_path / "t.pmt"
    with open(str(out), "wb") as f:
        res = subprocess.run([pymac, "record", "-o", "-", "--", PY, "-c", "pass"], stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.PIPE, timeout=120)
    assert res.returncode == 0, res.stderr
    assert summary(pymac, out)["processes"]
