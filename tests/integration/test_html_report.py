"""`pymac replay FILE --format html -o OUT`: the self-contained HTML report.

Structure is checked on the file itself (nothing to fetch, one lane per
container, GC markers that add up to the summary's counts, escaping of what
traced processes named); rendering is checked by opening the page in
headless Chromium: a screenshot whose lane bands hold the lanes' colours,
and a DOM dump that shows the page's script ran and its hover readout works.
Screenshots are kept under tests/artifacts/.
"""

import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from conftest import (
    DEBIAN_PYTHON,
    PYENV,
    REPO,
    record,
    run_replay,
    summary,
    tail,
)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"
WIDTH = 1180  # the lanes are 1136 px wide; the page margin is 16

# Colours the report draws with (user/export/export_html.c).
PY_FILL = (0x9E, 0xCA, 0xE1)
LIBC_LINE = (0xF2, 0x8E, 0x2B)
GEN_COLOURS = [(0xE7, 0xBA, 0x52), (0x94, 0x67, 0xBD), (0x8C, 0x56, 0x4B)]
FP_LINE = (0x17, 0xBE, 0xCF)
RSS_LINE = (0xBC, 0xBD, 0x22)


# ---- helpers


def export_html(pymac, trace, out, *extra):
    res = run_replay(pymac, trace, "--format", "html", "-o", str(out), *extra)
    assert res.returncode == 0, "replay --format html exit %d: %s" % (res.returncode, tail(res.stderr))
    assert out.is_file(), "no report at %s" % out
    return out.read_text(encoding="utf-8")


def lanes(text):
    """Each lane <section> as a dict of its data-* attributes plus its body."""
    found = []
    for m in re.finditer(r'<section class="lane"([^>]*)>(.*?)</section>', text, re.S):
        attrs = dict((k, html.unescape(v)) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', m.group(1)))
        attrs["body"] = m.group(2)
        found.append(attrs)
    return found


def markers(lane_body):
    """(generation, collections) of every GC marker of a lane."""
    out = []
    for m in re.finditer(r'<rect class="gc [^"]*"([^>]*)>', lane_body):
        a = dict(re.findall(r'data-([a-z]+)="([^"]*)"', m.group(1)))
        out.append((int(a["gen"]), int(a["n"])))
    return out


def lane_data(lane_body):
    m = re.search(r'<script type="application/json" class="pm-data">(.*?)</script>', lane_body, re.S)
    assert m, "lane without its data"
    return json.loads(m.group(1))


def containers(summ):
    return [c for c in summ.get("containers", []) if c.get("runtime") != "host"]


def chromium(*args, timeout=180):
    """Run headless Chromium with a profile of its own (other tests may run
    one at the same time); its stderr is noise (dbus, GPU) and not judged."""
    profile = ARTIFACTS / ".chromium-profile"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--user-data-dir=%s" % profile,
    ] + list(args)
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("chromium did not finish within %ds: %s" % (timeout, " ".join(cmd)))
    finally:
        shutil.rmtree(str(profile), ignore_errors=True)


def dump_dom(page, height=1000):
    res = chromium("--window-size=%d,%d" % (WIDTH, height), "--dump-dom", page.as_uri())
    dom = res.stdout.decode("utf-8", "replace")
    assert "<body" in dom, "chromium --dump-dom gave no document (exit %d): %s" % (res.returncode, tail(res.stderr))
    return dom


def body_attrs(dom):
    m = re.search(r"<body([^>]*)>", dom)
    assert m, "no <body> in the DOM dump"
    return dict((k, html.unescape(v)) for k, v in re.findall(r'([a-z-]+)="([^"]*)"', m.group(1)))


def screenshot(page, png, height):
    if png.exists():
        png.unlink()
    res = chromium("--window-size=%d,%d" % (WIDTH, height), "--screenshot=%s" % png, page.as_uri())
    assert png.is_file(), "chromium wrote no screenshot (exit %d): %s" % (res.returncode, tail(res.stderr))


