"""deploy/kubernetes/: the manifests are well-formed, agree with each other,
and grant exactly the capabilities pymac asks for.

No cluster is needed (nor reachable here). The YAML is parsed with PyYAML
(Debian's python3-yaml) and its objects are checked for what `kubectl apply`
and the Prometheus Operator would need from them. The capability list is not
compared with a copy: pymac itself, run as nobody with no capabilities and the
DaemonSet's targets, names in its one-line refusal the set it needs
(`sudo setcap cap_a,cap_b+ep ...`), and that set must be the DaemonSet's.
Then the DaemonSet's own command (nsenter into the node's cgroup namespace,
then pymac) runs as nobody with exactly those capabilities and records.
"""

import os
import re
import shutil

import pytest

from conftest import REPO, tail
from test_privileges import as_nobody, nobody_dir, priv, trace_has_events  # noqa: F401 (fixtures nobody_dir, priv)

yaml = pytest.importorskip("yaml", reason="python3-yaml is not installed (scripts/install-deps.sh installs it)")

DEPLOY = REPO / "deploy" / "kubernetes"
# pymac's target options and whether each takes a value (`pymac record --help`, TARGETS).
TARGET_OPTS = {"--all-containers": False, "--container": True, "--compose-project": True, "--cgroup": True, "-p": True}


def load_objects():
    objs = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is None:
                    continue
                assert isinstance(doc, dict), "%s: a document is not a mapping" % path.name
                for key in ("apiVersion", "kind", "metadata"):
                    assert key in doc, "%s: no %s" % (path.name, key)
                assert doc["metadata"].get("name"), "%s: %s has no name" % (path.name, doc["kind"])
                assert doc["kind"] not in objs, "two %s objects" % doc["kind"]
                objs[doc["kind"]] = doc
    return objs


@pytest.fixture(scope="module")
def objs():
    return load_objects()


