"""make install: PREFIX, DESTDIR, the file capabilities, and a pymac that works
from where it was installed (issue 21, item 7)."""

import os
import shutil
import subprocess

import pytest

from conftest import OUTPUT, REPO, tail


def make_install(tmp_path, *assignments):
    # the build under test, as it is: -o keeps make from rebuilding it
    out = OUTPUT.relative_to(REPO)
    res = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "-o", "%s/pymac" % out, "install", "OUTPUT=%s" % out]
        + list(assignments),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, "make install exit %d:\n%s%s" % (res.returncode, res.stdout, res.stderr)
    return res


def test_install_destdir_gives_a_working_pymac(pymac, tmp_path):
    dest = tmp_path / "dest"
    res = make_install(tmp_path, "DESTDIR=%s" % dest)
    binary = dest / "usr/local/bin/pymac"
    assert binary.is_file() and os.access(binary, os.X_OK), res.stdout
    assert (dest / "usr/local/share/doc/pymac/user-guide.md").is_file()
    # a staged tree gets no capabilities, and make says what to run later
    assert "capabilities not set under DESTDIR" in res.stdout, res.stdout
    assert "setcap cap_sys_admin,cap_sys_ptrace,cap_dac_read_search+ep /usr/local/bin/pymac" in res.stdout

    ver = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    assert ver.returncode == 0 and ver.stdout.startswith("pymac "), ver
    trace = tmp_path / "t.pmt"
    rec = subprocess.run(
        [str(binary), "record", "-o", str(trace), "--", "/usr/bin/python3", "-c", "pass"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(tmp_path),
    )
    assert rec.returncode == 0, tail(rec.stderr)
    assert "pymac: wrote %s: " % trace in rec.stderr, tail(rec.stderr)
    rep = subprocess.run([str(binary), "replay", str(trace)], capture_output=True, text=True, timeout=60)
    assert rep.returncode == 0 and rep.stdout.startswith("trace: "), tail(rep.stderr)


def test_install_prefix_sets_the_capabilities(pymac, tmp_path):
    if not shutil.which("setcap") or not shutil.which("getcap"):
        pytest.fail("setcap/getcap missing: make deps installs libcap2-bin")
    prefix = tmp_path / "prefix"
    res = make_install(tmp_path, "PREFIX=%s" % prefix)
    binary = prefix / "bin/pymac"
    caps = subprocess.run(["getcap", str(binary)], capture_output=True, text=True, timeout=10).stdout
    for cap in ("cap_sys_admin", "cap_sys_ptrace", "cap_dac_read_search"):
        assert cap in caps, (caps, res.stdout)
    assert "=ep" in caps, caps

    bare = tmp_path / "bare"
    res = make_install(tmp_path, "PREFIX=%s" % bare, "CAPS=")
    assert "no file capabilities set" in res.stdout, res.stdout
    caps = subprocess.run(["getcap", str(bare / "bin/pymac")], capture_output=True, text=True, timeout=10).stdout
    assert "cap_" not in caps, caps
