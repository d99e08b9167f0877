"""A Kubernetes pod's UID and QoS class, from a real cgroup path, in the summary and /metrics.

No kubelet runs here, so the test makes the cgroup a kubelet would (cgroupfs
driver: /kubepods/burstable/pod<uid>/<64-hex container id>) in the cgroup v2
tree, moves a real Python into it, and traces that cgroup with `--cgroup`.
pymac reads the pod from the path alone, as it does for a pod's container
on a node: `record` writes it into the CONTAINER record, the summary JSON
shows it per container, and `live --prometheus` serves it as labels of
pymac_lane_info.
"""

import json
import os
import re
import subprocess
import time
import urllib.request
import uuid

import pytest

from conftest import LineReader, stop, summary, tail

PY = "/usr/bin/python3.11"
WORKLOAD = "import time\nfor i in range(300):\n    x = [str(j) for j in range(200)]\n    time.sleep(0.05)\n"


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] == "cgroup2" and fields[3] == "/":
                return fields[4]
    return None


@pytest.fixture
def pod_cgroup():
    """(cgroup path, pod uid, the pid of a Python in it)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make cgroups")
    mnt = cgroup2_mount()
    assert mnt, "no cgroup2 mount in /proc/self/mountinfo"
    uid = str(uuid.uuid4())
    ctr = uuid.uuid4().hex + uuid.uuid4().hex
    rel = "/kubepods/burstable/pod%s/%s" % (uid, ctr)
    made = []
    path = mnt
    for part in rel.strip("/").split("/"):
        path = os.path.join(path, part)
        if not os.path.isdir(path):
            os.mkdir(path)
            made.append(path)
    proc = subprocess.Popen([PY, "-c", "import time; time.sleep(1)\n" + WORKLOAD])
    try:
        with open(os.path.join(mnt + rel, "cgroup.procs"), "w") as f:
            f.write(str(proc.pid))
        yield rel, uid, proc.pid
    finally:
        proc.kill()
        proc.wait()
        time.sleep(0.2)
        for d in reversed(made):
            try:
                os.rmdir(d)
            except OSError:
                pass


def test_pod_in_summary(pymac, pod_cgroup, tmp_path):
    rel, uid, pid = pod_cgroup
    trace = tmp_path / "pod.pmt"
    res = subprocess.run(
        [pymac, "record", "-o", str(trace), "--cgroup", rel, "--duration", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=120,
    )
    assert res.returncode == 0, tail(res.stderr)
    conts = [c for c in summary(pymac, trace)["containers"] if c["name"] == rel]
    assert len(conts) == 1, res.stderr
    c = conts[0]
    assert (c["pod_uid"], c["qos"]) == (uid, "burstable")
    assert [p["pid"] for p in c["processes"]] == [pid]
    assert c["totals"]["counts"]["py_malloc"] > 0
    host = [c for c in summary(pymac, trace)["containers"] if c["runtime"] == "host"]
    assert all(h["pod_uid"] == "" and h["qos"] == "" for h in host)


def test_pod_in_metrics(pymac, pod_cgroup, tmp_path):
    rel, uid, _ = pod_cgroup
    proc = subprocess.Popen(
        [pymac, "live", "--lines", "--prometheus", "127.0.0.1:0", "--cgroup", rel],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    err = LineReader(proc.stderr)
    try:
        line = err.wait_for(lambda l: "serving metrics at" in l, 60)
        assert line, "no 'serving metrics at' line: %s" % err.text()
        url = re.search(r"http://[\d.]+:\d+/metrics", line).group(0)
        body = ""
        deadline = time.time() + 20
        while time.time() < deadline and "pymac_lane_info{" not in body:
            time.sleep(0.5)
            body = urllib.request.urlopen(url, timeout=10).read().decode()
    finally:
        stop(proc)
        err.join()
    infos = [l for l in body.splitlines() if l.startswith("pymac_lane_info{")]
    assert infos, body[:2000]
    pods = [l for l in infos if 'pod_uid="%s"' % uid in l]
    assert len(pods) == 1 and 'qos="burstable"' in pods[0], json.dumps(infos, indent=1)
