"""Privileges and data: what pymac needs, what it refuses, whom its files
belong to, and that a container cannot make it open a host file.

pymac runs as `nobody` under util-linux setpriv with exactly the
capabilities a mode needs (ambient, inheritable and bounding sets all equal
to that list), never as full root, except where root is the point (sudo).
"""

import json
import os
import shutil
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import PYMAC, sh, tail

NOBODY = 65534
NOGROUP = 65534
DEBIAN_PY = "/usr/bin/python3.11"
PYENV_PY = "/root/.pyenv/versions/3.11.7/bin/python3.11"

# Measured on this 6.18 kernel (see docs/reliability.md, "Privileges and data").
MIN_COMMAND = ["sys_admin"]
MIN_OTHER_USER = ["sys_admin", "sys_ptrace", "dac_read_search"]
MIN_CONTAINER = ["sys_admin", "sys_ptrace", "dac_read_search"]

WORKLOAD = "import time\nfor _ in range(400):\n    x = [object() for i in range(500)]\n    time.sleep(0.02)\n"


def setpriv_available():
    return shutil.which("setpriv") is not None


@pytest.fixture
def priv():
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to nobody")
    if not setpriv_available():
        pytest.skip("util-linux setpriv is not installed")
    if not os.access(str(PYMAC), os.X_OK):
        pytest.fail("%s is missing: build it with `make` first" % PYMAC)
    return str(PYMAC)


@pytest.fixture
def nobody_dir():
    """A directory nobody can write (pytest's tmp_path is root's alone)."""
    d = tempfile.mkdtemp(prefix="pymac-priv-", dir="/tmp")
    os.chown(d, NOBODY, NOGROUP)
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(caps, args, cwd, timeout=180, env=None):
    """Run args as nobody:nogroup with no groups and exactly `caps`."""
    spec = "".join(",+" + c for c in caps)
    cmd = [
        "setpriv",
        "--reuid=%d" % NOBODY,
        "--regid=%d" % NOGROUP,
        "--clear-groups",
        "--inh-caps=-all" + spec,
        "--ambient-caps=-all" + spec,
        "--bounding-set=-all" + spec,
        "--",
    ] + list(args)
    full_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": cwd, "LANG": "C.UTF-8"}
    if env:
        full_env.update(env)
    return subprocess.run(
        cmd,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=timeout,
        env=full_env,
    )


def trace_has_events(pymac, trace):
    res = subprocess.run(
        [pymac, "replay", trace],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=120,
    )
    assert res.returncode == 0, tail(res.stderr)
    first = res.stdout.splitlines()[0]
    # "trace: 1.2 s, 5494 events, 0 lost, complete, 1 process"
    n = int(first.split(",")[1].split()[0])
    return n, res.stdout


def assert_one_line_refusal(res, missing, trace):
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert res.returncode == 1, "exit %d, stderr:\n%s" % (res.returncode, res.stderr)
    assert len(lines) == 1, "want one line, got:\n%s" % res.stderr
    line = lines[0]
    assert ("missing " in line) and (missing in line), line
    assert "run as root, or: sudo setcap " in line and "+ep " in line, line
    assert not os.path.exists(trace), "%s was created before the privilege check" % trace
    return line


# ---- 1. one line, before any file, for each privileged command


@pytest.mark.parametrize(
    "argv",
    [
        ["record", "-o", "t.pmt", "--", DEBIAN_PY, "-c", "pass"],
        ["live", "--lines", "--record", "t.pmt", "--", DEBIAN_PY, "-c", "pass"],
        ["ps"],
    ],
    ids=["record", "live", "ps"],
)
def test_no_privileges_one_line(priv, nobody_dir, argv):
    res = as_nobody([], [priv] + argv, nobody_dir)
    want = "CAP_SYS_PTRACE" if argv[0] == "ps" else "CAP_SYS_ADMIN"
    assert_one_line_refusal(res, want, os.path.join(nobody_dir, "t.pmt"))
    assert os.listdir(nobody_dir) == []


def test_bpf_and_perfmon_are_not_enough(priv, nobody_dir):
    """CAP_BPF + CAP_PERFMON load the programs, but this kernel's uprobe PMU
    wants CAP_SYS_ADMIN: refused up front, not a trace of 'Permission denied'."""
    trace = os.path.join(nobody_dir, "t.pmt")
    res = as_nobody(["bpf", "perfmon"], [priv, "record", "-o", trace, "--", DEBIAN_PY, "-c", "pass"], nobody_dir)
    line = assert_one_line_refusal(res, "CAP_SYS_ADMIN", trace)
    assert "cap_sys_admin" in line


# ---- 2. the minimum sets, tested as nobody


def test_minimum_for_a_command(priv, nobody_dir):
    trace = os.path.join(nobody_dir, "cmd.pmt")
    res = as_nobody(
        MIN_COMMAND,
        [priv, "record", "-o", trace, "--", DEBIAN_PY, "-c", "x = [object() for i in range(20000)]"],
        nobody_dir,
    )
    assert res.returncode == 0, res.stderr
    n, text = trace_has_events(priv, trace)
    assert n > 0, text
    assert "Permission denied" not in res.stderr, res.stderr
    st = os.stat(trace)
    assert st.st_uid == NOBODY and stat.S_IMODE(st.st_mode) == 0o600


