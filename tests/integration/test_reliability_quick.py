"""tests/reliability/attack.py in its quick mode: the bad command lines and
one fixture's damaged copies in every replay mode (a few seconds, no BPF).
The whole run, with HTTP and output-path attacks, is `make reliability`."""

import subprocess
import sys

from conftest import PYMAC, REPO, tail


def test_attack_quick():
    res = subprocess.run(
        [sys.executable, str(REPO / "tests" / "reliability" / "attack.py"), "--quick", "--pymac", str(PYMAC)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        timeout=300,
    )
    assert res.returncode == 0, tail(res.stdout)
    assert "0 crashes, 0 hangs" in res.stdout and "total: 0 failures" in res.stdout, res.stdout
