#!/usr/bin/python3
"""Soak test: the demonstration containers in a loop, pymac attached, for a long time.

usage: tests/soak/soak.py [--minutes N] [--services a,b,...] [--interval S]
                          [--warmup S] [--keep DIR] [--image IMAGE] [--pymac PATH]

Every service of docker-compose.yml starts under a unique compose project
(pymac-soak-XXXXXX) and runs its module again and again, one second apart,
each run wrapped by tests/harness/gclog.py so that it leaves its own
gc.callbacks log. Two pymac processes follow the project for the whole time:
`pymac record` and `pymac live --lines --record` (the live model, the line
view and its trace writer). This script samples both processes' memory and
file descriptors every few seconds. At the end the containers finish their
current run and stop, pymac stops, and three things are checked:

  flat      pymac's RSS and open file descriptors do not grow (definition
            below, printed with the figures);
  lost      no event was lost: each pymac's final count, each trace's
            summary and every live line's lost fields all say 0; events/s
            achieved is printed;
  gc        in each trace, per container, run i of the module is the i-th
            Python process the trace saw start in that container, and that
            process's gc_done events hold run i's gc.callbacks log as one
            contiguous run, in order, same generation and count - for every
            run.

"Flat", honestly: samples of the first minute (or first third, on runs
shorter than three minutes) are warm-up and only shown. The rest is cut in
thirds; RSS is flat when the last third's median is within 10% + 2 MiB of
the first third's median. Open file descriptors are judged by their floor:
the last third's minimum must not be above the first third's minimum. A scan
holds a descriptor for a moment (a /proc file, the engine's socket) and so
lifts single samples, never the floor; a leaked descriptor lifts the floor.
`pymac live` keeps the last 10 minutes in 10 ms buckets per lane by design,
so its memory rises for its first 10 minutes: its warm-up is 11 minutes,
and it is judged only on runs of 14 minutes or more (`record` always).

The containers are removed at the end, also on failure, SIGINT or SIGTERM.
Exit status 0 when every check passed; the last line is the verdict.

Examples:
  make soak                         # 10 minutes
  make soak SOAK_MINUTES=60
  tests/soak/soak.py --minutes 1 --services gc_callbacks,refcount
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYMAC = os.path.join(REPO, ".output", "pymac")
HARNESS = os.path.join(REPO, "tests", "harness")
COMPOSE_FILE = os.path.join(REPO, "docker-compose.yml")
DEFAULT_IMAGE = os.environ.get("PYMAC_IMAGE", "pymaccounter/python:3.11")
MIB = 1024 * 1024
# How far back `pymac live` keeps its buckets (TL_HISTORY_NS in user/model/timeline.h).
LIVE_HISTORY_S = 600

# Each container's loop: wait at the gate until pymac follows the container,
# then run the module (wrapped by gclog.py) until told to stop, one second
# apart like docker-compose.yml's own loop. A run's log is renamed into place
# only once complete; its exit status goes next to it. $$ is compose's
# escape for a literal $.
LOOP = r"""
while [ ! -e /gclog/go ]; do sleep 0.1; done
n=0
while [ ! -e /gclog/stop ]; do
  n=$$((n + 1))
  /usr/bin/python3 /harness/gclog.py /gclog/run-$$n.part "$$0"
  echo $$? > /gclog/run-$$n.rc
  [ -e /gclog/run-$$n.part ] && mv /gclog/run-$$n.part /gclog/run-$$n.json
  sleep 1
