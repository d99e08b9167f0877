"""`pymac ps`: containers and Python processes, and what each source would see.

Host interpreters are started here; the container test starts a `docker run`
container and a one-service compose project from the local image
pymaccounter/python:3.11 (scripts/docker-setup.sh, scripts/build-image.sh).
"""

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import DEBIAN_PYTHON, IMAGE, REPO, docker_image, sh, tail  # noqa: F401 (fixture)

PYENV_312 = "/root/.pyenv/versions/3.12.1/bin/python3.12"
SLEEPER = "import time; time.sleep(60)"
PS_TIMEOUT = 120
SOURCES = ("pymalloc", "dealloc", "gc", "libc", "footprint")
CONTAINER_KEYS = {"id", "name", "image", "project", "service", "runtime", "cgroup_id", "processes"}
PROCESS_KEYS = {"pid", "ppid", "comm", "exe", "python", "python_version", "allocator", "cgroup_id", "sources"}


def run_ps(pymac, *args, env=None):
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    cmd = [pymac, "ps"] + list(args)
    try:
        return subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=PS_TIMEOUT,
            env=full_env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("%s did not finish within %ds" % (" ".join(cmd), PS_TIMEOUT))


def ps_json(pymac, env=None):
    res = run_ps(pymac, "--json", env=env)
    assert res.returncode == 0, "pymac ps --json exit %d: %s" % (res.returncode, tail(res.stderr))
    try:
        doc = json.loads(res.stdout)
    except ValueError as e:
        pytest.fail("pymac ps --json is not one JSON object (%s):\n%s" % (e, res.stdout[:2000]))
    assert set(doc) == {"containers"}, doc.keys()
    for c in doc["containers"]:
        assert set(c) == CONTAINER_KEYS, c.keys()
        for p in c["processes"]:
            assert set(p) == PROCESS_KEYS, p.keys()
            assert set(p["sources"]) == set(SOURCES), p["sources"].keys()
            for s in SOURCES:
                assert set(p["sources"][s]) == {"status", "detail"}
                assert p["sources"][s]["status"] in ("full", "partial", "none", "off")
    return doc


def find_pid(doc, pid):
    """(container, process) holding pid, or (None, None)."""
    for c in doc["containers"]:
        for p in c["processes"]:
            if p["pid"] == pid:
                return c, p
    return None, None


