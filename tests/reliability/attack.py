#!/usr/bin/python3
"""Try pymac as an attacker and a bad day would, and count what happens.

Run as root from the repository (make reliability, or by hand):

    /usr/bin/python3 tests/reliability/attack.py [--pymac .output-san/pymac] [--quick]

Five groups, each printed as one line of figures:
  cmdline  bad command lines: each must exit non-zero with one message line
           on stderr (argp's "Try `pymac X --help'" hint is not counted);
  damaged  the fixtures in tests/fixtures/*.pmt cut short and with flipped
           bytes, replayed in every output mode: a crash is a signal, an exit
           of 128 or more, or a sanitizer report; a hang is a run over 20 s;
           a failure without a 'pymac:' line counts as unexplained;
  http     malformed requests to `live --prometheus`: pymac must stay up,
           answer each with the expected status, and serve a whole scrape in
           under 1 s afterwards and with 200 idle connections open;
  paths    output-path attacks: a device node, a FIFO, a planted link, a
           planted directory link, another user's file, a full disk, a
           full /dev/full;
  sizes    figures above as totals.
--quick runs the cmdline and damaged groups on one fixture (a few seconds,
no BPF), as the integration test does. The exit status is 1 when anything
failed, else 0.
"""

import argparse
import os
import random
import re
import socket
import stat
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
PY = "/usr/bin/python3"
HANG_S = 20
SANITIZER = re.compile(r"ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:")
ARGP_HINT = re.compile(r"^Try `.*--(help|usage)'")

FAILS = []


def fail(group, what):
    FAILS.append("%s: %s" % (group, what))


class Run:
    def __init__(self, argv, rc, err, secs, hung):
        self.argv, self.rc, self.err, self.secs, self.hung = argv, rc, err, secs, hung

    @property
    def crashed(self):
        return not self.hung and (self.rc < 0 or self.rc >= 128 or bool(SANITIZER.search(self.err)))


def run(argv, stdout=subprocess.DEVNULL, timeout=HANG_S, stdin=subprocess.DEVNULL):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        _, err = p.communicate()
        hung = True
    return Run(argv, p.returncode, err.decode(errors="replace"), time.monotonic() - t0, hung)


# ---- bad command lines ----


def bad_cmdlines(trace, tmp):
    t = trace
    x = os.path.join(tmp, "x.pmt")
    # (no arguments at all prints the usage, exit 64: not counted here)
    return [
        ["nosuch"],
        ["--nosuch"],
        ["replay"],
        ["replay", t, t],
        ["replay", "/nonexistent.pmt"],
        ["replay", "/etc/passwd"],
        ["replay", "/dev/null"],
        ["replay", "/"],
        ["replay", t, "--format", "pdf"],
        ["replay", t, "--top", "-1"],
        ["replay", t, "--top", "x"],
        ["replay", t, "--resolution", "0"],
        ["replay", t, "--resolution", "1e9"],
        ["replay", t, "--resolution", "nan"],
        ["replay", t, "-o", x + ".csv"],
        ["replay", t, "--events", "--summary"],
        ["replay", t, "--format", "csv", "--events"],
        ["replay", t, "--view", "tree"],
        ["replay", t, "--view", "timeline", "--speed", "0"],
        ["replay", t, "--view", "timeline", "--speed", "-3"],
        ["replay", t, "--stats"],
        ["replay", t, "--lines", "--interval", "0"],
        ["replay", t, "--format", "csv", "-o", "/nonexistent-dir/x.csv"],
        ["replay", t, "--format", "csv", "-o", "/proc/self/mem"],
        ["record"],
        ["record", "-o"],
        ["record", "-o", x],
        ["record", "-o", x, "-p", "0"],
        ["record", "-o", x, "-p", "abc"],
        ["record", "-o", x, "-p", "999999999"],
        ["record", "-o", x, "--probes", "nosuch", "--", PY, "-c", "pass"],
        ["record", "-o", x, "--duration", "-1", "--", PY, "-c", "pass"],
        ["record", "-o", x, "--", "/nonexistent-binary"],
        ["record", "-o", "/nonexistent-dir/x.pmt", "--", PY, "-c", "pass"],
        ["record", "-o", x, "--container", "no-such-container"],
        ["live", "--prometheus", "nosuch:port", "--", PY, "-c", "pass"],
        ["live", "--prometheus", "99999", "--", PY, "-c", "pass"],
        ["live", "--interval", "-1", "--", PY, "-c", "pass"],
        ["ps", "--nosuch"],
        ["ps", "-p", "x"],
    ]