done
"""


def say(msg):
    print("soak: " + msg, flush=True)


class Stop(Exception):
    """SIGINT or SIGTERM: tear down and fail."""


def on_signal(sig, frame):
    raise Stop(signal.Signals(sig).name)


class StderrWatcher:
    """Keeps pymac's stderr lines (and a copy in a file)."""

    def __init__(self, stream, path):
        self.lines = []
        self.cond = threading.Condition()
        self.out = open(path, "w")
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        for line in stream:
            self.out.write(line)
            self.out.flush()
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def count(self, pred):
        with self.cond:
            return sum(1 for l in self.lines if pred(l))

    def wait_for(self, pred, n, proc, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while sum(1 for l in self.lines if pred(l)) < n:
                if proc.poll() is not None or time.monotonic() > end:
                    return False
                self.cond.wait(0.2)
        return True


def run(cmd, check=True, timeout=300, env=None):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True,
                       timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(cmd[:4]), p.returncode,
                                                       (p.stdout or "").strip()[-500:]))
    return p


def proc_sample(pid):
    """(rss bytes, open fds, cpu seconds) of a process, or None if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
        fds = len(os.listdir("/proc/%d/fd" % pid))
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()
        cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return rss, fds, cpu


def thirds(samples, warmup_s):
    """Split (t, ...) samples after the warm-up into first and last thirds."""
    rest = [s for s in samples if s[0] >= warmup_s]
    if len(rest) < 3:
        return [], []
    k = len(rest) // 3
    return rest[:k], rest[-k:]


def check_flat(samples, warmup_s):
    """Figures and verdicts of RSS and fds. samples: [(t, rss, fds, cpu)]."""
    out, ok = [], True
    first, last = thirds(samples, warmup_s)
    if not first:
        return ["too few samples after the warm-up to judge"], False
    rss = [s[1] for s in samples]
    fds = [s[2] for s in samples]
    r0 = statistics.median(s[1] for s in first)
    r1 = statistics.median(s[1] for s in last)
    limit = r0 * 1.10 + 2 * MIB
    rss_ok = r1 <= limit
    out.append("rss MiB: start %.1f min %.1f median %.1f max %.1f end %.1f | after warm-up: "
               "first third median %.1f, last third median %.1f (limit %.1f) -> %s" % (
                   rss[0] / MIB, min(rss) / MIB, statistics.median(rss) / MIB, max(rss) / MIB,
                   rss[-1] / MIB, r0 / MIB, r1 / MIB, limit / MIB, "flat" if rss_ok else "GROWS"))
    f0 = min(s[2] for s in first)
    f1 = min(s[2] for s in last)
    fd_ok = f1 <= f0
    out.append("fds: start %d min %d median %g max %d end %d | after warm-up: first third "
               "floor %d, last third floor %d -> %s" % (
                   fds[0], min(fds), statistics.median(fds), max(fds), fds[-1], f0, f1,
                   "flat" if fd_ok else "GROWS"))
    ok = rss_ok and fd_ok
    return out, ok


LOST_RE = re.compile(r"\b(lost|lost_in_interval|lost_total)=(\d+)")


def check_lines(path):
    """(lines, lines with a non-zero lost field, lanes seen)."""
    n, bad, lanes = 0, [], set()
    with open(path, errors="replace") as f:
        for line in f:
            n += 1
            m = re.search(r'lane="([^"]*)"', line)
            if m:
                lanes.add(m.group(1))
            if any(int(v) for _, v in LOST_RE.findall(line)):
                bad.append(line.strip()[:200])
    return n, bad, lanes


def trace_processes(trace, cgroups):
    """Per cgroup: Python processes in exec order, each with its gc_done list.

    Streams the whole trace as JSON lines; only exec and gc_done are parsed.
    """
    per = {cg: [] for cg in cgroups}
    by_pid = {}
    p = subprocess.Popen([PYMAC, "replay", trace, "--events", "--format", "jsonl"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         universal_newlines=True, bufsize=1 << 20)
    for line in p.stdout:
        if '"kind":"exec"' in line:
            e = json.loads(line)
            if e.get("cgroup_id") in per and "python" in os.path.basename(e.get("path", "")):
                proc = {"pid": e["pid"], "gc": []}
                per[e["cgroup_id"]].append(proc)
                by_pid[e["pid"]] = proc
        elif '"kind":"gc_done"' in line:
            e = json.loads(line)
            proc = by_pid.get(e["pid"])
            if proc is not None:
                proc["gc"].append((e["generation"], e["collected"]))
            elif e.get("cgroup_id") in per:
                # a collection of a process whose start the trace lacks
                per[e["cgroup_id"]].append({"pid": e["pid"], "gc": [], "orphan": True})
                by_pid[e["pid"]] = per[e["cgroup_id"]][-1]
                by_pid[e["pid"]]["gc"].append((e["generation"], e["collected"]))
    rc = p.wait()
    if rc != 0:
        raise RuntimeError("pymac replay --events failed (exit %d)" % rc)
    return per


def contains_run(haystack, needle):
    n = len(needle)
    return n == 0 or any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def service_runs(gcdir):
    """[(run number, exit status or None, log or None)] in run order."""
    runs = {}
    for f in os.listdir(gcdir):
        m = re.match(r"run-(\d+)\.(json|rc|part)$", f)
        if not m:
            continue
        r = runs.setdefault(int(m.group(1)), [None, None])
        path = os.path.join(gcdir, f)
        if m.group(2) == "rc":
            with open(path) as fh:
                txt = fh.read().strip()
            r[0] = int(txt) if txt.isdigit() else None
        elif m.group(2) == "json":
            with open(path) as fh:
                r[1] = [(c["generation"], c["collected"] + c["uncollectable"])
                        for c in json.load(fh)]
    return [(n, runs[n][0], runs[n][1]) for n in sorted(runs)]


def check_gc(services, gcroot, procs_by_service):
    """Per-service figures and failures of the gc comparison."""
    out, fails = [], []
    for svc in services:
        runs = service_runs(os.path.join(gcroot, svc))
        procs = procs_by_service.get(svc, [])
        orphans = [p for p in procs if p.get("orphan")]
        logged = sum(len(r[2] or []) for r in runs)
        seen = sum(len(p["gc"]) for p in procs)
        bad = []
        for n, rc, log in runs:
            if rc != 0:
                bad.append("run %d exited %s" % (n, rc))
            if log is None:
                bad.append("run %d left no complete log" % n)
        if len(procs) != len(runs) or orphans:
            bad.append("%d runs, but %d Python processes in the trace%s" % (
                len(runs), len(procs), " (%d without their start)" % len(orphans) if orphans else ""))
        for (n, rc, log), p in zip(runs, procs):
            if log is not None and not contains_run(p["gc"], log):
                bad.append("run %d (pid %d): gc.callbacks saw %d collections %r..., pymac %r..." % (
                    n, p["pid"], len(log), log[:4], p["gc"][:6]))
        out.append("%-22s runs %4d  collections logged %6d  gc_done in trace %6d  %s" % (
            svc, len(runs), logged, seen, "match" if not bad else "MISMATCH"))
        for b in bad[:5]:
            out.append("    " + b)
        if bad:
            fails.append("%s: %s" % (svc, bad[0]))
        if not runs:
            fails.append("%s: no run at all" % svc)
    return out, fails


class Tracer:
    """One pymac process following the project, sampled while it runs."""

    def __init__(self, name, cmd, work, stdout_path=None):
        self.name = name
        self.stdout = open(stdout_path, "w") if stdout_path else subprocess.DEVNULL
        # Its own session: a Ctrl-C reaches only this script, which stops it.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.stdout,
                                     stderr=subprocess.PIPE, universal_newlines=True,
                                     start_new_session=True)
        self.watch = StderrWatcher(self.proc.stderr, os.path.join(work, name + ".stderr"))
        self.samples = []
        self.rc = None

    def wait_for(self, what, n, timeout):
        if not self.watch.wait_for(what, n, self.proc, timeout):
            return False
        return True

    def sample(self, t):
        smp = proc_sample(self.proc.pid)
        if smp is None or self.proc.poll() is not None:
            raise RuntimeError("pymac %s ended during the soak (exit %s): %s" % (
                self.name, self.proc.poll(), " | ".join(self.watch.lines[-5:])))
        self.samples.append((t,) + smp)
        return smp

    def stop(self, timeout=300):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.watch.thread.join(10)
        self.rc = self.proc.returncode
        return self.rc

    def wrote(self):
        """(events, lost) of its final line, or (None, None)."""
        for l in reversed(self.watch.lines):
            m = re.match(r"pymac: wrote .*: (\d+) events, (\d+) lost", l)
            if m:
                return int(m.group(1)), int(m.group(2))
        return None, None


def main():
    global PYMAC
    ap = argparse.ArgumentParser(
        prog="tests/soak/soak.py",
        description="Run the demonstration containers in a loop with `pymac record` and "
                    "`pymac live --lines --record` attached; check that pymac's memory and "
                    "descriptors stay flat, that no event is lost and that every container's "
                    "collections match its own gc.callbacks log.",
        epilog="Example: tests/soak/soak.py --minutes 60")
    ap.add_argument("--minutes", type=float, default=10, help="how long (default %(default)s)")
    ap.add_argument("--services", help="comma-separated compose services (default: all)")
    ap.add_argument("--interval", type=float,
                    help="seconds between samples (default 5, 1 for runs under 5 minutes)")
    ap.add_argument("--warmup", type=float,
                    help="seconds of warm-up (default 60, a third of runs under 3 minutes)")
    ap.add_argument("--keep", metavar="DIR",
                    help="keep the traces, pymac's output, the samples and the gc logs in DIR")
    ap.add_argument("--image", default=DEFAULT_IMAGE, help="image (default %(default)s)")
    ap.add_argument("--pymac", default=PYMAC, help="the pymac binary (default %(default)s)")
    a = ap.parse_args()
    PYMAC = os.path.abspath(a.pymac)

    if os.geteuid() != 0:
        print("soak: needs root (BPF, Docker)\nsoak: FAIL (not run)")
        return 2
    if not os.access(PYMAC, os.X_OK):
        print("soak: %s is missing; run make first\nsoak: FAIL (not run)" % PYMAC)
        return 2
    duration = a.minutes * 60
    interval = a.interval or (5.0 if duration >= 300 else 1.0)
    warmup = a.warmup if a.warmup is not None else (60.0 if duration >= 180 else duration / 3)
    live_warmup = max(warmup, LIVE_HISTORY_S + 60)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    project = "pymac-soak-" + secrets.token_hex(3)
    work = tempfile.mkdtemp(prefix="pymac-soak-")
    os.chmod(work, 0o755)
    keep = os.path.abspath(a.keep) if a.keep else None
    traces = {"record": os.path.join(work, "record.pmt"), "live": os.path.join(work, "live.pmt")}
    lines_path = os.path.join(work, "lines.txt")
    gcroot = os.path.join(work, "gc")
    compose = ["docker-compose", "-p", project, "-f", COMPOSE_FILE,
               "-f", os.path.join(work, "soak-override.yml")]
    env = dict(os.environ, PYMAC_LOOP="1", PYMAC_DELAY="0")
    tracers = []
    up = False
    fails = []
    status = 1

    phases = []
    mark = [time.monotonic()]

    def phase(name):
        now = time.monotonic()
        phases.append("%s %.0f s" % (name, now - mark[0]))
        mark[0] = now

    try:
        run(["sh", os.path.join(REPO, "scripts", "docker-setup.sh")])
        run(["sh", os.path.join(REPO, "scripts", "build-image.sh")] +
            (["--image", a.image] if a.image != DEFAULT_IMAGE else []))
        all_services = run(["docker-compose", "-f", COMPOSE_FILE, "config", "--services"],
                           env=env).stdout.split()
        services = a.services.split(",") if a.services else all_services
        for s in services:
            if s not in all_services:
                raise RuntimeError("no service %s in docker-compose.yml (%s)" %
                                   (s, " ".join(all_services)))
        # JSON is YAML: the override adds the harness, a log directory per
        # service and the gated loop.
        override = {"services": {}}
        for s in services:
            os.makedirs(os.path.join(gcroot, s))
            override["services"][s] = {
                "image": a.image,
                "volumes": [HARNESS + ":/harness:ro", os.path.join(gcroot, s) + ":/gclog"],
                "entrypoint": ["/bin/sh", "-c", LOOP],
            }
        with open(os.path.join(work, "soak-override.yml"), "w") as f:
            json.dump(override, f, indent=1)
        phase("setup")

        say("project %s, %d services (%s), %g minutes, sampling every %g s, warm-up %g s "
            "(live: %g s)" % (project, len(services), " ".join(services), a.minutes, interval,
                              warmup, live_warmup))
        tracers.append(Tracer("record", [PYMAC, "record", "-o", traces["record"],
                                         "--compose-project", project], work))
        tracers.append(Tracer("live", [PYMAC, "live", "--lines", "--record", traces["live"],
                                       "--stats", "--compose-project", project], work,
                              lines_path))
        for tr in tracers:
            if not tr.wait_for(lambda l: l.startswith("pymac: tracing"), 1, 120):
                raise RuntimeError("pymac %s did not start tracing: %s" % (
                    tr.name, " | ".join(tr.watch.lines[-5:])))
        run(compose + ["up", "-d"] + services, env=env, timeout=600)
        up = True
        joined = lambda l: " joined" in l and project in l  # noqa: E731
        for tr in tracers:
            if not tr.wait_for(joined, len(services), 120):
                raise RuntimeError("pymac %s: only %d of %d containers joined" % (
                    tr.name, tr.watch.count(joined), len(services)))
        # "joined" is printed before pymac attaches; give it a moment.
        time.sleep(2)
        for s in services:
            open(os.path.join(gcroot, s, "go"), "w").close()
        phase("start")
        t0 = time.monotonic()
        say("tracing; containers released")

        next_report = t0 + 60
        while True:
            now = time.monotonic()
            smps = [tr.sample(now - t0) for tr in tracers]
            if now >= next_report:
                say("%4.0f s: " % (now - t0) + "; ".join(
                    "%s rss %.1f MiB, %d fds, cpu %.1f s" % (tr.name, m[0] / MIB, m[1], m[2])
                    for tr, m in zip(tracers, smps)))
                next_report += 60
            if now - t0 >= duration:
                break
            time.sleep(min(interval, max(0.0, duration - (now - t0))))
        elapsed = time.monotonic() - t0
        for tr in tracers:
            with open(os.path.join(work, "samples-%s.tsv" % tr.name), "w") as f:
                f.write("t_s\trss_bytes\tfds\tcpu_s\n")
                for t, rss, fds, cpu in tr.samples:
                    f.write("%.1f\t%d\t%d\t%.2f\n" % (t, rss, fds, cpu))

        phase("soak")
        # Let every container finish its current run, then stop pymac.
        for s in services:
            open(os.path.join(gcroot, s, "stop"), "w").close()
        stopped = lambda l: " stopped" in l and project in l  # noqa: E731
        for tr in tracers:
            if not tr.wait_for(stopped, len(services), 180):
                fails.append("pymac %s: containers did not all stop within 180 s" % tr.name)
        for tr in tracers:
            if tr.stop() != 0:
                fails.append("pymac %s exited %d" % (tr.name, tr.rc))

        phase("stop")
        # -- figures --
        for tr in tracers:
            judge = tr.name != "live" or duration - live_warmup >= 180
            w = warmup if tr.name != "live" else live_warmup
            flat_lines, flat_ok = check_flat(tr.samples, w if judge else warmup)
            for l in flat_lines:
                say("%s %s" % (tr.name, l if judge else l.rsplit(" -> ", 1)[0] +
                               " -> not judged (see below)"))
            if judge and not flat_ok:
                fails.append("pymac %s: RSS or file descriptors grow" % tr.name)
            cpu = tr.samples[-1][3] - tr.samples[0][3]
            say("%s cpu: %.1f s in %.0f s (%.0f%% of one core)" % (
                tr.name, cpu, elapsed, 100 * cpu / elapsed))
            if not judge:
                say("live: not judged flat: the live model keeps the last %d minutes in 10 ms "
                    "buckets per lane by design, so its memory rises until that window is "
                    "full; its flatness is judged on runs of %d minutes or more" % (
                        LIVE_HISTORY_S // 60, (live_warmup + 180) // 60))

        nlines, bad_lines, lanes = check_lines(lines_path)
        say("live lines: %d for %d lanes, %d with a lost field above 0" % (
            nlines, len(lanes), len(bad_lines)))
        if bad_lines:
            fails.append("%d live lines report lost events, e.g. %s" % (len(bad_lines),
                                                                        bad_lines[0]))
        if not nlines:
            fails.append("pymac live printed no line")
        for l in tracers[1].watch.lines:
            if "live stats" in l:
                say(l[len("pymac: "):])

        for tr in tracers:
            trace = traces[tr.name]
            events, lost = tr.wrote()
            summ = json.loads(run([PYMAC, "replay", trace, "--summary", "--json"],
                                  timeout=1800).stdout)
            if events is None:
                fails.append("pymac %s did not report its event count" % tr.name)
                continue
            tdur = summ["trace"]["duration_ns"] / 1e9
            say("%s events: %d in %.0f s of trace = %.0f events/s; lost: pymac %d, trace %d; "
                "trace %.1f MiB" % (tr.name, events, tdur, events / tdur if tdur else 0, lost,
                                    summ["trace"]["lost"], os.path.getsize(trace) / MIB))
            if lost or summ["trace"]["lost"]:
                fails.append("pymac %s: %d events lost" % (tr.name,
                                                          max(lost, summ["trace"]["lost"])))
            conts = [c for c in summ.get("containers", []) if c.get("project") == project]
            cg_service = {c["cgroup_id"]: c.get("service") for c in conts}
            missing = [s for s in services if s not in cg_service.values()]
            if missing:
                fails.append("%s trace: no container for %s" % (tr.name, " ".join(missing)))
            by_service = {}
            for cg, plist in trace_processes(trace, set(cg_service)).items():
                by_service.setdefault(cg_service[cg], []).extend(plist)
            gc_lines, gc_fails = check_gc(services, gcroot, by_service)
            say("%s gc: per container, each run's gc.callbacks log against the trace:" %
                tr.name)
            for l in gc_lines:
                say("  " + l)
            fails += ["%s trace: %s" % (tr.name, f) for f in gc_fails]
        phase("checks")
        say("time: " + ", ".join(phases))
        status = 1 if fails else 0
    except Stop as e:
        fails.insert(0, "interrupted by %s" % e)
        status = 130
    except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
        fails.insert(0, str(e))
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for tr in tracers:
            tr.stop(120)
        if up or os.path.exists(os.path.join(work, "soak-override.yml")):
            subprocess.run(compose + ["down", "-t", "2", "--remove-orphans"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env, timeout=300)
        if keep:
            os.makedirs(keep, exist_ok=True)
            for f in os.listdir(work):
                dst = os.path.join(keep, f)
                if os.path.isdir(dst):
                    shutil.rmtree(dst)
                shutil.move(os.path.join(work, f), dst)
            say("kept the traces, pymac's output, the samples and the gc logs in %s" % keep)
        shutil.rmtree(work, ignore_errors=True)

    if status == 0:
        print("soak: PASS: %g minutes, pymac flat, 0 lost, every container's "
              "collections match its log" % a.minutes, flush=True)
    else:
        for f in fails[1:]:
            say("failed: " + f)
        print("soak: FAIL: %s" % (fails[0] if fails else "unknown"), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