@pytest.fixture
def root_python():
    """A Python run by root from /root (unreadable to nobody), allocating."""
    if not os.access(PYENV_PY, os.X_OK):
        pytest.skip("%s is not installed" % PYENV_PY)
    proc = subprocess.Popen([PYENV_PY, "-c", WORKLOAD], stdin=subprocess.DEVNULL)
    time.sleep(1.0)
    yield proc
    proc.kill()
    proc.wait()


def test_minimum_for_another_users_process(priv, nobody_dir, root_python):
    trace = os.path.join(nobody_dir, "pid.pmt")
    args = [priv, "record", "-o", trace, "-p", str(root_python.pid), "--duration", "2"]
    res = as_nobody(MIN_OTHER_USER, args, nobody_dir)
    assert res.returncode == 0, res.stderr
    n, text = trace_has_events(priv, trace)
    assert n > 0, text
    for drop in MIN_OTHER_USER:
        os.path.exists(trace) and os.unlink(trace)
        res = as_nobody([c for c in MIN_OTHER_USER if c != drop], args, nobody_dir)
        assert_one_line_refusal(res, "CAP_" + drop.upper(), trace)


@pytest.fixture
def container(docker_image):
    name = "pymac-priv-%d" % os.getpid()
    sh(["docker", "rm", "-f", name], check=False)
    sh(["docker", "run", "-d", "--rm", "--name", name, docker_image, "python3", "-c", WORKLOAD.replace("400", "100000")])
    time.sleep(2)
    yield name
    sh(["docker", "rm", "-f", name], check=False)


def test_minimum_for_a_container(priv, nobody_dir, container):
    trace = os.path.join(nobody_dir, "cont.pmt")
    args = [priv, "record", "-o", trace, "--container", container, "--duration", "2"]
    res = as_nobody(MIN_CONTAINER, args, nobody_dir)
    assert res.returncode == 0, res.stderr
    n, text = trace_has_events(priv, trace)
    assert n > 0, text
    assert "container %s" % container in text, text
    for drop in MIN_CONTAINER:
        os.path.exists(trace) and os.unlink(trace)
        res = as_nobody([c for c in MIN_CONTAINER if c != drop], args, nobody_dir)
        assert_one_line_refusal(res, "CAP_" + drop.upper(), trace)


# ---- replay, summary and exports need nothing


def test_replay_needs_no_privileges(priv, nobody_dir, tmp_path):
    src = tmp_path / "root.pmt"
    res = subprocess.run(
        [priv, "record", "-q", "-o", str(src), "--", DEBIAN_PY, "-c", "x = [object() for i in range(5000)]"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stderr
    trace = os.path.join(nobody_dir, "t.pmt")
    shutil.copy(str(src), trace)
    os.chown(trace, NOBODY, NOGROUP)
    for argv in (
        ["replay", trace],
        ["replay", trace, "--summary", "--json"],
        ["replay", trace, "--events", "--format", "jsonl"],
        ["replay", trace, "--format", "csv", "-o", os.path.join(nobody_dir, "t.csv")],
        ["replay", trace, "--format", "chrome", "-o", os.path.join(nobody_dir, "t.json")],
    ):
        res = as_nobody([], [priv] + argv, nobody_dir)
        assert res.returncode == 0, "%s: %s" % (argv, res.stderr)
        assert "CAP_" not in res.stderr
    assert os.path.getsize(os.path.join(nobody_dir, "t.csv")) > 0


# ---- 3. trace files belong to the sudo user, mode 0600


@pytest.mark.parametrize("mode", ["record", "live"])
def test_trace_owned_by_sudo_user(priv, nobody_dir, mode):
    trace = os.path.join(nobody_dir, "sudo.pmt")
    if mode == "record":
        argv = [priv, "record", "-q", "-o", trace]
    else:
        argv = [priv, "live", "--lines", "--record", trace]
    argv += ["--", DEBIAN_PY, "-c", "x = [object() for i in range(5000)]"]
    env = dict(os.environ, SUDO_UID=str(NOBODY), SUDO_GID=str(NOGROUP), SUDO_USER="nobody")
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=180, env=env)
    assert res.returncode == 0, res.stderr
    st = os.stat(trace)
    assert (st.st_uid, st.st_gid) == (NOBODY, NOGROUP), "owned by %d:%d" % (st.st_uid, st.st_gid)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)


# ---- 4. a hostile container layout cannot make pymac open a host file

SECRET_DIR = "/opt/pymac-priv-secret"


@pytest.fixture
def host_secret():
    """A Python ELF (defines PyObject_Malloc) at a path only the host has."""
    os.makedirs(SECRET_DIR, exist_ok=True)
    path = os.path.join(SECRET_DIR, "python3")
    shutil.copy(DEBIAN_PY, path)
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(SECRET_DIR, ignore_errors=True)