def attack_cmdlines(pymac, trace, tmp):
    lines = bad_cmdlines(trace, tmp)
    n = one_line = nonzero = crashes = hangs = 0
    for args in lines:
        r = run([pymac] + args)
        n += 1
        msgs = [l for l in r.err.splitlines() if l.strip() and not ARGP_HINT.match(l)]
        if r.hung:
            hangs += 1
            fail("cmdline", "hung: pymac %s" % " ".join(args))
        elif r.crashed:
            crashes += 1
            fail("cmdline", "crashed (%d): pymac %s" % (r.rc, " ".join(args)))
        if r.rc != 0:
            nonzero += 1
        else:
            fail("cmdline", "exit 0: pymac %s" % " ".join(args))
        if len(msgs) == 1:
            one_line += 1
        else:
            fail("cmdline", "%d message lines: pymac %s: %r" % (len(msgs), " ".join(args), msgs[:4]))
    print("cmdline: %d bad command lines, %d exited non-zero, %d with one message line, %d crashes, %d hangs" % (n, nonzero, one_line, crashes, hangs))
    return n


# ---- damaged traces ----

MODES = [
    ["--summary"],
    ["--json"],
    ["--events"],
    ["--events", "--format", "jsonl"],
    ["--format", "csv"],
    ["--format", "chrome"],
    ["--format", "html"],
    ["--format", "metrics"],
    ["--lines"],
]


