"""Every view keeps its books through one model (user/model/ledger.c), so
for the same trace the HTML report, the CSV series, the Chrome counters, the
summary and the /metrics page give the same per-lane totals: bytes
allocated and freed, what is held at the end, collections. Checked on every
committed trace fixture and on a trace of three containers."""

import csv
import html
import io
import json
import re
import subprocess

import pytest

from conftest import PYMAC, REPO, modules_trace, docker_image, tail  # noqa: F401 (fixtures)

FIXTURES = sorted((REPO / "tests" / "fixtures").glob("trace-*.pmt"))


def replay(trace, *args):
    res = subprocess.run(
        [str(PYMAC), "replay", str(trace)] + list(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=300,
    )
    assert res.returncode == 0, "replay %s exit %d: %s" % (" ".join(args), res.returncode, tail(res.stderr.decode()))
    return res.stdout.decode()


# Each view's books, as {lane name: (py_alloc, py_freed, py_net, libc_alloc, libc_freed, libc_net, gcs)}


def from_summary(trace):
    s = json.loads(replay(trace, "--summary", "--json"))
    out = {}
    for l in s["lanes"]:
        t = l["totals"]
        out.setdefault(l["name"], []).append(
            (
                t["bytes"]["py_alloc"],
                t["bytes"]["py_freed"],
                l["held"]["py"],
                t["bytes"]["malloc"],
                t["bytes"]["malloc_freed"],
                l["held"]["malloc"],
                t["gc"]["collections"],
            )
        )
    return out


def from_html(trace):
    text = replay(trace, "--format", "html", "-o", "-")
    out = {}
    for m in re.finditer(r'<section class="lane"([^>]*)>', text):
        a = dict((k, html.unescape(v)) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', m.group(1)))
        out.setdefault(a["name"], []).append(
            tuple(int(a[k]) for k in ("py-alloc", "py-freed", "py-net", "libc-alloc", "libc-freed", "libc-net", "gc"))
        )
    return out


def from_csv(trace):
    rows = list(csv.DictReader(io.StringIO(replay(trace, "--format", "csv", "--resolution", "0.5"))))
    out = {}
    for name in sorted(set(r["container"] for r in rows)):
        mine = [r for r in rows if r["container"] == name]

        def total(col):
            return sum(int(r[col]) for r in mine)

        out[name] = [
            (
                total("py_alloc_bytes"),
                total("py_free_bytes"),
                int(mine[-1]["py_net_bytes"]),
                total("libc_alloc_bytes"),
                total("libc_free_bytes"),
                int(mine[-1]["libc_net_bytes"]),
                total("gc_count"),
            )
        ]
    return out


def from_chrome(trace):
    doc = json.loads(replay(trace, "--format", "chrome", "-o", "-"))
    names, last, gcs = {}, {}, {}
    for e in doc["traceEvents"]:
        if e["ph"] == "M" and e["name"] == "process_name":
            names[e["pid"]] = re.sub(r" \(.*\)$", "", e["args"]["name"])
        elif e["ph"] == "C" and e["name"] in ("allocated bytes", "freed bytes", "net bytes"):
            last[(e["pid"], e["name"])] = (e["args"]["python"], e["args"]["libc"])
        elif e["ph"] == "X" and e.get("cat") == "gc" and not e["args"].get("unfinished"):
            gcs[e["pid"]] = gcs.get(e["pid"], 0) + 1
    out = {}
    for pid, name in names.items():
        a = last.get((pid, "allocated bytes"), (0, 0))
        f = last.get((pid, "freed bytes"), (0, 0))
        n = last.get((pid, "net bytes"), (0, 0))
        out.setdefault(name, []).append((a[0], f[0], n[0], a[1], f[1], n[1], gcs.get(pid, 0)))
    return out


def from_metrics(trace):
    text = replay(trace, "--format", "metrics", "-o", "-")
    vals = {}
    for line in text.splitlines():
        m = re.match(r'^(pymac_\w+)\{lane="((?:[^"\\]|\\.)*)",lane_kind="\w+"(,[^}]*)?\} (\S+)$', line)
        if not m:
            continue
        name = m.group(2).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        key = (m.group(1), labels.get("allocator", ""))
        lane = vals.setdefault(name, {})
        lane[key] = lane.get(key, 0) + float(m.group(4))
    out = {}
    for name, v in vals.items():
        out[name] = [
            (
                int(v.get(("pymac_allocated_bytes_total", "python"), 0)),
                int(v.get(("pymac_freed_bytes_total", "python"), 0)),
                int(v.get(("pymac_net_bytes", "python"), 0)),
                int(v.get(("pymac_allocated_bytes_total", "libc"), 0)),
                int(v.get(("pymac_freed_bytes_total", "libc"), 0)),
                int(v.get(("pymac_net_bytes", "libc"), 0)),
                int(v.get(("pymac_gc_collections_total", ""), 0)),
            )
        ]
    return out


def combine(view):
    """Lanes of the same name (a reused pid's lanes) added up, so that views
    that name lanes and views that number them can be compared."""
    out = {}
    for name, rows in view.items():
        out[name] = tuple(sum(r[i] for r in rows) for i in range(7))
    return out


def check(trace):
    books = {
        "summary": combine(from_summary(trace)),
        "html": combine(from_html(trace)),
        "csv": combine(from_csv(trace)),
        "chrome": combine(from_chrome(trace)),
        "metrics": combine(from_metrics(trace)),
    }
    ref = books["summary"]
    assert ref, "no lane in %s" % trace
    assert any(v[0] or v[3] or v[6] for v in ref.values()), "nothing counted in %s" % trace
    for view, b in books.items():
        # a lane with nothing in it has no CSV rows
        want = dict((k, v) for k, v in ref.items() if view != "csv" or any(v))
        got = dict((k, v) for k, v in b.items() if view != "csv" or any(v))
        assert got == want, "%s of %s disagrees with the summary:\n%r\n%r" % (view, trace.name, got, want)
    return ref


@pytest.mark.parametrize("trace", FIXTURES, ids=[f.name for f in FIXTURES])
def test_fixture_views_agree(trace):
    check(trace)


def test_container_trace_views_agree(modules_trace):
    ref = check(modules_trace)
    # the three containers, with their collections
    conts = [k for k in ref if k.startswith("pymac-run-")]
    assert len(conts) == 3, ref.keys()
    assert any(ref[c][6] for c in conts), ref
