"""Usage errors, hints, help layout: what the user guide promises (issue 21, item 9)."""

import re
import subprocess

import pytest

from conftest import DEBIAN_PYTHON, REPO, record, tail

COMMANDS = ["record", "replay", "live", "ps"]


def run(pymac, *args):
    return subprocess.run([pymac] + list(args), capture_output=True, text=True, timeout=60)


def guide_status(when):
    """The exit status docs/user-guide.md's table gives for a row."""
    text = (REPO / "docs" / "user-guide.md").read_text()
    for m in re.finditer(r"^\| (\d+) \| (.*) \|$", text, re.M):
        if when in m.group(2):
            return int(m.group(1))
    pytest.fail("no exit status row for %r in the user guide" % when)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="bare"),
        pytest.param(["frobnicate"], id="unknown-command"),
        pytest.param(["record", "--bogus"], id="record-unknown-option"),
        pytest.param(["record"], id="record-no-target"),
        pytest.param(["replay"], id="replay-no-file"),
        pytest.param(["live", "--bogus"], id="live-unknown-option"),
        pytest.param(["ps", "--bogus"], id="ps-unknown-option"),
        pytest.param(["replay", "x.pmt", "--summary", "--format", "jsonl"], id="summary-with-jsonl"),
    ],
)
def test_bad_usage_exits_as_the_guide_says(pymac, args):
    res = run(pymac, *args)
    assert res.returncode == guide_status("bad usage") == 64, (res.returncode, res.stderr)
    assert res.stderr.strip(), "no word on stderr"
    # every hint names a command that exists
    for hint in re.findall(r"Try `([^']*)'", res.stderr):
        assert hint.startswith("pymac "), res.stderr


def test_errors_and_success_exit_as_the_guide_says(pymac, tmp_path):
    assert run(pymac, "replay", str(tmp_path / "none.pmt")).returncode == guide_status("an error") == 1
    assert run(pymac, "record", "-o", str(tmp_path / "t.pmt"), "-p", "999999999").returncode == 1
    assert run(pymac, "--version").returncode == 0
    for c in COMMANDS:
        assert run(pymac, c, "--help").returncode == 0, c
    trace = tmp_path / "ok.pmt"
    rec = record(pymac, trace, [DEBIAN_PYTHON, "-c", "pass"])
    assert rec.returncode == 0, tail(rec.stderr)


def test_jsonl_format_implies_events(pymac, tmp_path):
    trace = tmp_path / "t.pmt"
    rec = record(pymac, trace, [DEBIAN_PYTHON, "-c", "pass"])
    assert rec.returncode == 0, tail(rec.stderr)
    res = run(pymac, "replay", str(trace), "--format", "jsonl")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines and all(l.startswith("{") for l in lines), res.stdout[:500]
    assert res.stdout == run(pymac, "replay", str(trace), "--events", "--format", "jsonl").stdout


@pytest.mark.parametrize("command", [""] + COMMANDS)
def test_help_examples_fit_80_columns(pymac, command):
    """argp wraps its doc at 79 columns: an example's comment must not be cut
    onto a line of its own."""
    out = run(pymac, *([command, "--help"] if command else ["--help"])).stdout
    block = out.split("EXAMPLES:\n", 1)[1].split("\n\n", 1)[0]
    for line in block.splitlines():
        assert line.startswith("  "), "wrapped example line %r in:\n%s" % (line, block)


def test_ps_help_says_what_it_needs(pymac):
    out = run(pymac, "ps", "--help").stdout
    assert "CAP_SYS_PTRACE" in out and "CAP_DAC_READ_SEARCH" in out and "refuses" in out, out