def damaged_copies(src, tmp, rng, flips):
    data = open(src, "rb").read()
    size = len(data)
    out = []
    for cut in sorted({0, 1, 8, 12, 16, 39, 40, 41, 64, size // 4, size // 2, size - 8, size - 1}):
        if 0 <= cut < size:
            out.append(("cut-%d" % cut, data[:cut]))
    for i in range(flips):
        b = bytearray(data)
        for _ in range(1 + i % 4):
            at = rng.randrange(size)
            b[at] ^= 1 << rng.randrange(8)
        out.append(("flip-%d" % i, bytes(b)))
    b = bytearray(data)
    for at in range(40, min(size, 120)):
        b[at] = 0xFF
    out.append(("ff-header-chunk", bytes(b)))
    paths = []
    base = os.path.basename(src)
    for name, blob in out:
        p = os.path.join(tmp, "%s.%s.pmt" % (base, name))
        with open(p, "wb") as f:
            f.write(blob)
        paths.append(p)
    return paths


def attack_damaged(pymac, fixtures, flips, tmp):
    rng = random.Random(23)
    files = []
    for fx in fixtures:
        files += damaged_copies(fx, tmp, rng, flips)
    runs = crashes = hangs = unexplained = failed = 0
    for p in files:
        for mode in MODES:
            r = run([pymac, "replay", p] + mode)
            runs += 1
            if r.hung:
                hangs += 1
                fail("damaged", "hung: replay %s %s" % (os.path.basename(p), " ".join(mode)))
            elif r.crashed:
                crashes += 1
                fail("damaged", "crashed (%d): replay %s %s: %s" % (r.rc, os.path.basename(p), " ".join(mode), r.err[-300:]))
            elif r.rc != 0:
                failed += 1
                if "pymac: " not in r.err and not r.err.startswith("replay: "):
                    unexplained += 1
                    fail("damaged", "exit %d with no message: replay %s %s" % (r.rc, os.path.basename(p), " ".join(mode)))
    print(
        "damaged: %d damaged traces from %d fixtures, %d replays in %d output modes: %d crashes, %d hangs, "
        "%d refused with a message, %d refused without one" % (len(files), len(fixtures), runs, len(MODES), crashes, hangs, failed - unexplained, unexplained)
    )
    return len(files), runs


# ---- malformed HTTP ----

# (request, the status it must get); test_metrics_server.py asks the same
HTTP_CASES = [
    (b"\r\n\r\n", "400"),
    (b"GARBAGE\r\n\r\n", "400"),
    (b"GET\r\n\r\n", "400"),
    (b"GET /metrics\r\n\r\n", "400"),
    (b"GET /metrics HTTP/9.9\r\n\r\n", "400"),
    (b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "405"),
    (b"PUT /metrics HTTP/1.1\r\n\r\n", "405"),
    (b"DELETE / HTTP/1.1\r\n\r\n", "405"),
    (b"GET /etc/passwd HTTP/1.1\r\n\r\n", "404"),
    (b"GET /../metrics HTTP/1.1\r\n\r\n", "404"),
    (b"GET /metrics/../../etc/shadow HTTP/1.1\r\n\r\n", "404"),
    (b"GET %2e%2e/metrics HTTP/1.1\r\n\r\n", "404"),
    (b"GET " + b"A" * 9000 + b" HTTP/1.1\r\n\r\n", "431"),
    (b"GET /metrics HTTP/1.1\r\n" + b"X-A: b\r\n" * 2000 + b"\r\n", "431"),
    (b"\x00\xff\xfe" * 100 + b"\r\n\r\n", "400"),
    (b"GET /metrics\x00 HTTP/1.1\r\n\r\n", "400"),
    # headers are not read (nothing in them changes the answer)
    (b"GET /metrics HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n", "200"),
    (b"GET /metrics HTTP/1.1\n\n", "200"),
    (b"HEAD /metrics HTTP/1.1\r\n\r\n", "200"),
    (b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "200"),
]


def http_request(addr, raw, timeout=10):
    with socket.create_connection(addr, timeout=timeout) as s:
        try:
            s.sendall(raw)
        except OSError:
            pass
        data = b""
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                data += c
        except OSError:
            pass
    return data


def scrape_seconds(addr):
    t0 = time.monotonic()
    data = http_request(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    took = time.monotonic() - t0
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"Content-Length: (\d+)", head)
    whole = head.startswith(b"HTTP/1.1 200") and m and int(m.group(1)) == len(body)
    return took, bool(whole)


def attack_http(pymac, tmp):
    workload = "import time\nfor i in range(1200):\n    x = [str(j) for j in range(50)]\n    time.sleep(0.05)\n"
    p = subprocess.Popen(
        [pymac, "live", "--lines", "--prometheus", "127.0.0.1:0", "--", PY, "-c", workload],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        start_new_session=True,
    )
    addr = None
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        line = p.stderr.readline()
        if not line:
            break
        m = re.search(r"http://([\d.]+):(\d+)/metrics", line)
        if m:
            addr = (m.group(1), int(m.group(2)))
            break
    if not addr:
        fail("http", "live --prometheus did not start")
        p.kill()
        print("http: the server did not start")
        return 0
    # the first page waits for the live loop, which may still be attaching
    first, whole = scrape_seconds(addr)
    n = wrong = slow = 0
    broken = not whole
    worst = 0.0
    for raw, want in HTTP_CASES:
        n += 1
        data = http_request(addr, raw)
        status = data.split(b"\r\n", 1)[0].decode("latin-1")
        code = status.split()[1] if len(status.split()) > 1 else "none"
        if code != want:
            wrong += 1
            fail("http", "%r answered %r, not %s" % (raw[:40], status, want))
        if b"root:" in data or b"PATH=" in data:
            fail("http", "%r leaked a file or the environment" % raw[:40])
        took, whole = scrape_seconds(addr)
        worst = max(worst, took)
        slow += took >= 1
        broken += not whole
    # slowloris: a request that never ends, and idle connections
    idle = []
    for _ in range(200):
        try:
            idle.append(socket.create_connection(addr, timeout=5))
        except OSError:
            break
    for s in idle[:50]:
        try:
            s.sendall(b"GET /metr")
        except OSError:
            pass
    took, whole = scrape_seconds(addr)
    n += 1
    worst = max(worst, took)
    slow += took >= 1
    broken += not whole
    for s in idle:
        s.close()
    alive = p.poll() is None
    p.terminate()
    try:
        p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("http", "live did not stop within 30 s of SIGTERM")
    if not alive or (p.returncode not in (0, -15, 143)):
        fail("http", "pymac live ended during the requests (status %s)" % p.returncode)
    if slow or broken:
        fail("http", "%d scrapes took 1 s or more, %d were not whole" % (slow, broken))
    print(
        "http: %d malformed requests and 200 idle connections (50 half-sent): %d wrong answers, %d crashes, "
        "first scrape %.3f s, slowest after it %.3f s, %d scrapes not whole" % (n, wrong, 0 if alive else 1, first, worst, broken)
    )
    return n


# ---- output paths ----


def as_nobody(argv):
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + argv, check=True)


def attack_paths(pymac, trace, tmp):
    results = []

    def check(name, ok, why=""):
        results.append(ok)
        if not ok:
            fail("paths", "%s: %s" % (name, why))

    d = tempfile.mkdtemp(dir=tmp)
    os.chmod(d, 0o1777)
    # a device node at the export's name stays a device
    dev = os.path.join(d, "null")
    os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    r = run([pymac, "replay", trace, "--format", "csv", "-o", dev])
    check("device node", r.rc == 1 and stat.S_ISCHR(os.lstat(dev).st_mode), r.err)
    # a FIFO at the trace's name is refused at once
    fifo = os.path.join(d, "x.pmt")
    os.mkfifo(fifo)
    r = run([pymac, "record", "-o", fifo, "--", PY, "-c", "pass"], timeout=10)
    check("FIFO", r.rc == 1 and r.secs < 1 and "FIFO" in r.err, "%.1f s: %s" % (r.secs, r.err))
    # another user's link at the name, and another user's file
    victim = os.path.join(tmp, "victim.txt")
    with open(victim, "w") as f:
        f.write("whole\n")
    as_nobody(["ln", "-s", victim, os.path.join(d, "link.csv")])
    r = run([pymac, "replay", trace, "--format", "csv", "-o", os.path.join(d, "link.csv")])
    check("planted link", r.rc == 1 and open(victim).read() == "whole\n", r.err)
    as_nobody(["sh", "-c", "echo theirs > %s/theirs.csv" % d])
    r = run([pymac, "replay", trace, "--format", "csv", "-o", os.path.join(d, "theirs.csv")])
    check("another user's file", r.rc == 1 and open(os.path.join(d, "theirs.csv")).read() == "theirs\n", r.err)
    # a planted directory link: the file beyond it is untouched
    vdir = tempfile.mkdtemp(dir=tmp)
    with open(os.path.join(vdir, "victim.csv"), "w") as f:
        f.write("whole\n")
    as_nobody(["ln", "-s", vdir, os.path.join(d, "pmdir")])
    r = run([pymac, "replay", trace, "--format", "csv", "-o", os.path.join(d, "pmdir", "victim.csv")])
    check("planted directory link", r.rc == 1 and open(os.path.join(vdir, "victim.csv")).read() == "whole\n", r.err)
    # a full disk: each export names ENOSPC and the path, leaves no file
    small = tempfile.mkdtemp(dir=tmp)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", small], check=True)
    try:
        fd = os.open(os.path.join(small, "fill"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            os.close(fd)
        for fmt in ("csv", "chrome", "html", "metrics", "csv.gz"):
            out = os.path.join(small, "x." + fmt)
            r = run([pymac, "replay", trace, "--format", fmt.split(".")[0], "-o", out])
            check(
                "full disk, " + fmt,
                r.rc == 1 and "No space left on device" in r.err and out in r.err and "cut short" not in r.err and os.listdir(small) == ["fill"],
                r.err,
            )
    finally:
        subprocess.run(["umount", small], check=True)
    # /dev/full for every stream
    for mode in (["--events"], ["--events", "--format", "jsonl"], ["--summary"], ["--json"], ["--format", "csv"], ["--lines"]):
        with open("/dev/full", "wb") as full:
            r = run([pymac, "replay", trace] + mode, stdout=full)
        check(
            "/dev/full, " + " ".join(mode),
            r.rc == 1 and "No space left on device" in r.err and "standard output" in r.err and "cut short" not in r.err and len(r.err.splitlines()) == 1,
            r.err,
        )
    print("paths: %d output-path attacks: %d held, %d failed" % (len(results), sum(results), len(results) - sum(results)))
    return len(results)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pymac", default=os.path.join(REPO, ".output", "pymac"))
    ap.add_argument("--quick", action="store_true", help="bad command lines and one fixture's damage only")
    ap.add_argument("--flips", type=int, default=16, help="copies with flipped bytes per fixture")
    a = ap.parse_args()
    pymac = os.path.abspath(a.pymac)
    fixtures = sorted(os.path.join(FIXTURES, f) for f in os.listdir(FIXTURES) if f.endswith(".pmt"))
    if a.quick:
        fixtures, a.flips = fixtures[-1:], 4
    t0 = time.monotonic()
    print("pymac: %s (%s)" % (pymac, subprocess.run([pymac, "--version"], stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()))
    with tempfile.TemporaryDirectory(prefix="pymac-attack-") as tmp:
        os.chmod(tmp, 0o755)
        attack_cmdlines(pymac, fixtures[-1], tmp)
        attack_damaged(pymac, fixtures, a.flips, tmp)
        if not a.quick:
            attack_http(pymac, tmp)
            attack_paths(pymac, fixtures[-1], tmp)
    print("total: %d failures in %.0f s" % (len(FAILS), time.monotonic() - t0))
    for f in FAILS:
        print("  FAIL " + f)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
