"""Containers, for real: pymac attached to Docker containers of the local image.

Every test here runs real containers of pymaccounter/python:3.11 (built once
by scripts/build-image.sh) on the engine scripts/docker-setup.sh starts:

- `pymac run` runs several modules at once, each in its own container,
  and each container's collections equal its own gc.callbacks log, while a
  container of the same image that is not targeted contributes nothing;
- a Python started with `docker exec` after pymac attached is traced;
- containers of a compose project that start after pymac join the trace,
  and their stop ends their timeline;
- bad targets fail with one clear line and leave no trace file behind.
"""

import json
import os
import re
import subprocess
import time
import uuid

import pytest

from conftest import (
    MODULES,
    REPO,
    docker_image,  # noqa: F401 (fixture)
    events,
    run_replay,
    sh,
    start_record,
    stop,
    summary,
    tail,
)

HARNESS = str(REPO / "tests" / "harness")
# Modules with different workloads; each gets its own container.
RUN_MODULES = [
    "test_gc_callbacks.py",
    "test_multiply_gc.collect.py",
    "test_reference_cycle.py",
    "test_class_dealloc.py",
]
# A container nobody targets, busy collecting in the same image.
BYSTANDER = (
    "import gc, time\n"
    "class Bystander:\n"
    "    def __init__(self): self.me = self\n"
    "end = time.time() + 120\n"
    "while time.time() < end:\n"
    "    [Bystander() for _ in range(100)]\n"
    "    gc.collect()\n"
    "    time.sleep(0.05)\n"
)


def gc_runs(evs, pid):
    """(generation, collected) of each gc_done of pid, in order."""
    return [(e["generation"], e["collected"]) for e in evs if e.get("pid") == pid and e.get("kind") == "gc_done"]


def is_contiguous_run(haystack, needle):
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def log_runs(path):
    with open(path) as f:
        return [(c["generation"], c["collected"] + c["uncollectable"]) for c in json.load(f)]