def read_png(path):
    """(width, height, rows of RGB tuples' bytes): a PNG decoder for 8-bit
    RGB/RGBA, non-interlaced, which is what Chromium writes."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %s" % path
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG format %r" % (ihdr,)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev, pos = [], bytearray(stride), 0
    for _ in range(height):
        ftype = raw[pos]
        line = bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    if bpp == 4:
        rows = [bytes(r[i] for i in range(len(r)) if i % 4 != 3) for r in rows]
    return width, height, rows


def count_colour(rows, y0, y1, rgb, tol=0):
    """Pixels of colour rgb (within tol per channel) in rows [y0, y1)."""
    n = 0
    if tol == 0:
        needle = bytes(rgb)
        for row in rows[max(y0, 0) : y1]:
            start = row.find(needle)
            while start >= 0:
                if start % 3 == 0:
                    n += 1
                start = row.find(needle, start + 1)
        return n
    for row in rows[max(y0, 0) : y1]:
        for i in range(0, len(row), 3):
            if all(abs(row[i + k] - rgb[k]) <= tol for k in range(3)):
                n += 1
    return n


# ---- the modules trace


@pytest.fixture(scope="module")
def report(modules_trace, tmp_path_factory):
    from conftest import PYMAC

    pymac = str(PYMAC)
    out = tmp_path_factory.mktemp("html") / "report.html"
    text = export_html(pymac, modules_trace, out)
    return out, text, summary(pymac, modules_trace)


def test_self_contained(report):
    _, text, _ = report
    assert text.startswith("<!DOCTYPE html>")
    # nothing to fetch: no external script, stylesheet, import, font or image
    assert not re.search(r"https?://", text, re.I), "the report names a URL: %s" % re.search(
        r".{0,80}https?://.{0,80}", text, re.I
    ).group(0)
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<link\b", text, re.I)
    assert not re.search(r"<(img|iframe|object|embed)\b", text, re.I)
    assert "@import" not in text
    assert not re.search(r"url\s*\(", text, re.I)
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    # the trace's own facts in the title block
    assert "<h1>pymac report: " in text and "recorded" in text and "duration" in text


def test_lanes_match_summary(report):
    _, text, summ = report
    conts = containers(summ)
    assert len(conts) == 3, "the modules trace has three containers: %r" % [c["name"] for c in conts]
    ls = [l for l in lanes(text) if l["kind"] == "container"]
    assert len(ls) == len(conts), "one lane per container: lanes %r, containers %r" % (
        [l["name"] for l in ls],
        [c["name"] for c in conts],
    )
    for c in conts:
        mine = [l for l in ls if int(l["cgroup"]) == c["cgroup_id"]]
        assert len(mine) == 1, "container %s has %d lanes" % (c["name"], len(mine))
        lane = mine[0]
        # named by its compose service or container name, and its image shown
        want = c["service"] or c["name"]
        assert lane["name"] == want
        assert html.escape(c["name"], quote=True) in text
        assert html.escape(c["image"], quote=True) in lane["body"]

        gc = c["totals"]["gc"]
        ms = markers(lane["body"])
        assert sum(n for _, n in ms) == gc["collections"], "lane %s: markers %r vs summary %r" % (want, ms, gc)
        for gen in range(3):
            got = sum(n for g, n in ms if g == gen)
            assert got == gc["by_generation"][gen], "lane %s gen%d: %d markers, summary %d" % (
                want,
                gen,
                got,
                gc["by_generation"][gen],
            )
        # the hover data holds the same collections, one entry per marker
        data = lane_data(lane["body"])
        assert len(data["gc"]) == len(ms)
        assert sum(m[3] for m in data["gc"]) == gc["collections"]
        # bounded: the points of every series
        for key in ("py", "libc", "pa", "pf", "la", "lf"):
            assert 1 <= len(data[key]) <= 2000

        # partial coverage is said next to the lane
        partial = [
            (p["pid"], name)
            for p in c["processes"]
            for name, s in (p.get("sources") or {}).items()
            if s.get("status") == "partial"
        ]
        for pid, name in partial:
            assert "Coverage is not complete here" in lane["body"], "lane %s hides its partial %s" % (want, name)
            # named in the lane with its pids, stated in full once above the lanes
            assert re.search(r"<b>%s partial</b> in pids? [^<]*\b%d \(" % (re.escape(name), pid), lane["body"])
            assert re.search(r'<li id="cov-\d+" class="gap"[^>]*><b>%s partial</b>[^\n]*\b%d \(' % (re.escape(name), pid), text)

    # the summary tables: one section per container, with its GC count
    groups = re.findall(r'<section class="group" id="group-\d+" data-kind="container" data-gc="(\d+)"', text)
    assert sorted(int(g) for g in groups) == sorted(c["totals"]["gc"]["collections"] for c in conts)
    for caption in ("Events", "Bytes requested", "GC by generation", "Top deallocated types", "Lost events"):
        assert text.count("<caption>%s</caption>" % caption) >= len(conts), caption
    assert "Processes and source coverage" in text


def test_resolution_caps_points(report, modules_trace, tmp_path):
    from conftest import PYMAC

    text = export_html(str(PYMAC), modules_trace, tmp_path / "fine.html", "--resolution", "0.000001")
    for lane in lanes(text):
        data = lane_data(lane["body"])
        assert 1 <= len(data["py"]) <= 2000
    text = export_html(str(PYMAC), modules_trace, tmp_path / "coarse.html", "--resolution", "0.5")
    n = len(lane_data(lanes(text)[0]["body"])["py"])
    seconds = report[2]["trace"]["duration_ns"] / 1e9
    assert n <= int(seconds / 0.5) + 2, "0.5 s points over a %.1f s trace: %d" % (seconds, n)


# ---- rendering


def need_chromium():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("%s is not installed (Debian package chromium): cannot render the report" % CHROMIUM)


def test_render(report):
    need_chromium()
    page, text, summ = report
    ARTIFACTS.mkdir(exist_ok=True)

    dom = dump_dom(page)
    attrs = body_attrs(dom)
    assert "data-pm-error" not in attrs, "the report's script failed: %s" % attrs["data-pm-error"]
    ls = lanes(text)
    assert attrs.get("data-pm-ready") == str(len(ls)), "script did not finish: %r" % attrs

    # where each lane is on the page, as the script measured it
    boxes = [tuple(int(x) for x in b.split(",")) for b in re.findall(r'data-pm-box="(\d+,\d+)"', dom)]
    assert len(boxes) == len(ls)
    height = max(b[1] for b in boxes) + 20
    png = ARTIFACTS / "html_report.png"
    screenshot(page, png, height)
    width, h, rows = read_png(png)
    assert width == WIDTH and h == height

    by_cgroup = dict((c["cgroup_id"], c) for c in containers(summ))
    for lane, (y0, y1) in zip(ls, boxes):
        data = lane_data(lane["body"])
        name = lane["name"]
        if max(data["py"]) > 0:
            assert count_colour(rows, y0, y1, PY_FILL) > 100, "lane %s: no python net area drawn" % name
        if max(data["libc"]) > 0:
            assert count_colour(rows, y0, y1, LIBC_LINE, tol=40) > 20, "lane %s: no libc net line" % name
        gens = by_cgroup[int(lane["cgroup"])]["totals"]["gc"]["by_generation"] if lane["kind"] == "container" else None
        for gen, rgb in enumerate(GEN_COLOURS):
            got = count_colour(rows, y0, y1, rgb)
            if gens is None:
                continue
            if gens[gen]:
                assert got >= 10, "lane %s: gen%d markers not drawn (%d px)" % (name, gen, got)
            else:
                assert got == 0, "lane %s: gen%d colour drawn without gen%d collections" % (name, gen, gen)


def test_hover(report, tmp_path):
    """The readout: a synthetic mouse move over a lane and over a GC marker,
    read back from the tooltip through the DOM dump."""
    need_chromium()
    page, text, _ = report
    probe = tmp_path / "probe.html"
    probe.write_text(
        text.replace(
            "</body>",
            """<script>