def agent_container(ds):
    containers = ds["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, containers
    return containers[0]


def pymac_argv(ctr):
    """The DaemonSet's command line: (what runs before pymac, pymac's arguments)."""
    argv = list(ctr.get("command", [])) + list(ctr.get("args", []))
    assert all(isinstance(a, str) for a in argv), "every argument must be a string (quote numbers): %r" % argv
    assert "pymac" in argv, argv
    i = argv.index("pymac")
    return argv[:i], argv[i + 1 :]


def targets_of(args):
    out, i = [], 0
    while i < len(args):
        if args[i] in TARGET_OPTS:
            n = 2 if TARGET_OPTS[args[i]] else 1
            out += args[i : i + n]
            i += n
        else:
            i += 1
    return out


def test_manifests_parse_and_agree(objs):
    assert set(objs) == {"Namespace", "DaemonSet", "Service", "ServiceMonitor"}, sorted(objs)
    ns = objs["Namespace"]["metadata"]["name"]
    for kind in ("DaemonSet", "Service", "ServiceMonitor"):
        assert objs[kind]["metadata"].get("namespace") == ns, kind
    assert objs["DaemonSet"]["apiVersion"] == "apps/v1"
    assert objs["ServiceMonitor"]["apiVersion"] == "monitoring.coreos.com/v1"

    ds = objs["DaemonSet"]
    pod = ds["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    for k, v in ds["spec"]["selector"]["matchLabels"].items():
        assert pod_labels.get(k) == v, "the DaemonSet's selector misses its pods: %s" % k
    svc = objs["Service"]
    for k, v in svc["spec"]["selector"].items():
        assert pod_labels.get(k) == v, "the Service's selector misses the pods: %s" % k
    for k, v in objs["ServiceMonitor"]["spec"]["selector"]["matchLabels"].items():
        assert svc["metadata"]["labels"].get(k) == v, "the ServiceMonitor's selector misses the Service: %s" % k
    assert ns in objs["ServiceMonitor"]["spec"]["namespaceSelector"]["matchNames"]

    spec = pod["spec"]
    assert spec.get("hostPID") is True
    assert not spec.get("hostNetwork"), "the agent needs no host network"
    ctr = agent_container(ds)
    _, args = pymac_argv(ctr)
    assert args[0] == "record" and "--all-containers" in args, args
    # The port pymac serves is the one the pod, the Service and the ServiceMonitor name.
    listen = args[args.index("--prometheus") + 1]
    port = int(listen.rsplit(":", 1)[-1])
    assert not listen.startswith("127.") and ":" in listen, "bound to loopback, the Service cannot reach %s" % listen
    ports = {p["name"]: p for p in ctr["ports"]}
    assert ports["metrics"]["containerPort"] == port
    svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert svc_ports["metrics"]["port"] == port and svc_ports["metrics"]["targetPort"] == "metrics"
    assert [e["port"] for e in objs["ServiceMonitor"]["spec"]["endpoints"]] == ["metrics"]
    # The trace goes to a mounted directory.
    out = args[args.index("-o") + 1]
    mounts = {m["name"]: m for m in ctr["volumeMounts"]}
    assert any(out.startswith(m["mountPath"] + "/") for m in mounts.values()), out

    volumes = {v["name"]: v for v in spec["volumes"]}
    assert set(mounts) == set(volumes), "mounts %s, volumes %s" % (sorted(mounts), sorted(volumes))
    by_path = {m["mountPath"]: m for m in mounts.values()}
    for path in ("/sys/fs/cgroup", "/run/containerd/containerd.sock"):
        assert path in by_path, "%s is not mounted" % path
        assert by_path[path].get("readOnly") is True, "%s must be read-only" % path
        assert volumes[by_path[path]["name"]]["hostPath"]["path"] == path
    writable = [m["mountPath"] for m in mounts.values() if not m.get("readOnly")]
    assert sorted(writable) == ["/tmp", "/var/lib/pymac"], writable


def test_capabilities_are_what_pymac_asks_for(objs, priv, nobody_dir):  # noqa: F811 (fixtures)
    ctr = agent_container(objs["DaemonSet"])
    sc = ctr["securityContext"]
    assert not sc.get("privileged"), "the agent must not be privileged"
    assert sc["capabilities"]["drop"] == ["ALL"]
    granted = sorted(sc["capabilities"]["add"])
    assert all(re.fullmatch(r"[A-Z_]+", c) and not c.startswith("CAP_") for c in granted), granted

    prefix, args = pymac_argv(ctr)
    targets = targets_of(args)
    trace = os.path.join(nobody_dir, "deploy.pmt")
    res = as_nobody([], [priv, "record", "-o", trace] + targets, nobody_dir)
    assert res.returncode == 1, "pymac with no capabilities did not refuse: %s" % tail(res.stderr)
    m = re.search(r"sudo setcap (\S+)\+ep ", res.stderr)
    assert m, "no setcap line in: %s" % res.stderr
    asked = sorted(c[len("cap_") :].upper() for c in m.group(1).split(","))
    assert granted == asked, "the DaemonSet grants %s, pymac %s asks for %s" % (granted, " ".join(targets), asked)

    # Enough for the DaemonSet's own command line, nsenter included, with
    # the capability names the kernel and setpriv use. On a node pid 1 is
    # init; on this VM it is the sandbox's agent, whose namespaces not even
    # root may open (readlink /proc/1/ns/cgroup: EACCES), so nsenter joins
    # the cgroup namespace of this test's process, a root process outside
    # any container, as the node's init is.
    if prefix:
        assert shutil.which(prefix[0]), "%s is not installed" % prefix[0]
        assert prefix[:3] == ["nsenter", "--target", "1"], prefix
        prefix = prefix[:2] + [str(os.getpid())] + prefix[3:]
    res = as_nobody([c.lower() for c in granted], prefix + [priv, "record", "-o", trace, "--duration", "2"] + targets, nobody_dir)
    assert res.returncode == 0, "with %s: exit %d: %s" % (granted, res.returncode, tail(res.stderr))
    _, text = trace_has_events(priv, trace)
    assert text.startswith("trace:"), text