def wait_mapped(pid, needle, timeout=10):
    """Wait until the process maps a file whose path holds needle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/maps" % pid) as f:
                if needle in f.read():
                    return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail("pid %d never mapped %s" % (pid, needle))


@pytest.fixture
def host_pythons():
    """A pyenv 3.12 and a Debian 3.11 interpreter, sleeping."""
    for path in (PYENV_312, DEBIAN_PYTHON):
        if not os.access(path, os.X_OK):
            pytest.skip("interpreter not installed: %s" % path)
    procs = {}
    try:
        for key, path, needle in (
            ("pyenv-3.12", PYENV_312, "libpython3.12"),
            ("debian-3.11", DEBIAN_PYTHON, "libc.so"),
        ):
            p = subprocess.Popen([path, "-c", SLEEPER], stdin=subprocess.DEVNULL)
            procs[key] = p
            wait_mapped(p.pid, needle)
        yield procs
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


def test_host_pythons_listed_with_coverage(pymac, host_pythons):
    doc = ps_json(pymac)
    hosts = [c for c in doc["containers"] if c["runtime"] == "host"]
    assert len(hosts) == 1, [c["name"] for c in doc["containers"]]
    host = hosts[0]
    assert host["name"] == "host" and host["id"] == "" and host["image"] == ""

    c, p = find_pid(doc, host_pythons["pyenv-3.12"].pid)
    assert p is not None, "pyenv 3.12 process not listed"
    assert c is host
    assert p["python_version"] == "3.12"
    assert p["python"].endswith("/libpython3.12.so.1.0"), p["python"]
    assert p["exe"] == os.path.realpath(PYENV_312)
    assert p["comm"].startswith("python3")
    assert p["ppid"] == os.getpid()
    assert p["cgroup_id"] > 0
    assert p["sources"]["pymalloc"]["status"] == "full", p["sources"]["pymalloc"]
    assert p["sources"]["gc"]["status"] == "full", p["sources"]["gc"]
    assert p["sources"]["libc"]["status"] == "full", p["sources"]["libc"]

    c, p = find_pid(doc, host_pythons["debian-3.11"].pid)
    assert p is not None, "Debian 3.11 process not listed"
    assert c is host
    assert p["python_version"] == "3.11"
    assert p["python"] == DEBIAN_PYTHON
    # its LTO build inlines the allocator: the calls through its table
    assert p["sources"]["pymalloc"]["status"] == "full", p["sources"]["pymalloc"]
    assert "inlines the allocator" in p["sources"]["pymalloc"]["detail"]
    assert "allocator table" in p["sources"]["pymalloc"]["detail"]
    assert p["sources"]["gc"]["status"] == "full", p["sources"]["gc"]
    assert "generation_stats" in p["sources"]["gc"]["detail"], p["sources"]["gc"]

    # pymac ps itself is no Python process
    assert all(p["comm"] != "pymac" for c in doc["containers"] for p in c["processes"])


def test_text_and_verbose(pymac, host_pythons):
    res = run_ps(pymac)
    assert res.returncode == 0, tail(res.stderr)
    assert "HOST" in res.stdout.splitlines()
    rows = {int(line.split()[0]): line.split() for line in res.stdout.splitlines() if line.strip()[:1].isdigit()}
    deb = rows.get(host_pythons["debian-3.11"].pid)
    assert deb, res.stdout
    # PID COMM PYMALLOC DEALLOC GC LIBC FOOTPRINT PYTHON (VERSION)
    assert deb[2:7] == ["full"] * 5, deb
    assert deb[7] == DEBIAN_PYTHON and deb[8] == "(3.11)", deb
    # a partial source, as the column shows it: DWARF's copies of the
    # allocator (some keep no location for their argument)
    res = run_ps(pymac, env={"PYMAC_PYMALLOC_SITES": "dwarf"})
    assert res.returncode == 0, tail(res.stderr)
    rows = {int(line.split()[0]): line.split() for line in res.stdout.splitlines() if line.strip()[:1].isdigit()}
    deb = rows.get(host_pythons["debian-3.11"].pid)
    assert deb and deb[2] == "partial", (deb, res.stdout)
    # footprint needs nothing from the binary: full even where pymalloc is partial
    assert deb[6] == "full", deb
    pyenv = rows.get(host_pythons["pyenv-3.12"].pid)
    assert pyenv and pyenv[2] == "full" and pyenv[4] == "full" and pyenv[8] == "(3.12)", pyenv

    res = run_ps(pymac, "--verbose")
    assert res.returncode == 0, tail(res.stderr)
    assert "found through its code) in %s, reading the GC state's" % DEBIAN_PYTHON in res.stdout, res.stdout
    assert "PyObject_{Malloc,Calloc,Realloc,Free} in" in res.stdout


def test_help_and_bad_argument(pymac):
    res = run_ps(pymac, "--help")
    assert res.returncode == 0 and "EXAMPLES" in res.stdout
    res = run_ps(pymac, "extra")
    assert res.returncode != 0 and "unexpected argument" in res.stderr


def test_no_proc_is_one_line_error(pymac):
    if not shutil.which("unshare"):
        pytest.skip("unshare is missing")
    res = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", 'umount -l /proc && exec "$0" ps', pymac],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=PS_TIMEOUT,
    )
    if "umount" in res.stderr or "unshare" in res.stderr:
        pytest.skip("cannot hide /proc here: %s" % res.stderr.strip())
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pymac: cannot read /proc"), res.stderr


# ---- containers


COMPOSE = """version: "2.4"
services:
  app:
    image: %s
    network_mode: none
    command: ["python3", "-c", "%s"]