(function(){var out=[];try{
var svg=document.querySelector('section.lane svg.pm-chart'),r=svg.getBoundingClientRect();
var tip=document.getElementById('pm-tip');
svg.dispatchEvent(new MouseEvent('mousemove',{clientX:r.left+600,clientY:r.top+60,bubbles:true}));
out.push(tip.textContent);
var g=svg.querySelector('rect.gc'),gr=g.getBoundingClientRect();
g.dispatchEvent(new MouseEvent('mousemove',{clientX:gr.left+1,clientY:gr.top+2,bubbles:true}));
out.push(tip.textContent);
}catch(e){out.push('ERROR '+e);}
document.body.setAttribute('data-probe',JSON.stringify(out));})();
</script></body>""",
        ),
        encoding="utf-8",
    )
    attrs = body_attrs(dump_dom(probe))
    assert "data-probe" in attrs, "probe did not run"
    slice_tip, gc_tip = json.loads(attrs["data-probe"])
    name = lanes(text)[0]["name"]
    assert slice_tip.startswith(name), slice_tip
    assert "python net" in slice_tip and "libc net" in slice_tip and "/s" in slice_tip, slice_tip
    assert re.search(r"gen[0-2] collection|unknown generation", gc_tip), gc_tip
    assert "collected" in gc_tip, gc_tip


# ---- escaping


HOSTILE_TYPE = '</script><b id="pwn1">T&amp;</b>'
# The comm of a process is the first 15 bytes of its program's name.
HOSTILE_EXE = "<i id='pwn2'>&"

WORKLOAD = """
import gc
cls = type(%r, (), {})
# dropped by a list's dealloc, so through _Py_Dealloc (which 3.11's
# bytecode loop skips)
objs = [cls() for _ in range(2000)]
del objs
gc.collect()
""" % (HOSTILE_TYPE,)


def test_escaping(pymac, tmp_path):
    """Names chosen by a traced process (its program's name, a class name)
    come out as text, in HTML and in the page's JSON alike."""
    need_chromium()
    interp = "%s/3.11.7/bin/python3.11" % PYENV
    if not os.access(interp, os.X_OK):
        interp = DEBIAN_PYTHON
    link_dir = tmp_path / "bin"
    link_dir.mkdir()
    exe = link_dir / HOSTILE_EXE
    os.symlink(interp, str(exe))
    script = tmp_path / "w.py"
    script.write_text(WORKLOAD)
    trace = tmp_path / "hostile.pmt"
    rec = record(pymac, trace, [str(exe), str(script)])
    assert rec.returncode == 0, rec.describe()
    out = tmp_path / "hostile.html"
    text = export_html(pymac, trace, out, "--top", "1000")

    for raw in ('<b id="pwn1">', "<i id='pwn2'>", "</script><b"):
        assert raw not in text, "%r reached the page unescaped" % raw
    # the type name in the table, as text
    assert html.escape(HOSTILE_TYPE, quote=True).replace("'", "&#39;") in text
    # the host process's lane is named after its program, escaped in HTML...
    host = [l for l in lanes(text) if l["kind"] == "host"]
    assert host, "no lane for the host process"
    assert any(HOSTILE_EXE in l["name"] for l in host), [l["name"] for l in host]
    # ...and in the JSON of the page (no '<' at all inside the data)
    for l in host:
        m = re.search(r'class="pm-data">(.*?)</script>', l["body"], re.S)
        assert "<" not in m.group(1)
        if HOSTILE_EXE in l["name"]:
            assert HOSTILE_EXE in json.loads(m.group(1))["name"]

    dom = dump_dom(out)
    attrs = body_attrs(dom)
    assert "data-pm-error" not in attrs, attrs.get("data-pm-error")
    assert attrs.get("data-pm-ready") == str(len(lanes(text)))
    assert not re.search(r"<b id=\"pwn1\"|<i id=\"pwn2\"", dom), "a name became markup"


# ---- footprint mode

FP_WORKLOAD = """
import time
keep = []
for r in range(3):
    keep.append([{"a": i, "b": str(i)} for i in range(100000)])
    time.sleep(0.2)
del keep
time.sleep(0.3)
"""


def test_footprint_only_report(pymac, tmp_path):
    """A --mode footprint trace has no allocation events: its lane shows
    the footprint and the RSS as lines, and they are drawn."""
    interp = "%s/3.11.7/bin/python3.11" % PYENV
    if not os.access(interp, os.X_OK):
        pytest.skip("interpreter not installed: %s" % interp)
    trace = tmp_path / "fp.pmt"
    rec = record(pymac, trace, [interp, "-c", FP_WORKLOAD], extra=("--mode", "footprint"))
    assert rec.returncode == 0, rec.describe()
    page = tmp_path / "fp.html"
    text = export_html(pymac, trace, page)
    summ = summary(pymac, trace)
    py = [p for p in summ["processes"] if p.get("footprint")]
    assert len(py) == 1, summ["processes"]
    want = py[0]["footprint"]

    ls = [l for l in lanes(text) if l["name"].startswith("pid %d " % py[0]["pid"])]
    assert len(ls) == 1, [l["name"] for l in lanes(text)]
    lane = ls[0]
    assert 'class="fp"' in lane["body"] and 'class="rss"' in lane["body"]
    assert "Footprint only" in lane["body"]
    data = lane_data(lane["body"])
    assert len(data["fp"]) == len(data["rss"]) == len(data["py"])
    # levels at the points' ends: within what the summary says
    assert 0 < max(data["fp"]) <= want["peak_bytes"]
    assert 0 < max(data["rss"]) <= want["rss_peak_bytes"]
    # a big part of the peak shows (the workload holds it for 0.2 s and more)
    assert max(data["fp"]) >= want["peak_bytes"] // 2, (max(data["fp"]), want)
    assert "Footprint (anonymous memory mapped)" in text
    # sources left off by the mode are no coverage gap
    assert "Coverage is not complete here" not in text

    if not os.access(CHROMIUM, os.X_OK):
        return
    probe = tmp_path / "probe.html"
    probe.write_text(
        text.replace(
            "</body>",
            """<script>
(function(){var out=[];try{
var svg=document.querySelector('section.lane svg.pm-chart'),r=svg.getBoundingClientRect();
svg.dispatchEvent(new MouseEvent('mousemove',{clientX:r.left+700,clientY:r.top+40,bubbles:true}));
out.push(document.getElementById('pm-tip').textContent);
}catch(e){out.push('ERROR '+e);}
document.body.setAttribute('data-probe',JSON.stringify(out));})();
</script></body>""",
        ),
        encoding="utf-8",
    )
    dom = dump_dom(probe)
    attrs = body_attrs(dom)
    assert "data-pm-error" not in attrs, attrs["data-pm-error"]
    (tip,) = json.loads(attrs["data-probe"])
    assert "footprint " in tip and "RSS " in tip, tip
    box = re.search(r'data-pm-box="(\d+),(\d+)"', dom)
    assert box
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "html_report_footprint.png"
    y0, y1 = int(box.group(1)), int(box.group(2))
    screenshot(page, png, y1 + 20)
    _, _, rows = read_png(png)
    assert count_colour(rows, y0, y1, FP_LINE, tol=40) > 50, "no footprint line drawn"
    assert count_colour(rows, y0, y1, RSS_LINE, tol=40) > 50, "no RSS line drawn"