@pytest.fixture
def hostile_container(docker_image, host_secret):
    """python3 on the container's PATH (and a whole PATH directory) are
    symlinks to absolute host-only paths; the process itself runs the
    image's real interpreter."""
    name = "pymac-priv-hostile-%d" % os.getpid()
    sh(["docker", "rm", "-f", name], check=False)
    script = (
        "set -e; "
        "ln -sf %(s)s/python3 /usr/local/bin/python3; "
        "ln -sf %(s)s/python3 /usr/bin/python3; "
        "mkdir -p /opt; ln -sfn %(s)s /opt/bin; "
        "exec /usr/bin/python3.11 -c '%(w)s'" % {"s": SECRET_DIR, "w": WORKLOAD.replace("400", "100000")}
    )
    sh(["docker", "run", "-d", "--rm", "--name", name, "-e", "PATH=/opt/bin:/usr/local/bin:/usr/bin:/bin", "--entrypoint", "sh", docker_image, "-c", script])
    time.sleep(2)
    res = sh(["docker", "exec", name, "sh", "-c", "test -e %s/python3 && echo present || echo absent" % SECRET_DIR])
    assert res.stdout.strip() == "absent", "the secret must not exist inside the container"
    yield name
    sh(["docker", "rm", "-f", name], check=False)


def strace_opens(cmd, out, timeout=180):
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    log = out + ".strace"
    res = subprocess.run(
        ["strace", "-f", "-qq", "-o", log, "-e", "trace=open,openat,openat2,stat,lstat,newfstatat,statx,access,faccessat,faccessat2,readlink,readlinkat,execve"] + cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=timeout,
    )
    with open(log) as f:
        return res, f.read().splitlines()


def host_lookups(lines):
    """Syscalls that looked SECRET_DIR up as a host path (not relative to a
    container's root fd, not a readlink that merely returned it)."""
    bad = []
    for l in lines:
        if SECRET_DIR not in l:
            continue
        if "readlink" in l:
            continue  # the container's link text, read, not followed
        if "openat2(" in l and "RESOLVE_IN_ROOT" in l:
            continue  # resolved inside the container's root
        bad.append(l)
    return bad


def test_hostile_layout_ps(pymac, hostile_container, host_secret, tmp_path):
    res, lines = strace_opens([pymac, "ps", "--verbose", "--json"], str(tmp_path / "ps"))
    assert res.returncode == 0, res.stderr
    assert host_secret not in res.stdout and SECRET_DIR not in res.stdout
    assert host_lookups(lines) == [], "\n".join(host_lookups(lines))


def test_hostile_layout_record(pymac, hostile_container, host_secret, tmp_path):
    trace = str(tmp_path / "hostile.pmt")
    res, lines = strace_opens(
        [pymac, "record", "-o", trace, "--container", hostile_container, "--duration", "2"], str(tmp_path / "rec")
    )
    assert res.returncode == 0, res.stderr
    assert SECRET_DIR not in res.stderr, res.stderr
    assert host_lookups(lines) == [], "\n".join(host_lookups(lines))
    n, text = trace_has_events(pymac, trace)
    assert n > 0 and SECRET_DIR not in text, text
    # the interpreter the container really runs is the one attached
    assert "/usr/bin/python3.11" in res.stderr, res.stderr


def test_resolve_stays_in_root(pymac, hostile_container, host_secret, tmp_path):
    """The layout is really hostile: a naive open of
    /proc/PID/root/usr/bin/python3 follows the container's absolute link in
    the host's view and reaches the host's file, which pymac never does
    (checked by the two tests above)."""
    pid = int(sh(["docker", "inspect", "-f", "{{.State.Pid}}", hostile_container]).stdout.strip())
    naive = os.stat("/proc/%d/root/usr/bin/python3" % pid)
    secret = os.stat(host_secret)
    assert (naive.st_dev, naive.st_ino) == (secret.st_dev, secret.st_ino)


# ---- 5. what a trace holds: nothing of the host beyond the traced processes


def test_trace_holds_no_environment_or_hostname(pymac, tmp_path):
    import socket

    marker = "pymac-priv-env-marker-7f3a"
    trace = str(tmp_path / "env.pmt")
    env = dict(os.environ, PYMAC_PRIV_MARKER=marker)
    res = subprocess.run(
        [pymac, "record", "-q", "-o", trace, "--", DEBIAN_PY, "-c", "x = [object() for i in range(2000)]"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=180,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    everything = ""
    for argv in (["--events", "--format", "jsonl"], ["--summary", "--json"], []):
        r = subprocess.run([pymac, "replay", trace] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        assert r.returncode == 0, r.stderr
        everything += r.stdout
    assert marker not in everything
    host = socket.gethostname()
    if len(host) >= 4:
        assert host not in everything
    # the command line is recorded (META "command"), as the user typed it
    assert "range(2000)" in everything