"""


@pytest.fixture
def containers(docker_image, tmp_path):
    """A docker-run container with Python, one without, and a compose service."""
    tag = uuid.uuid4().hex[:8]
    plain = "pymac-ps-test-" + tag
    idle = "pymac-ps-test-idle-" + tag
    project = "pymacpstest"
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(COMPOSE % (docker_image, SLEEPER))
    compose = ["docker-compose", "-p", project, "-f", str(compose_file)]
    try:
        base = ["docker", "run", "-d", "--rm", "--network", "none", "--name"]
        plain_id = sh(base + [plain, docker_image, "python3", "-c", SLEEPER]).stdout.strip()
        idle_id = sh(base + [idle, docker_image, "sleep", "60"]).stdout.strip()
        sh(compose + ["up", "-d"], timeout=300)
        app_id = sh(compose + ["ps", "-q", "app"]).stdout.strip()
        assert len(app_id) == 64, app_id
        app_name = sh(["docker", "inspect", "-f", "{{.Name}}", app_id]).stdout.strip().lstrip("/")
        yield {
            "plain": (plain_id, plain),
            "idle": (idle_id, idle),
            "app": (app_id, app_name),
            "project": project,
        }
    finally:
        subprocess.run(["docker", "rm", "-f", plain, idle], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(compose + ["down", "-t", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def container(doc, cid):
    for c in doc["containers"]:
        if c["id"] == cid:
            return c
    return None


def wait_python_in(pymac, cids, env=None, timeout=30):
    """ps --json once every container in cids shows a Python process."""
    deadline = time.monotonic() + timeout
    while True:
        doc = ps_json(pymac, env=env)
        found = [container(doc, cid) for cid in cids]
        if all(c and c["processes"] for c in found) or time.monotonic() > deadline:
            return doc
        time.sleep(0.5)


def check_container_python(c, name, image):
    assert c["name"] == name
    assert c["image"] == image
    assert c["runtime"] == "docker"
    assert c["cgroup_id"] > 0
    assert len(c["processes"]) == 1, c["processes"]
    p = c["processes"][0]
    assert p["comm"].startswith("python3")
    assert p["python_version"] == "3.11"
    assert p["python"].startswith("/usr/bin/python3"), p["python"]
    assert p["cgroup_id"] == c["cgroup_id"]
    # Debian's LTO interpreter, as on the host: the allocator table's calls
    assert p["sources"]["pymalloc"]["status"] == "full", p["sources"]["pymalloc"]
    assert p["sources"]["gc"]["status"] == "full", p["sources"]["gc"]
    assert p["sources"]["libc"]["status"] == "full", p["sources"]["libc"]


def test_containers_listed(pymac, containers):
    plain_id, plain = containers["plain"]
    idle_id, idle = containers["idle"]
    app_id, app = containers["app"]
    doc = wait_python_in(pymac, [plain_id, app_id])

    c = container(doc, plain_id)
    assert c is not None, "container %s not listed: %s" % (plain, [x["name"] for x in doc["containers"]])
    check_container_python(c, plain, IMAGE)
    assert c["project"] == "" and c["service"] == ""

    c = container(doc, app_id)
    assert c is not None, "compose container %s not listed" % app
    check_container_python(c, app, IMAGE)
    assert c["project"] == containers["project"]
    assert c["service"] == "app"

    c = container(doc, idle_id)
    assert c is not None, "container without Python %s not listed" % idle
    assert c["name"] == idle and c["processes"] == []

    # Python processes of containers are not the host's
    host = [x for x in doc["containers"] if x["runtime"] == "host"]
    for h in host:
        assert {p["pid"] for p in h["processes"]}.isdisjoint(
            {p["pid"] for x in doc["containers"] if x["runtime"] != "host" for p in x["processes"]}
        )

    res = run_ps(pymac)
    assert res.returncode == 0, tail(res.stderr)
    lines = res.stdout.splitlines()
    head = [i for i, line in enumerate(lines) if line.startswith("CONTAINER %s " % idle)]
    assert head and lines[head[0] + 1].strip() == "(no Python process)", res.stdout
    assert any(
        line.startswith("CONTAINER %s  compose %s/app  image %s  id %s" % (app, containers["project"], IMAGE, app_id[:12]))
        for line in lines
    ), res.stdout


def test_containers_without_engine(pymac, containers):
    """With the engine unreachable, containers come from cgroups and Docker's files."""
    plain_id, plain = containers["plain"]
    app_id, app = containers["app"]
    wait_python_in(pymac, [plain_id, app_id])
    env = {"PYMAC_DOCKER_SOCK": "/nonexistent/docker.sock"}
    doc = ps_json(pymac, env=env)
    for cid, name in ((plain_id, plain), (app_id, app)):
        c = container(doc, cid)
        assert c is not None, "container %s not listed without the engine" % name
        check_container_python(c, name, IMAGE)
    assert container(doc, app_id)["service"] == "app"
