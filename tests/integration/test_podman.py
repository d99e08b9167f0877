"""podman's containers, for real: named like Docker's.

The image is the project's own (scripts/build-image.sh builds it for Docker),
handed to podman with `docker save | podman load`: no registry is reached.
pymac finds podman's containers two ways, and each is tested here:

- without podman's service (rootful podman without systemd has none):
  containers/storage's containers.json names them and the OCI runtime's
  pidfile says which run; `record --all-containers` names the lane of a
  container that starts after pymac by its podman name;
- with the service (`podman system service` on a socket of the test's own,
  given as PYMAC_PODMAN_SOCK): `record --container NAME` resolves the name
  through podman's Docker-compatible API, and a Python started later with
  `podman exec` lands in that lane with its collections.

They skip only when podman is not installed or cannot run a container on
this machine (the reason is podman's own error).
"""

import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from conftest import (
    docker_image,  # noqa: F401 (fixture)
    sh,
    start_record,
    stop,
    summary,
    tail,
)

# This VM's hard limits are below podman's defaults (1048576 open files,
# and an nproc limit runc may not set to the hard limit here), and runc
# fails to create the container with EPERM; these fit under them.
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
RUN = ["podman", "run", "-d", "--network", "none"] + LIMITS
# Collects in a loop so the container's lane has allocations and collections.
BUSY = (
    "import gc, time\n"
    "class Cycle:\n"
    "    def __init__(self): self.me = self\n"
    "end = time.time() + 120\n"
    "while time.time() < end:\n"
    "    [Cycle() for _ in range(200)]\n"
    "    gc.collect()\n"
    "    time.sleep(0.05)\n"
)
EXEC_COLLECTIONS = 25


def rm_podman(*names):
    subprocess.run(["podman", "rm", "-f", "-t", "0"] + list(names), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def podman_image(docker_image):
    """The project's image in podman's store, once podman is known to run containers here."""
    if not shutil.which("podman"):
        pytest.skip("podman is not installed (scripts/install-deps.sh installs it)")
    image = "localhost/" + docker_image
    if subprocess.run(["podman", "image", "exists", image]).returncode != 0:
        res = subprocess.run(
            "docker save %s | podman load" % docker_image, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300
        )
        assert res.returncode == 0, "docker save | podman load failed: %s" % tail(res.stdout)
    probe = "pymac-podman-probe-" + uuid.uuid4().hex[:6]
    res = subprocess.run(["podman", "run", "--rm", "--name", probe, "--network", "none"] + LIMITS + [image, "true"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    if res.returncode != 0:
        pytest.skip("podman cannot run a container here: %s" % tail(res.stderr, 3))
    return image


def lane_of(summ, name):
    found = [c for c in summ["containers"] if c["name"] == name]
    assert len(found) == 1, "no lane named %s among %s" % (name, [(c["name"], c["runtime"]) for c in summ["containers"]])
    return found[0]


def podman_id(name):
    return sh(["podman", "inspect", "-f", "{{.Id}}", name]).stdout.strip()


def test_all_containers_names_podman_lane_without_service(pymac, podman_image, tmp_path):
    name = "pymac-podman-" + uuid.uuid4().hex[:6]
    trace = tmp_path / "all.pmt"
    # Whatever runs on the machine, this pymac sees no podman service.
    env = dict(os.environ, PYMAC_PODMAN_SOCK=str(tmp_path / "no-service.sock"))
    proc, err = start_record(pymac, trace, "--all-containers", env=env)
    try:
        sh(RUN + ["--name", name, podman_image, "python3", "-c", BUSY])
        assert err.wait_for(lambda l: "container %s joined" % name in l, 30), tail(err.text())
        time.sleep(3)
        rm_podman(name)
        assert err.wait_for(lambda l: "container %s stopped" % name in l, 30), tail(err.text())
    finally:
        rc = stop(proc, signal.SIGINT, 30)
        rm_podman(name)
    assert rc == 0, tail(err.text())
    lane = lane_of(summary(pymac, trace), name)
    assert lane["runtime"] == "podman"
    assert lane["image"] == podman_image
    assert len(lane["id"]) == 64
    assert lane["stop_ns"] is not None
    pythons = [p for p in lane["processes"] if p.get("python")]
    assert pythons, lane["processes"]
    assert lane["totals"]["counts"]["py_malloc"] > 0
    assert lane["totals"]["gc"]["collections"] > 0


def test_container_by_name_through_podman_service(pymac, podman_image, tmp_path):
    name = "pymac-podman-svc-" + uuid.uuid4().hex[:6]
    sock = tmp_path / "podman.sock"
    trace = tmp_path / "svc.pmt"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", "unix://%s" % sock], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
    proc = None
    try:
        deadline = time.time() + 30
        while not sock.exists():
            assert service.poll() is None, "podman system service exited: %s" % tail(service.stderr.read())
            assert time.time() < deadline, "podman system service made no socket in 30 s"
            time.sleep(0.2)
        sh(RUN + ["--name", name, podman_image, "sleep", "120"])
        cid = podman_id(name)
        # Only the service can answer: the storage files are out of pymac's reach.
        env = dict(os.environ, PYMAC_PODMAN_SOCK=str(sock), PYMAC_PODMAN_ROOT=str(tmp_path / "no-storage"))
        blind = dict(env, PYMAC_PODMAN_SOCK=str(tmp_path / "no-service.sock"))
        res = subprocess.run([pymac, "ps", "--json"], env=blind, stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
        assert res.returncode == 0 and name not in res.stdout, "pymac found %s without the service or the storage" % name
        res = subprocess.run([pymac, "ps", "--json"], env=env, stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
        assert name in res.stdout, "pymac ps does not list %s through the service" % name
        proc, err = start_record(pymac, trace, "--container", name, env=env)
        sh(["podman", "exec", name, "python3", "-c", "import gc\nfor _ in range(%d): gc.collect()" % EXEC_COLLECTIONS])
        time.sleep(1)
        rm_podman(name)
        rc = proc.wait(30)
        err.join()
        assert rc == 0, tail(err.text())
        assert "container %s stopped" % name in err.text()
    finally:
        if proc:
            stop(proc)
        rm_podman(name)
        stop(service)
    lane = lane_of(summary(pymac, trace), name)
    assert lane["runtime"] == "podman"
    assert lane["id"] == cid
    assert lane["image"] == podman_image
    pythons = [p for p in lane["processes"] if p.get("python")]
    assert len(pythons) == 1, lane["processes"]
    assert pythons[0]["gc"]["collections"] >= EXEC_COLLECTIONS
