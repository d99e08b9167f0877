"""The soak test, short: one minute of every demonstration container in a loop.

tests/soak/soak.py runs the compose services in a loop under a project of
its own with `pymac record` and `pymac live --lines --record` attached, then
checks that pymac's RSS and file descriptors stay flat, that no event is
lost (pymac's counts, the traces and every live line) and that every run of
every container has its gc.callbacks log in both traces, in order. `make
soak` runs it for ten minutes or more; here one minute catches faults and
gross leaks. The figures are printed, the verdict is the script's.
"""

import re
import subprocess

from conftest import REPO, docker_image, pymac, tail  # noqa: F401 (fixtures)

SOAK = str(REPO / "tests" / "soak" / "soak.py")


def compose_services():
    res = subprocess.run(
        ["docker-compose", "-f", str(REPO / "docker-compose.yml"), "config", "--services"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def soak_projects():
    res = subprocess.run(
        ["docker", "ps", "-a", "--filter", "label=com.docker.compose.project", "--format",
         '{{.Label "com.docker.compose.project"}}'],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        universal_newlines=True,
    )
    return {p for p in res.stdout.split() if p.startswith("pymac-soak-")}


def test_soak_one_minute(pymac, docker_image, tmp_path):
    before = soak_projects()
    res = subprocess.run(
        [SOAK, "--minutes", "1", "--keep", str(tmp_path / "soak")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        timeout=300,
    )
    out = res.stdout
    lines = out.strip().splitlines()
    assert res.returncode == 0 and lines[-1].startswith("soak: PASS"), "soak exit %d:\n%s" % (
        res.returncode,
        tail(out, 60),
    )

    # The figures are there and say what the verdict says: `pymac record`
    # is judged flat; `pymac live` is shown (its 10-minute window is filling).
    assert re.search(r"^soak: record rss MiB: start [\d.]+ .* -> flat$", out, re.M), out
    assert re.search(r"^soak: record fds: start \d+ .* -> flat$", out, re.M), out
    assert re.search(r"^soak: live rss MiB: start [\d.]+ .* -> not judged", out, re.M), out
    assert re.search(r"^soak: live lines: [1-9]\d* for \d+ lanes, 0 with a lost field above 0$", out, re.M), out
    for tracer in ("record", "live"):
        m = re.search(
            r"^soak: %s events: (\d+) in \d+ s of trace = (\d+) events/s; lost: pymac (\d+), trace (\d+);" % tracer,
            out,
            re.M,
        )
        assert m, (tracer, out)
        assert int(m.group(1)) > 0 and m.group(3, 4) == ("0", "0"), m.group(0)
    for svc in compose_services():
        gc = re.findall(r"^soak:   %s +runs +(\d+) .* (\S+)$" % re.escape(svc), out, re.M)
        assert len(gc) == 2, (svc, out)  # one per trace
        assert all(int(runs) >= 1 and verdict == "match" for runs, verdict in gc), (svc, gc)

    # Everything it kept: the trace, the lines, the samples; no container left.
    for f in ("record.pmt", "live.pmt", "lines.txt", "samples-record.tsv", "samples-live.tsv", "live.stderr"):
        assert (tmp_path / "soak" / f).is_file(), f
    assert soak_projects() <= before, "soak left containers behind: %s" % (soak_projects() - before)
