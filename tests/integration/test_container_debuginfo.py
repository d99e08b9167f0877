"""Debug info inside a container: Debian's LTO python3.11 with its
python3.11-dbg installed in the image (pymaccounter/python:3.11-dbg, made by
scripts/build-image-dbg.sh on demand), traced with `record --container`.

pymac finds the debug file by the interpreter's build-id under the
container's own root (/proc/PID/root/usr/lib/debug/.build-id/...) and takes
pymalloc's arenas from it (frees sized from pool headers); the allocator's
inlined calls and the deallocations it finds in the machine code, with or
without debug info, and counts what pyenv's 3.11.7 counts on the host for
the same workload, as test_inline_sites.py checks for the host's
python3.11. The image's python3.11 is another build than the host's (other
build-id), so nothing on the host can stand in for the image's debug
package: without it (the plain pymaccounter/python:3.11) the counts are the
same and only the frees' sizes are missing.

Counts are compared on the workload alone, as on the host: the loop runs
with N and with 2N iterations (one container each) and the difference is
what N iterations allocate."""

import json
import os
import subprocess
import threading
import time
import uuid

import pytest

from conftest import (
    MODULES,
    PYENV,
    PYMAC,
    REPO,
    LineReader,
    docker_image,  # noqa: F401 (fixture)
    events,
    module,
    record,
    sh,
    source_status,
    stop,
    summary,
    tail,
)
from test_inline_sites import build_id, close

