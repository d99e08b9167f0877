"""The parsers of untrusted input under libFuzzer, on a short budget.

Builds the fuzzers of tests/fuzz (clang, ASan + UBSan), replays every corpus
and kept crash input once (`make fuzz-regress`), then fuzzes each target for
about ten seconds. A crash fails with the path of the input that caused it;
tests/fuzz/crashes/<name>/ is where such an input goes once the parser is
fixed. The long runs are `make fuzz` (docs/reliability.md).
"""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FUZZ_DIR = REPO / ".output" / "fuzz"
CORPUS = REPO / "tests" / "fuzz" / "corpus"
FUZZERS = ["trace", "elf", "procmaps", "containers", "cgroup", "record"]
SECONDS = 10

pytestmark = pytest.mark.skipif(shutil.which("clang") is None, reason="clang is needed for libFuzzer")


def make(*targets, timeout=300):
    r = subprocess.run(
        ["make", "--no-print-directory", *targets],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, "make %s failed:\n%s%s" % (" ".join(targets), r.stdout, r.stderr[-4000:])
    return r.stdout


@pytest.fixture(scope="module")
def fuzzers():
    make(*[".output/fuzz/fuzz_%s" % name for name in FUZZERS])
    return {name: FUZZ_DIR / ("fuzz_" + name) for name in FUZZERS}


def test_fuzz_regress(fuzzers):
    out = make("fuzz-regress", timeout=120)
    for name in FUZZERS:
        assert ("fuzz_%-11s" % name) in out and "inputs ok" in out, out


def test_fuzz_short_budget(fuzzers, tmp_path):
    # All at once: the budget is wall-clock time, and a serial run would
    # take five times as long.
    runs = {}
    for name, binary in fuzzers.items():
        work = tmp_path / name
        corpus = work / "corpus"
        artifacts = work / "artifacts"
        shutil.copytree(CORPUS / name, corpus)  # the repository's corpus stays as it is
        artifacts.mkdir()
        log = open(work / "log", "w")
        proc = subprocess.Popen(
            [
                str(binary),
                "-max_total_time=%d" % SECONDS,
                "-timeout=10",
                "-rss_limit_mb=2048",
                "-print_final_stats=1",
                "-artifact_prefix=%s/" % artifacts,
                str(corpus),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        runs[name] = (proc, log, work)

    failures = []
    deadline = time.monotonic() + SECONDS + 60
    for name, (proc, log, work) in runs.items():
        try:
            rc = proc.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        log.close()
        crashes = sorted(str(p) for p in (work / "artifacts").iterdir())
        if rc != 0 or crashes:
            text = (work / "log").read_text(errors="replace")
            failures.append(
                "fuzz_%s: exit %d, crash input(s): %s\n%s"
                % (name, rc, ", ".join(crashes) or "(none written)", text[-3000:])
            )
    assert not failures, "\n\n".join(failures)