def rm_containers(*names):
    subprocess.run(["docker", "rm", "-f"] + list(names), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cgroup_id_of(pymac, name):
    """The cgroup id `pymac ps --json` reports for a running container."""
    res = sh([pymac, "ps", "--json"])
    for c in json.loads(res.stdout)["containers"]:
        if c["name"] == name:
            return c["cgroup_id"]
    pytest.fail("pymac ps does not list container %s" % name)


def containers_by_name(summ):
    return {c["name"]: c for c in summ["containers"]}


def python_pids(cont):
    return [p["pid"] for p in cont["processes"] if p.get("python")]


@pytest.fixture
def bystander(docker_image):
    name = "pymac-test-bystander-" + uuid.uuid4().hex[:6]
    sh(["docker", "run", "-d", "--rm", "--network", "none", "--name", name, docker_image, "python3", "-c", BYSTANDER])
    yield name
    rm_containers(name)


def test_runner_modules_each_in_own_container(pymac, bystander, tmp_path):
    trace, gclog = tmp_path / "modules.pmt", tmp_path / "gc"
    gclog.mkdir()
    bystander_cg = cgroup_id_of(pymac, bystander)
    res = subprocess.run(
        [pymac, "run", "--test-dir", str(MODULES), "--record", str(trace)]
        # each module's own gc.callbacks log, from tests/harness/gclog_site
        + ["-v", HARNESS + ":/harness:ro", "-v", str(gclog) + ":/gclog"]
        + ["-e", "PYTHONPATH=/harness/gclog_site", "-e", "PYMAC_GC_LOG_DIR=/gclog"]
        + RUN_MODULES,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=600,
    )
    assert res.returncode == 0, "pymac run exit %d:\n%s\n%s" % (res.returncode, tail(res.stdout), tail(res.stderr))
    # the per-container summaries are printed, one per module
    for m in RUN_MODULES:
        assert "exit 0" in [l.split(m, 1)[1].strip() for l in res.stderr.splitlines() if m in l and "exit" in l][0]
    assert res.stdout.count("container pymac-run-") == len(RUN_MODULES), res.stdout[:3000]

    # Each distinct binary is attached once: all the containers share the
    # image's python3.11 and libc, so they cost the probes of one container.
    probes_all = re.search(r"tracing %d containers, (\d+) probes attached" % len(RUN_MODULES), res.stderr)
    assert probes_all, tail(res.stderr)
    one = subprocess.run(
        [pymac, "record", "-o", str(tmp_path / "one.pmt"), "--container", bystander, "--duration", "0.5"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    probes_one = re.search(r"tracing 1 container, (\d+) probes attached", one.stderr)
    assert one.returncode == 0 and probes_one, one.stderr
    assert probes_all.group(1) == probes_one.group(1), "probes: %s for %d containers, %s for one" % (
        probes_all.group(1),
        len(RUN_MODULES),
        probes_one.group(1),
    )

    summ = summary(pymac, trace)
    conts = [c for c in summ["containers"] if c["name"].startswith("pymac-run-")]
    assert len(conts) == len(RUN_MODULES), [c["name"] for c in summ["containers"]]
    evs = events(pymac, trace)
    by_cg = {c["cgroup_id"]: c for c in conts}
    pid_cg = {}
    for c in conts:
        assert c["runtime"] == "docker" and c["image"] == "pymaccounter/python:3.11", c
        assert c["stop_ns"] is not None, "container %s has no end in the trace" % c["name"]
        for p in c["processes"]:
            pid_cg[p["pid"]] = c["cgroup_id"]

    # Every event lands on the container that caused it: its cgroup is one of
    # the traced containers', the same as its process's, and never the
    # bystander's (same image, same probed file, not targeted).
    evs_only = [e for e in evs if "kind" in e and e.get("type") is None]
    assert evs_only, "no events recorded"
    for e in evs_only:
        assert e["cgroup_id"] != bystander_cg, "event of the untargeted container leaked: %r" % e
        assert e["cgroup_id"] in by_cg, "event outside the traced containers: %r" % e
        assert pid_cg.get(e["pid"]) == e["cgroup_id"], "event on another container's process: %r" % e

    # Each container's collections are exactly its own gc.callbacks log. The
    # log starts when the interpreter imports site (gclog_site), so a module
    # that frees everything by reference counting (test_class_dealloc) may
    # log none; the others collect, and must match.
    for c in conts:
        module = [m for m in RUN_MODULES if c["name"].startswith("pymac-run-" + m[:-3].replace(".", "-") + "-")]
        assert len(module) == 1, c["name"]
        pids = python_pids(c)
        assert len(pids) == 1, "container %s: python processes %r" % (c["name"], c["processes"])
        logged = log_runs(gclog / (module[0][:-3] + ".json"))
        seen = gc_runs(evs, pids[0])
        if module[0] != "test_class_dealloc.py":
            assert logged, "%s logged no collection" % module[0]
        assert is_contiguous_run(seen, logged), "%s: gc.callbacks saw %d collections %r...; pymac saw %r..." % (
            module[0],
            len(logged),
            logged[:5],
            seen[:8],
        )


def end_container(proc, err, name, timeout=30):
    """Remove the container a `record --container` traces: the recording
    ends by itself, and must succeed. Returns pymac's stderr."""
    sh(["docker", "rm", "-f", name])
    rc = proc.wait(timeout)
    err.join()
    assert rc == 0, tail(err.text())
    return err.text()


def test_docker_exec_after_attach_is_traced(pymac, docker_image, tmp_path):
    name = "pymac-test-exec-" + uuid.uuid4().hex[:6]
    trace = tmp_path / "exec.pmt"
    sh(
        ["docker", "run", "-d", "--init", "--network", "none", "--name", name]
        + ["-v", HARNESS + ":/harness:ro", "-v", str(MODULES) + ":/modules:ro"]
        + [docker_image, "sleep", "120"]
    )
    proc = None
    try:
        # Nothing in the container runs Python yet: pymac attaches ahead of
        # time to the python3 on its PATH.
        proc, err = start_record(pymac, trace, "--container", name)
        sh(["docker", "exec", name, "python3", "/harness/gclog.py", "/tmp/gc.json", "/modules/test_gc_callbacks.py"])
        logged = [
            (c["generation"], c["collected"] + c["uncollectable"])
            for c in json.loads(sh(["docker", "exec", name, "cat", "/tmp/gc.json"]).stdout)
        ]
        assert "container %s stopped" % name in end_container(proc, err, name)
    finally:
        if proc:
            stop(proc)
        rm_containers(name)

    summ = summary(pymac, trace)
    cont = containers_by_name(summ)[name]
    assert cont["stop_ns"] is not None
    pids = python_pids(cont)
    assert len(pids) == 1, cont["processes"]
    seen = gc_runs(events(pymac, trace), pids[0])
    assert logged and is_contiguous_run(seen, logged), "gc.callbacks %r, pymac %r" % (logged[:5], seen[:8])


def test_compose_project_containers_join_and_stop(pymac, docker_image, tmp_path):
    project = "pymactest" + uuid.uuid4().hex[:6]
    trace = tmp_path / "compose.pmt"
    compose = ["docker-compose", "-p", project, "-f", str(REPO / "docker-compose.yml")]
    env = dict(os.environ, PYMAC_LOOP="1")
    proc, err = start_record(pymac, trace, "--compose-project", project)
    try:
        # pymac is waiting; the project starts afterwards and joins.
        sh(compose + ["up", "-d", "gc_callbacks", "refcount"], timeout=180)
        assert err.wait_for(lambda l: "joined" in l, 30), tail(err.text())
        time.sleep(5)  # a few runs of each module, one second apart
        sh(compose + ["down", "-t", "2"], timeout=180)
        assert err.wait_for(lambda l: "stopped" in l, 30), tail(err.text())
        time.sleep(1)
    finally:
        rc = stop(proc, __import__("signal").SIGINT, 30)
        subprocess.run(compose + ["down", "-t", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    assert rc == 0, tail(err.text())
    summ = summary(pymac, trace)
    conts = [c for c in summ["containers"] if c.get("project") == project]
    assert sorted(c["service"] for c in conts) == ["gc_callbacks", "refcount"], summ["containers"]
    evs = events(pymac, trace)
    for c in conts:
        assert c["stop_ns"] is not None, c["name"]
        pids = python_pids(c)
        assert pids, "no Python process of %s in the trace" % c["name"]
        assert any(gc_runs(evs, p) for p in pids), "no collection seen in %s" % c["name"]



def test_short_lived_containers_are_traced_or_said_missed(pymac, docker_image, tmp_path):
    """Issue 21, item 8: a compose project's container that runs for 0.3 s
    (and one that runs for a few ms) is traced, or said to be missed, on
    stderr and in the summary; never nothing at all."""
    project = "pymacshort" + uuid.uuid4().hex[:6]
    trace = tmp_path / "short.pmt"
    names = {"py": project + "-py", "true": project + "-true"}
    label = ["--label", "com.docker.compose.project=" + project]
    proc, err = start_record(pymac, trace, "--compose-project", project)
    try:
        sh(["docker", "run", "--rm", "--network", "none", "--name", names["py"]] + label
           + [docker_image, "python3", "-c", "import time; d = {i: str(i) for i in range(2000)}; time.sleep(0.3)"])
        sh(["docker", "run", "--rm", "--network", "none", "--name", names["true"]] + label + [docker_image, "true"])
        # each one is said, joined (and stopped) or missed, once it is over,
        # in whichever order pymac learns of them (the lines read so far)
        def said(n):
            return re.search(r"container %s (stopped|.*was missed)" % re.escape(n), err.text())

        deadline = time.monotonic() + 10
        while not all(said(n) for n in names.values()) and time.monotonic() < deadline:
            err.wait_for(lambda l: "container " in l, 0.5)
        assert all(said(n) for n in names.values()), tail(err.text())
    finally:
        rc = stop(proc, __import__("signal").SIGINT, 30)
        rm_containers(*names.values())
    assert rc == 0, tail(err.text())
    summ = summary(pymac, trace)
    missed = {m["name"]: m for m in summ["missed_containers"]}
    traced = containers_by_name(summ)
    text = run_replay(pymac, trace).stdout
    for n in names.values():
        if n in missed:
            assert n not in traced or not traced[n]["processes"], (n, traced[n])
            assert "container %s " % n in text and "was missed: it ended before pymac could attach" in text, text[:2000]
            assert re.search(r"pymac: container %s (ran \d+\.\d\d s and )?was missed: " % re.escape(n), err.text()), tail(err.text())
        else:
            assert n in traced, "%s neither traced nor said missed: %r; stderr:\n%s" % (n, summ["missed_containers"], tail(err.text()))
    # The Python one is looked up as its start arrives, while it runs: how
    # much of its 0.3 s is traced depends on how fast this machine attaches
    # (under load, only its exit), so what is asserted is that it is traced
    # as a Python process when it is not said missed. docs/containers.md
    # says what is not caught yet.
    if names["py"] not in missed:
        assert python_pids(traced[names["py"]]), traced[names["py"]]["processes"]


@pytest.fixture
def nopython_image(docker_image, tmp_path):
    """An image holding one static program and no Python at all."""
    src = tmp_path / "pause.c"
    src.write_text("#include <unistd.h>\nint main(void) { for (;;) pause(); }\n")
    root = tmp_path / "rootfs"
    root.mkdir()
    sh(["gcc", "-static", "-O2", "-o", str(root / "pause"), str(src)])
    image = "pymaccounter/nopython:test"
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    res = subprocess.run(["docker", "import", "-", image], stdin=tar.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tar.wait()
    assert res.returncode == 0, res.stderr
    return image


def test_bad_targets(pymac, docker_image, nopython_image, tmp_path):
    stopped = "pymac-test-stopped-" + uuid.uuid4().hex[:6]
    nopy = "pymac-test-nopython-" + uuid.uuid4().hex[:6]
    try:
        sh(["docker", "create", "--network", "none", "--name", stopped, docker_image, "python3", "-c", "pass"])
        sh(["docker", "run", "-d", "--network", "none", "--name", nopy, nopython_image, "/pause"])
        cases = [
            (["--container", "no-such-container-" + uuid.uuid4().hex[:6]], "no container named or with id"),
            (["--container", stopped], "is not running"),
            (["--container", nopy], "runs no Python"),
            (["--cgroup", "/no/such/cgroup"], "no cgroup /no/such/cgroup"),
        ]
        for args, message in cases:
            trace = tmp_path / "bad.pmt"
            res = subprocess.run(
                [pymac, "record", "-o", str(trace)] + args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                universal_newlines=True,
                timeout=60,
            )
            lines = res.stderr.strip().splitlines()
            assert res.returncode == 1, (args, res.returncode, res.stderr)
            assert len(lines) == 1 and lines[0].startswith("pymac: ") and message in lines[0], (args, res.stderr)
            assert not trace.exists(), "a failed start left %s behind" % trace
        # libc alone is fine for a container without Python
        res = subprocess.run(
            [pymac, "record", "-o", str(tmp_path / "libc.pmt"), "--probes", "libc", "--container", nopy, "--duration", "1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=60,
        )
        assert res.returncode == 0, res.stderr
    finally:
        rm_containers(stopped, nopy)