DBG_IMAGE = os.environ.get("PYMAC_DBG_IMAGE", "pymaccounter/python:3.11-dbg")
PYENV_311 = PYENV + "/3.11.7/bin/python3.11"
PYTHON = "/usr/bin/python3.11"
PREFIX = "pymac-t5dbg-"
LOOP = "/modules/test_alloc_loop.py"
N = 2000
# What build-image-dbg.sh returns when a package is not to be had.
UNAVAILABLE = 3
# The image's python3.11 waits for one line on its FIFO, then runs the file.
RUN_AFTER_FIFO = (
    "import runpy, sys\n"
    "with open(sys.argv[1]) as f: f.readline()\n"
    "sys.argv = sys.argv[2:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def rm_containers(names):
    if names:
        subprocess.run(["docker", "rm", "-f"] + list(names), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def image_build_id(image):
    res = sh(["docker", "inspect", "-f", '{{index .Config.Labels "pymac.python3.11.build-id"}}', image])
    return res.stdout.strip()


@pytest.fixture(scope="session")
def dbg_image(docker_image):
    """pymaccounter/python:3.11-dbg, built once (cached across runs)."""
    res = subprocess.run(
        ["sh", str(REPO / "scripts" / "build-image-dbg.sh")],
        env=dict(os.environ, PYMAC_IMAGE=docker_image, PYMAC_DBG_IMAGE=DBG_IMAGE),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        timeout=1800,
    )
    if res.returncode == UNAVAILABLE:
        pytest.skip([l for l in res.stdout.splitlines() if "unavailable:" in l][-1])
    assert res.returncode == 0, "scripts/build-image-dbg.sh failed: %s" % tail(res.stdout)
    return DBG_IMAGE


class Workloads:
    """Containers of one image, each running one module under the image's
    python3.11 once the test writes a line to its FIFO."""

    def __init__(self, image, tmp):
        self.image = image
        self.sync = tmp / "sync"
        self.sync.mkdir()
        (self.sync / "run.py").write_text(RUN_AFTER_FIFO)
        self.names = []

    def start(self, tag, args, env=(), native_wait=False):
        """native_wait: the module itself waits (PYMAC_WAIT_FIFO), so the
        run is exactly the host's `python3.11 -S MODULE ARGS`."""
        name = PREFIX + tag + "-" + uuid.uuid4().hex[:6]
        fifo = "/sync/%s.fifo" % name
        os.mkfifo(str(self.sync / (name + ".fifo")))
        cmd = ["docker", "run", "-d", "--network", "none", "--name", name, "-e", "PYTHONHASHSEED=0"]
        for kv in list(env) + (["PYMAC_WAIT_FIFO=" + fifo] if native_wait else []):
            cmd += ["-e", kv]
        cmd += ["-v", "%s:/modules:ro" % MODULES, "-v", "%s:/sync" % self.sync, self.image, PYTHON, "-S"]
        cmd += ([] if native_wait else ["/sync/run.py", fifo]) + list(args)
        self.names.append(name)
        sh(cmd)
        return name

    def release(self):
        """One line to every FIFO; each open waits for its reader, so a
        thread per FIFO, bounded."""
        done = []

        def go(name):
            with open(str(self.sync / (name + ".fifo")), "w") as f:
                f.write("go\n")
            done.append(name)

        threads = [threading.Thread(target=go, args=(n,), daemon=True) for n in self.names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(done) == sorted(self.names), "containers never opened their FIFO: %s" % (
            sorted(set(self.names) - set(done))
        )

    def wait(self, timeout=600):
        res = sh(["docker", "wait"] + self.names, timeout=timeout)
        codes = dict(zip(self.names, res.stdout.split()))
        for name, code in codes.items():
            assert code == "0", "container %s exited %s: %s" % (name, code, tail(self.logs(name)))

    def logs(self, name):
        res = subprocess.run(["docker", "logs", name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        return res.stdout

    def remove(self):
        rm_containers(self.names)


@pytest.fixture
def workloads(tmp_path):
    made = []

    def make(image):
        w = Workloads(image, tmp_path)
        made.append(w)
        return w

    yield make
    for w in made:
        w.remove()


def ps_container(pymac, name, env=None, timeout=30):
    """The one Python process `pymac ps --json` lists in container name
    (asked again while the container is still starting)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    deadline = time.monotonic() + timeout
    while True:
        res = subprocess.run([pymac, "ps", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=full_env, timeout=120)
        assert res.returncode == 0, tail(res.stderr)
        conts = [c for c in json.loads(res.stdout)["containers"] if c["name"] == name]
        procs = [p for c in conts for p in c["processes"] if p.get("python")]
        if len(procs) == 1:
            return procs[0]
        if time.monotonic() > deadline:
            pytest.fail("pymac ps does not list one Python process in container %s: %s" % (name, conts))
        time.sleep(0.5)


def record_containers(pymac, trace, w, env=None):
    """record --container for each of w's containers, released once pymac
    traces; ends by itself when they have all exited."""
    args = [pymac, "record", "-o", str(trace), "--probes", "pymalloc,dealloc,gc"]
    for n in w.names:
        args += ["--container", n]
    full_env = dict(os.environ)
    full_env.update(env or {})
    start = time.monotonic()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=full_env)
    err = LineReader(proc.stderr)
    try:
        if not err.wait_for(lambda l: l.startswith("pymac: tracing"), 120):
            pytest.fail("pymac record did not start tracing: %s" % tail(err.text()))
        w.release()
        w.wait()
        rc = proc.wait(120)
    finally:
        stop(proc)
    err.join()
    assert rc == 0, "pymac record exit %s: %s" % (rc, tail(err.text()))
    return summary(pymac, trace), err.text(), time.monotonic() - start


def container_proc(summ, name):
    conts = {c["name"]: c for c in summ["containers"]}
    assert name in conts, "container %s not in the trace: %s" % (name, sorted(conts))
    pids = [p["pid"] for p in conts[name]["processes"] if p.get("python")]
    assert len(pids) == 1, conts[name]["processes"]
    procs = [p for p in summ["processes"] if p.get("pid") == pids[0]]
    assert len(procs) == 1, pids
    return procs[0]


def diffs(small, big):
    d = {k: big["counts"][k] - small["counts"][k] for k in ("py_malloc", "py_free", "py_realloc")}
    d["py_bytes"] = big["bytes"]["py_alloc"] - small["bytes"]["py_alloc"]
    return d


def dealloc_diffs(small, big):
    a = {t["type"]: t["count"] for t in small.get("top_dealloc_types", [])}
    b = {t["type"]: t["count"] for t in big.get("top_dealloc_types", [])}
    return {t: b[t] - a.get(t, 0) for t in b}


@pytest.fixture(scope="module")
def pyenv_counts(tmp_path_factory):
    """The reference: pyenv 3.11.7 on the host, N and 2N iterations."""
    if os.geteuid() != 0:
        pytest.skip("needs root for BPF")
    if not os.access(PYENV_311, os.X_OK):
        pytest.skip("not installed: %s" % PYENV_311)
    pymac = str(PYMAC)
    tmp = tmp_path_factory.mktemp("pyenv")
    out = []
    for n in (N, 2 * N):
        trace = tmp / ("loop-%d.pmt" % n)
        rec = record(pymac, trace, [PYENV_311, "-S", module("test_alloc_loop.py"), str(n)], probes="pymalloc,dealloc,gc", env={"PYTHONHASHSEED": "0"})
        assert rec.returncode == 0, rec.describe()
        procs = [p for p in summary(pymac, trace)["processes"] if p.get("python")]
        assert len(procs) == 1, procs
        out.append(procs[0])
    return out


@pytest.fixture(scope="module")
def dbg_run(request, dbg_image, tmp_path_factory):
    """The loop (N, 2N) and the gc.callbacks module, each in a container of
    the -dbg image, in one recording; ps is asked while they wait."""
    if os.geteuid() != 0:
        pytest.skip("needs root for BPF")
    pymac = str(PYMAC)
    tmp = tmp_path_factory.mktemp("dbg")
    w = Workloads(dbg_image, tmp)
    request.addfinalizer(w.remove)
    small = w.start("loop%d" % N, [LOOP, str(N)], native_wait=True)
    big = w.start("loop%d" % (2 * N), [LOOP, str(2 * N)], native_wait=True)
    gcname = w.start("gc", ["/modules/test_gc_callbacks.py"], env=["PYMAC_GC_LOG=/sync/gc.json"])
    # the debug file is the image's own: nothing on the host may stand in
    env = {"DEBUGINFOD_URLS": ""}
    ps = ps_container(pymac, small, env)
    trace = tmp / "dbg.pmt"
    summ, err, elapsed = record_containers(pymac, trace, w, env)
    gc_log = json.loads((w.sync / "gc.json").read_text())
    return {
        "ps": ps,
        "small": container_proc(summ, small),
        "big": container_proc(summ, big),
        "gc": container_proc(summ, gcname),
        "gc_log": gc_log,
        "trace": trace,
        "stderr": err,
        "elapsed": elapsed,
        "build_id": image_build_id(dbg_image),
    }


def test_image_is_another_build(dbg_run):
    bid = dbg_run["build_id"]
    assert len(bid) == 40, bid
    host = "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])
    if build_id(PYTHON) == bid or os.path.exists(host):
        pytest.skip("the image's python3.11 is the host's build (%s): the host's debug file could stand in" % bid[:12])


def test_debug_info_found_in_container_root(dbg_run):
    bid = dbg_run["build_id"][:12]
    for where, proc in (("ps", dbg_run["ps"]), ("record", dbg_run["small"])):
        status, detail = source_status(proc, "pymalloc")
        assert "debug info (build-id %s" % bid in detail, (where, detail)
        assert "of the target's root" in detail, (where, detail)
        assert status == "full" and "allocator table" in detail, (where, detail)
        # pymalloc's arenas found in the image's debug file: frees sized
        assert "frees sized from pool headers at" in detail, (where, detail)
        status, detail = source_status(proc, "dealloc")
        assert status == "full" and "calls through tp_dealloc" in detail, (where, detail)
        status, detail = source_status(proc, "gc")
        assert status == "full" and "generation_stats" in detail, (where, detail)
    cov = dbg_run["small"]["coverage"]
    assert (cov["pymalloc"], cov["dealloc"], cov["gc"]) == ("complete", "complete", "complete"), cov


def test_counts_agree_with_pyenv(dbg_run, pyenv_counts):
    d = diffs(dbg_run["small"], dbg_run["big"])
    p = diffs(*pyenv_counts)
    print("%d iterations: container %s, pyenv %s" % (N, d, p))
    assert d["py_malloc"] >= 5 * N, d
    problems = ["%s: container %d, pyenv %d" % (k, d[k], p[k]) for k in d if not close(d[k], p[k])]
    assert not problems, "counts of %d iterations differ by more than 1%%: %s" % (N, problems)
    # (Unlike on the host, whole runs are not comparable: pymac attaches to
    # the containers' interpreters after their start-up, while they wait.)


def test_dealloc_per_type_agrees_with_pyenv(dbg_run, pyenv_counts):
    per = {"container": dealloc_diffs(dbg_run["small"], dbg_run["big"]), "pyenv": dealloc_diffs(*pyenv_counts)}
    types = [t for t in set(per["container"]) | set(per["pyenv"]) if max(per["container"].get(t, 0), per["pyenv"].get(t, 0)) >= N // 2]
    assert len(types) >= 3, per
    print("deallocations of %d iterations: %s" % (N, {t: (per["container"].get(t, 0), per["pyenv"].get(t, 0)) for t in types}))
    for t in types:
        c, p = per["container"].get(t, 0), per["pyenv"].get(t, 0)
        assert close(c, p), "%s deallocations of %d iterations: container %d, pyenv %d (%s)" % (t, N, c, p, per)


def test_gc_matches_callbacks(dbg_run):
    pymac = str(PYMAC)
    logged = [(c["generation"], c["collected"] + c["uncollectable"]) for c in dbg_run["gc_log"]]
    assert len(logged) >= 10 and {g for g, _ in logged} == {0, 1, 2}, logged
    pid = dbg_run["gc"]["pid"]
    seen = [(e["generation"], e["collected"]) for e in events(pymac, dbg_run["trace"], pid) if e.get("kind") == "gc_done"]
    n = len(logged)
    print("gc: %d collections logged by gc.callbacks, %d gc_done in the trace" % (n, len(seen)))
    assert any(seen[i : i + n] == logged for i in range(len(seen) - n + 1)), "gc.callbacks %r..., pymac %r..." % (logged[:5], seen[:8])


def test_plain_image_without_debug_info(pymac, docker_image, workloads, tmp_path, pyenv_counts):
    """The same loop in the image without python3.11-dbg: no debug info in
    its root nor (another build) on the host. The machine code has it all:
    the counts are pyenv's; only the frees' sizes are missing."""
    w = workloads(docker_image)
    small = w.start("plain%d" % N, [LOOP, str(N)], native_wait=True)
    big = w.start("plain%d" % (2 * N), [LOOP, str(2 * N)], native_wait=True)
    exe = tmp_path / "python3.11"
    sh(["docker", "cp", small + ":" + PYTHON, str(exe)])
    bid = build_id(str(exe))
    if bid == build_id(PYTHON) or os.path.exists("/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])):
        pytest.skip("%s's python3.11 is the host's build (%s): the host's debug file applies" % (docker_image, bid[:12]))
    env = {"DEBUGINFOD_URLS": ""}
    ps = ps_container(pymac, small, env)
    summ, _, _ = record_containers(pymac, tmp_path / "plain.pmt", w, env)
    procs = [container_proc(summ, small), container_proc(summ, big)]
    for where, p in (("ps", ps), ("record", procs[0])):
        for src in ("pymalloc", "dealloc", "gc"):
            status, detail = source_status(p, src)
            assert status == "full", (where, src, status, detail)
        detail = source_status(p, "pymalloc")[1]
        assert "no debug info found" in detail and "inlines the allocator" in detail, (where, detail)
        assert "frees not sized" in detail, (where, detail)
        assert "calls through tp_dealloc" in source_status(p, "dealloc")[1], where
    plain, ref = diffs(*procs), diffs(*pyenv_counts)
    print("%d iterations: plain image %s, pyenv %s" % (N, plain, ref))
    problems = ["%s: plain image %d, pyenv %d" % (k, plain[k], ref[k]) for k in plain if not close(plain[k], ref[k])]
    assert not problems, "counts of %d iterations differ by more than 1%%: %s" % (N, problems)
