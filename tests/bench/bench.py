#!/usr/bin/env python3
"""pymac benchmarks: print figures, assert nothing about time.

Runs one allocation-heavy workload (tests/modules/test_alloc_loop.py) under a
pyenv CPython build (every allocation goes through the exported functions
there), untraced and traced, several times each, and prints min/median/max of:
  - wall time untraced and traced, and their ratio;
  - added ns per traced event;
  - events per second consumed with zero loss during the traced runs;
  - trace bytes per event;
  - replay decode speed (events/s of `replay --events --format jsonl`);
  - the live view's cost: the full-screen timeline (in a tmux pane) fed at
    about 1 million events/s from a recorded trace (this machine's probes
    cannot make that many real events), and `pymac live` on the real
    workload: CPU per million events, redraws per second, longest gap.
And, for issue 6 (overhead):
  - floor: the kernel's uprobe floor, a counting-only BPF program on
    functions whose first instruction is emulated or single-stepped
    (tests/bench/floor/), ns per hit;
  - compare: in one run, the uprobe floor and then the four workloads of
    section modes on pyenv's 3.11.7 and Debian's python3.11: untraced,
    pymac full mode, pymac on bpftrace's sites, bpftrace on the exported
    functions (counting only, and one printf per event to a file),
    `-X tracemalloc=1`, heaptrack and bcc's memleak (libc family), pymac
    footprint mode: the workload's own run time as a ratio to untraced, and
    ns per event of each per-event tracer.
  - modes: each mode (full, each probe family alone, footprint, sampled)
    on the workloads, pyenv 3.11.7 and Debian's python3.11: the
    traced/untraced ratio of the workload's own run time (measured inside
    the interpreter, so pymac's start-up and attach are not in it), ns per
    traced event, pymac's CPU and wakeups per million events.
  - inline: the per-event cost at inlined sites vs at an exported entry
    point: the pymalloc and the dealloc families alone on the same
    workloads, Debian's LTO python3.11 with its debug info (by default the
    sites found in the machine code: the allocator table's calls, mostly on
    an emulated branch, and the dealloc sweep; with
    PYMAC_PYMALLOC_SITES=dwarf PYMAC_DEALLOC_SITES=entry DWARF's copies;
    with PYMAC_PROBE_SITES=entry every DWARF site at the copy's first
    instruction; frees sized from pool headers or not) and the
    official-recipe 3.11-slim build where it is cached, against pyenv 3.11.7
    (exported functions, entry + return probes): workload time added per
    traced event.
  - consumer: pymac's consumer and trace writer fed from a BPF program at
    1-20 M events/s (tests/bench/ringbench/): events/s with zero loss, the
    loss at twice that, consumer CPU and wakeups per million events.
Usage: bench.py [--runs N] [--iterations N] [--python PATH] [--only SECTION]
"""
import argparse
import glob
import platform
import re
import shutil
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYMAC = os.path.join(ROOT, ".output", "pymac")
WORKLOAD = os.path.join(ROOT, "tests", "modules", "test_alloc_loop.py")


def default_python():
    found = sorted(glob.glob("/root/.pyenv/versions/3.11.*/bin/python3.11"))
    return found[-1] if found else "/usr/bin/python3.11"


def timed(cmd, **kw):
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.monotonic() - t0


def summary(path):
    out = subprocess.run([PYMAC, "replay", path, "--summary", "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def mmm(values, fmt):
    return "min %s  median %s  max %s" % (fmt % min(values), fmt % statistics.median(values),
                                          fmt % max(values))


def run_case(name, python, iterations, runs, probes, tmp):
    cmd = [python, WORKLOAD, str(iterations)]
    base, traced, ns_per_event, rate, bpe, events = [], [], [], [], [], []
    for i in range(runs):
        base.append(timed(cmd))
        trace = os.path.join(tmp, "%s-%d.pmt" % (name, i))
        rec = [PYMAC, "record", "-q", "-o", trace]
        if probes:
            rec += ["--probes", probes]
        traced.append(timed(rec + ["--"] + cmd, stderr=subprocess.DEVNULL))
        s = summary(trace)
        n = s["trace"]["events"]
        if s["trace"]["lost"]:
            print("  run %d lost %d events" % (i, s["trace"]["lost"]))
        else:
            rate.append(n / traced[-1])
        events.append(n)
        ns_per_event.append((traced[-1] - base[-1]) * 1e9 / max(n, 1))
        bpe.append(os.path.getsize(trace) / max(n, 1))
    ratio = [t / b for t, b in zip(traced, base)]
    print("%s (--probes %s), %d iterations, %d runs, %s" % (name, probes or "all", iterations,
                                                          runs, python))
    print("  events per run           %s" % mmm(events, "%d"))
    print("  untraced wall time (s)   %s" % mmm(base, "%.3f"))
    print("  traced wall time (s)     %s" % mmm(traced, "%.3f"))
    print("  traced/untraced ratio    %s" % mmm(ratio, "%.2f"))
    print("  added ns per event       %s" % mmm(ns_per_event, "%.0f"))
    if rate:
        print("  events/s, zero loss      %s" % mmm(rate, "%.0f"))
    print("  trace bytes per event    %s" % mmm(bpe, "%.2f"))
    return os.path.join(tmp, "%s-0.pmt" % name)


def replay_speed(trace, runs):
    n = summary(trace)["trace"]["events"]
    speeds = []
    for _ in range(runs):
        t = timed([PYMAC, "replay", trace, "--events", "--format", "jsonl"])
        speeds.append(n / t)
    print("replay --events jsonl: %s events/s (%d events)" % (mmm(speeds, "%.0f"), n))


STATS_RE = re.compile(
    r"(\d+) events \((\d+)/s\), (\d+) lost, cpu ([\d.]+) s \((\d+)%, (\d+) ms per million "
    r"events\)(?:, (\d+) redraws \(([\d.]+)/s\), longest gap (\d+) ms, drawing ([\d.]+) ms)?")


def in_tmux(cmd, stats_file, wait_s, quit_after_s):
    """Run CMD full-screen in a private tmux server (120x40), press q after
    quit_after_s (or when wait_s says it ended), return pymac's --stats."""
    sock = "pymac-bench-%d-%s" % (os.getpid(), os.path.basename(stats_file))
    tm = ["tmux", "-L", sock]
    subprocess.run(tm + ["new-session", "-d", "-x", "120", "-y", "40",
                         "sh -c '%s 2>%s'" % (" ".join(cmd), stats_file)], check=True)
    try:
        time.sleep(quit_after_s)
        subprocess.run(tm + ["send-keys", "q"], check=False)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if os.path.exists(stats_file) and "stats:" in open(stats_file).read():
                break
            time.sleep(0.2)
    finally:
        subprocess.run(tm + ["kill-server"], check=False, stderr=subprocess.DEVNULL)
    m = STATS_RE.search(open(stats_file).read()) if os.path.exists(stats_file) else None
    return m


def live_view(trace, python, iterations, runs, tmp):
    if not shutil.which("tmux"):
        print("live view: skipped (tmux is not installed)")
        return
    s = summary(trace)["trace"]
    n, dur = s["events"], s["duration_ns"] / 1e9
    speed = 1e6 / (n / dur)
    cpu, redraws, gap, draw_ms, rate = [], [], [], [], []
    for i in range(runs):
        st = os.path.join(tmp, "view-%d.txt" % i)
        m = in_tmux([PYMAC, "replay", trace, "--view", "timeline", "--speed", "%.3f" % speed,
                     "--stats"], st, 30, dur / speed + 0.5)
        if not m:
            print("  run %d: no stats line" % i)
            continue
        rate.append(100.0 * int(m.group(1)) / n)
        cpu.append(int(m.group(6)))
        redraws.append(float(m.group(8)))
        gap.append(int(m.group(9)))
        draw_ms.append(float(m.group(10)))
    print("live view fed from a trace at ~1M events/s (%d events, --speed %.1f, 120x40 tmux)"
          % (n, speed))
    if cpu:
        print("  %% of events shown by then %s" % mmm(rate, "%.1f"))
        print("  CPU ms per million events %s" % mmm(cpu, "%d"))
        print("  redraws per second       %s" % mmm(redraws, "%.1f"))
        print("  longest gap (ms)         %s" % mmm(gap, "%d"))
        print("  ms per redraw            %s" % mmm(draw_ms, "%.1f"))
    # the real thing: pymac live on the workload, the full screen in tmux
    cpu, rate, lost, redraws, gap, pct = [], [], [], [], [], []
    for i in range(runs):
        st = os.path.join(tmp, "live-%d.txt" % i)
        cmd = [PYMAC, "live", "--stats", "--", python, WORKLOAD, str(iterations)]
        sock = "pymac-bench-live-%d-%d" % (os.getpid(), i)
        tm = ["tmux", "-L", sock]
        subprocess.run(tm + ["new-session", "-d", "-x", "120", "-y", "40",
                             "sh -c '%s 2>%s'" % (" ".join(cmd), st)], check=True)
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                screen = subprocess.run(tm + ["capture-pane", "-p"], capture_output=True,
                                        text=True).stdout
                if "targets ended" in screen:
                    break
                time.sleep(0.3)
            subprocess.run(tm + ["send-keys", "q"], check=False)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "stats:" not in (
                    open(st).read() if os.path.exists(st) else ""):
                time.sleep(0.2)
        finally:
            subprocess.run(tm + ["kill-server"], check=False, stderr=subprocess.DEVNULL)
        m = STATS_RE.search(open(st).read()) if os.path.exists(st) else None
        if not m:
            print("  live run %d: no stats line" % i)
            continue
        rate.append(int(m.group(2)))
        lost.append(int(m.group(3)))
        cpu.append(int(m.group(6)))
        pct.append(int(m.group(5)))
        if m.group(8):
            redraws.append(float(m.group(8)))
            gap.append(int(m.group(9)))
    print("pymac live on the workload (%d iterations, full screen in 120x40 tmux)" % iterations)
    if cpu:
        print("  events/s (whole session) %s" % mmm(rate, "%d"))
        print("  lost events              %s" % mmm(lost, "%d"))
        print("  CPU ms per million events %s" % mmm(cpu, "%d"))
        print("  CPU %% of one core        %s" % mmm(pct, "%d"))
    if redraws:
        print("  redraws per second       %s" % mmm(redraws, "%.1f"))
        print("  longest gap (ms)         %s" % mmm(gap, "%d"))


# ---- issue 6: what a probe hit costs, and how other tracers compare ----

BENCH = os.path.dirname(os.path.abspath(__file__))
PYENV311 = "/root/.pyenv/versions/3.11.7"
WORKLOADS = [("alloc loop", WORKLOAD),
             ("json dumps/loads", os.path.join(BENCH, "workloads", "json_loop.py")),
             ("comprehensions", os.path.join(BENCH, "workloads", "comprehensions.py")),
             ("gc cycles", os.path.join(BENCH, "workloads", "gc_cycles.py"))]


def machine_line():
    """Kernel, CPU model and virtualization, printed beside the figures."""
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    virt = []
    for flag in ("--vm", "--container"):
        r = subprocess.run(["systemd-detect-virt", flag], capture_output=True, text=True)
        virt.append(r.stdout.strip() or "none")
    load = os.getloadavg()[0]
    return ("kernel %s, CPU %s x %d, VM: %s, container: %s, load average %.1f"
            % (platform.release(), cpu, os.cpu_count(), virt[0], virt[1], load))


def uprobe_floor(runs, calls):
    """Build and run tests/bench/floor: ns per hit of a counting-only uprobe
    by the probed instruction."""
    out = os.path.join(ROOT, ".output", "bench")
    r = subprocess.run(["make", "-s", "-C", os.path.join(BENCH, "floor"), "OUT=" + out],
                       capture_output=True, text=True)
    if r.returncode:
        print("uprobe floor: build failed:\n" + r.stderr)
        return
    print("uprobe floor: counting-only BPF program, %d calls per run, %d runs" % (calls, runs))
    sys.stdout.flush()
    subprocess.run([os.path.join(out, "floor"), "--calls", str(calls), "--runs",
                    str(min(runs, 64))], check=False)


def consumer_bench(runs, seconds, rates):
    """Build and run tests/bench/ringbench: pymac's consumer and trace writer
    fed by a BPF program writing py_malloc/py_free records at paced rates
    (real probes here cannot go past ~100k events/s). Per sink and rate:
    offered and consumed events/s, share lost, consumer CPU and wakeups per
    million events; then the highest rate without loss and the loss at
    twice that rate."""
    out = os.path.join(ROOT, ".output", "bench")
    r = subprocess.run(["make", "-s", "-C", os.path.join(BENCH, "ringbench"), "OUT=" + out],
                       capture_output=True, text=True)
    if r.returncode:
        print("consumer: build failed:\n" + r.stderr)
        return

    def measure(sink, rate):
        # a session of its own: ringbench gives its autogroup nice -20 so
        # that other programs on the machine do not take its cores
        how = ["--drain"] if rate is None else ["--rates", "%g" % rate]
        p = subprocess.run([os.path.join(out, "ringbench"), "--sink", sink, "--runs", str(runs),
                            "--seconds", str(seconds), "--nice", "-20"] + how,
                           capture_output=True, text=True, start_new_session=True)
        rows = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
        if p.returncode or len(rows) != runs:
            print("  %s at %g M/s: ringbench failed: %s" % (sink, rate, p.stderr.strip()))
            return None
        return rows

    def show(sink, rate, rows):
        print("  %-5s %5g M/s offered %s M/s, consumed %s M/s, lost %s %%" % (
            sink, rate, mmm([x["offered_rate"] / 1e6 for x in rows], "%.2f"),
            mmm([x["consumed_rate"] / 1e6 for x in rows], "%.2f"),
            mmm([100 * x["lost_share"] for x in rows], "%.1f")))
        print("  %-5s %5s       consumer CPU ms per M events %s, wakeups per M %s, "
              "CPU share %s" % ("", "", mmm([x["cpu_ms_per_m"] for x in rows], "%.0f"),
                                mmm([x["wakeups_per_m"] for x in rows], "%.0f"),
                                mmm([x["cpu_share"] for x in rows], "%.2f")))
        sys.stdout.flush()

    print("consumer: ringbench, pymac's consumer + trace writer on CPU 0, BPF producer on "
          "CPU 1, 64 MiB ring, %d runs of %gs per rate" % (runs, seconds))
    for sink in ("null", "trace"):
        rows = measure(sink, None)
        if rows:
            print("  %-5s drain of a full ring (no producer running): %s M events/s, "
                  "CPU ms per M events %s" % (sink, mmm([x["consumed_rate"] / 1e6 for x in rows],
                                                        "%.2f"),
                                             mmm([x["cpu_ms_per_m"] for x in rows], "%.0f")))
        best, short = None, False
        for rate in rates:
            rows = measure(sink, rate)
            if not rows:
                break
            show(sink, rate, rows)
            # zero loss counts only where the producer really offered the rate
            if all(x["lost"] == 0 and x["offered_rate"] >= 0.95e6 * rate for x in rows):
                best = rate
            elif any(x["lost"] for x in rows):
                break
            else:
                short = True
        if best is None:
            print("  %s: lost events at every rate" % sink)
            continue
        print("  %s: highest rate with zero loss in every run: %g M events/s%s" % (
            sink, best, " (the producer could not offer more; it lost nothing above)"
            if short else ""))
        rows = measure(sink, 2 * best)
        if rows:
            show(sink, 2 * best, rows)
            print("  %s: at twice that rate, lost %s %% (producer reached %s M/s)" % (
                sink, mmm([100 * x["lost_share"] for x in rows], "%.1f"),
                mmm([x["offered_rate"] / 1e6 for x in rows], "%.2f")))


def bt_script(target, mode):
    """bpftrace's closest equivalent of pymac's pymalloc+dealloc probes:
    entry and return of the allocators, entry of PyObject_Free and
    _Py_Dealloc; either counting only or one printf per event."""
    allocs = ["PyObject_Malloc", "PyObject_Calloc", "PyObject_Realloc"]
    if mode == "count":
        ent = ",".join("uprobe:%s:%s" % (target, f) for f in
                       allocs + ["PyObject_Free", "_Py_Dealloc"])
        ret = ",".join("uretprobe:%s:%s" % (target, f) for f in allocs)
        return "%s /pid == cpid/ { @e = count(); } %s /pid == cpid/ { @r = count(); }" % (
            ent, ret)
    # a uprobe fires in every process that maps the file: keep the command's
    # own events, as pymac does
    lines = ["uprobe:%s:PyObject_Malloc /pid == cpid/ { @a[tid] = arg0; }" % target,
             "uprobe:%s:PyObject_Calloc /pid == cpid/ { @a[tid] = arg0 * arg1; }" % target,
             "uprobe:%s:PyObject_Realloc /pid == cpid/ { @a[tid] = arg1; }" % target]
    for f in allocs:
        lines.append('uretprobe:%s:%s /pid == cpid/ { printf("%%d %s %%d %%lx\\n", tid, '
                     '@a[tid], retval); delete(@a[tid]); }' % (target, f, f))
    lines.append('uprobe:%s:PyObject_Free /pid == cpid/ { printf("%%d free %%lx\\n", tid, '
                 'arg0); }' % target)
    lines.append('uprobe:%s:_Py_Dealloc /pid == cpid/ { printf("%%d dealloc %%lx\\n", tid, '
                 'arg0); }' % target)
    return " ".join(lines)


def bt_run(script, cmd, out):
    """Wall time of bpftrace running cmd, and its output (the file for
    printf mode, stdout for the counts)."""
    argv = ["bpftrace", "-e", script, "-o", out, "-c", " ".join(cmd)]
    t = timed(argv, stderr=subprocess.DEVNULL)
    return t, open(out).read() if os.path.exists(out) else ""


KSRC = "/var/cache/pymac-ksrc-6.1"  # see memleak_env


def memleak_env():
    """bcc compiles memleak's program against kernel headers; this VM's
    kernel has none, so a tree merged from Debian's 6.1 header packages
    stands in (memleak's uprobe programs read only pt_regs and maps).
    The environment to run it with, or None (and why)."""
    tool = shutil.which("memleak-bpfcc")
    if not tool:
        return None, "memleak-bpfcc not installed (apt-get install bpfcc-tools)"
    if os.path.exists("/lib/modules/%s/build" % os.uname().release):
        return dict(os.environ), tool
    if not os.path.isdir(os.path.join(KSRC, "include", "generated")):
        common = sorted(glob.glob("/usr/src/linux-headers-*-common"))
        flavour = sorted(glob.glob("/usr/src/linux-headers-*-cloud-amd64")) or sorted(
            glob.glob("/usr/src/linux-headers-*-amd64"))
        if not common or not flavour:
            return None, "no kernel headers (apt-get install linux-headers-cloud-amd64)"
        os.makedirs(KSRC, exist_ok=True)
        subprocess.run(["cp", "-rs", common[-1] + "/.", KSRC + "/"], check=False)
        subprocess.run(["cp", "-rsf", flavour[-1] + "/.", KSRC + "/"], check=False)
    return dict(os.environ, BCC_KERNEL_SOURCE=KSRC), tool


BENCH_RE = re.compile(r"BENCH ([\d.]+) ([\d.]+) (\d+)")


def inside_time(argv, env=None, stop_after=False):
    """The workload's own run time (its BENCH line on stderr) under argv.
    stop_after: the tracer does not end with the command (memleak): stop it
    with SIGINT once the line is there."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env)
    el = None
    for line in proc.stderr:
        m = BENCH_RE.search(line)
        if m:
            el = float(m.group(1))
            if stop_after:
                proc.send_signal(2)
                break
    proc.stderr.close()
    proc.wait(timeout=120)
    if el is None:
        raise RuntimeError("%s: no BENCH line (exit %s)" % (argv[0], proc.returncode))
    return el


def pymac_inside(cmd, tmp, extra):
    """(workload s, events, lost) of `pymac record EXTRA -- cmd`."""
    trace = os.path.join(tmp, "cmp.pmt")
    try:
        el = inside_time([PYMAC, "record", "-q", "-o", trace] + extra + ["--"] + cmd)
        s = summary(trace)["trace"]
    finally:
        if os.path.exists(trace):
            os.unlink(trace)
    return el, s["events"], s["lost"]


def bt_inside(target, mode, cmd, tmp):
    """(workload s, events bpftrace saw) with bpftrace starting cmd."""
    out = os.path.join(tmp, "bt-%s.txt" % mode)
    el = inside_time(["bpftrace", "-e", bt_script(target, mode), "-o", out, "-c", " ".join(cmd)])
    text = open(out).read() if os.path.exists(out) else ""
    if mode == "count":
        n = sum(int(x) for x in re.findall(r"@[er]: (\d+)", text))
    else:
        n = sum(1 for line in text.splitlines() if re.match(r"\d+ (PyObject|free|dealloc)", line))
    return el, n


def compare(runs, iterations, tmp, floor_calls):
    """In one run: the uprobe floor, then each workload of section modes on
    pyenv 3.11.7 and Debian 3.11 (+dbg) untraced, under pymac full mode,
    pymac with bpftrace's sites (pymalloc,dealloc), bpftrace on the same
    exported functions (counting, and one printf per event), python -X
    tracemalloc=1, heaptrack and bcc's memleak (libc family), and pymac
    footprint mode. Times are the workload's own (measured inside the
    interpreter), so no tracer's start-up or detach is in them."""
    uprobe_floor(runs, floor_calls)
    pythons = [("pyenv 3.11.7", PYENV311 + "/bin/python3.11",
                PYENV311 + "/lib/libpython3.11.so.1.0"),
               ("Debian 3.11 (+dbg)", "/usr/bin/python3.11", "/usr/bin/python3.11")]
    timer = os.path.join(tmp, "timer.py")
    with open(timer, "w") as f:
        f.write(TIMER)
    mlenv, mlwhy = memleak_env()
    have_bt = shutil.which("bpftrace") is not None
    have_ht = shutil.which("heaptrack") is not None
    libc = [l for l in ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6")
            if os.path.exists(l)][:1]
    print("compare: %d runs each, %d iterations (arena churn: none), python -S; ratio = the "
          "workload's own run time traced / untraced (median); ns/ev = added run time per "
          "event the tracer traps on; heaptrack and memleak: per libc event, counted by pymac "
          "--probes libc on the same run; bpftrace probes the exported functions" % (
              runs, iterations))
    if not mlenv:
        print("  memleak: %s" % mlwhy)
    for label, py, target in pythons:
        if not os.path.exists(py):
            print("  %s: not installed" % label)
            continue
        for wname, script in WORKLOADS:
            cmd = [py, "-S", timer, script, str(iterations)]
            base = [inside_time(cmd) for _ in range(runs)]
            ref = statistics.median(base)
            rows = {}

            def add(name, el, n=None):
                rows.setdefault(name, []).append((el, n))

            for _ in range(runs):
                try:
                    el, n, lost = pymac_inside(cmd, tmp, [])
                    add("pymac full", el, n)
                    el, n, lost = pymac_inside(cmd, tmp, ["--probes", "pymalloc,dealloc"])
                    add("pymac pymalloc,dealloc", el, n)
                    el, nlibc, lost = pymac_inside(cmd, tmp, ["--probes", "libc"])
                    add("pymac libc", el, nlibc)
                    el, n, lost = pymac_inside(cmd, tmp, ["--mode", "footprint"])
                    add("pymac footprint", el)
                except (RuntimeError, subprocess.CalledProcessError, ValueError) as e:
                    print("    pymac failed: %s" % str(e)[:200])
                    nlibc = None
                add("tracemalloc", inside_time([py, "-S", "-X", "tracemalloc=1", timer, script,
                                                str(iterations)]))
                if have_bt:
                    for mode in ("count", "printf"):
                        try:
                            add("bpftrace " + mode, *bt_inside(target, mode, cmd, tmp))
                        except RuntimeError as e:
                            print("    bpftrace %s failed: %s" % (mode, e))
                if have_ht:
                    out = os.path.join(tmp, "heaptrack.out")
                    add("heaptrack", inside_time(["heaptrack", "-o", out] + cmd), nlibc)
                    for f in glob.glob(out + "*"):
                        os.unlink(f)
                if mlenv and libc:
                    # memleak attaches after it compiles (seconds): the command waits
                    wrapper = os.path.join(tmp, "delayed.sh")
                    with open(wrapper, "w") as f:
                        f.write("sleep 12\nexec %s\n" % " ".join(cmd))
                    try:
                        add("memleak", inside_time(["memleak-bpfcc", "-O", libc[0], "-c",
                                                    "/bin/sh " + wrapper], env=mlenv,
                                                   stop_after=True), nlibc)
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        print("    memleak failed: %s" % e)
            print("  %s, %s: untraced %s s" % (label, wname, mmm(base, "%.4f")))
            for name, vals in rows.items():
                line = "    %-24s ratio %s" % (name, mmm([t / ref for t, _ in vals], "%.2f"))
                evs = [n for _, n in vals if n]
                if evs and min(evs) >= 10000:
                    ns = [(t - ref) * 1e9 / n for t, n in vals if n]
                    line += "  events %s  ns/ev %s" % (mmm(evs, "%d"), mmm(ns, "%.0f"))
                elif evs:
                    line += "  events %s (too few for ns/ev)" % mmm(evs, "%d")
                print(line)
            sys.stdout.flush()


# Runs a workload and reports, on stderr, its own run time, CPU time and
# voluntary context switches (pymac's are the rest of what wait4 returns).
TIMER = r"""
import resource, runpy, sys, time
script = sys.argv[1]
sys.argv = sys.argv[1:]
t = time.perf_counter()
runpy.run_path(script, run_name="__main__")
el = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
print("BENCH %.6f %.6f %d" % (el, ru.ru_utime + ru.ru_stime, ru.ru_nvcsw), file=sys.stderr)
"""

MODE_WORKLOADS = WORKLOADS + [("arena churn", os.path.join(BENCH, "workloads", "arena_churn.py"))]


def timed_inside(cmd, env=None):
    """(workload s, workload CPU s, its wakeups, whole CPU s, whole wakeups) of one run."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env)
    err = proc.stderr.read()
    _, status, ru = os.wait4(proc.pid, 0)
    m = re.search(r"BENCH ([\d.]+) ([\d.]+) (\d+)", err)
    if status != 0 or not m:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd[:6]), status, err[-500:]))
    return (float(m.group(1)), float(m.group(2)), int(m.group(3)),
            ru.ru_utime + ru.ru_stime, ru.ru_nvcsw)


def modes(runs, tmp, small, big):
    """Each mode on each workload and interpreter. Modes that trap on every
    allocation run `small` iterations; footprint, gc-only and untraced runs
    also run `big` (a ratio near 1 needs a run long enough to see 5%)."""
    pythons = [("pyenv 3.11.7", PYENV311 + "/bin/python3.11"), ("Debian 3.11", "/usr/bin/python3.11")]
    helptext = subprocess.run([PYMAC, "record", "--help"], capture_output=True, text=True).stdout
    cases = [("full", [], "small"), ("pymalloc", ["--probes", "pymalloc"], "small"),
             ("dealloc", ["--probes", "dealloc"], "small"), ("libc", ["--probes", "libc"], "small"),
             ("gc", ["--probes", "gc"], "big"), ("footprint", ["--mode", "footprint"], "big")]
    if "--sample-duty" in helptext:
        cases.append(("sampled 1%", ["--sample-duty", "1%"], "big"))
    print("modes: %d runs each; ratio = the workload's own run time traced / untraced "
          "(pymac start-up and attach excluded); ns/ev = added run time per traced event; "
          "pymac CPU and wakeups per million events" % runs)
    for label, py in pythons:
        if not os.path.exists(py):
            print("  %s: not installed" % label)
            continue
        for wname, script in MODE_WORKLOADS:
            n = {"small": small, "big": big}
            if "arena" in wname:
                n = {"small": max(1, small // 2000), "big": max(2, big // 2000)}
            base = {}
            for size in ("small", "big"):
                base[size] = [timed_inside([py, "-S", "-c", TIMER, script, str(n[size])])
                              for _ in range(runs)]
            print("  %s, %s: untraced %s s (%d iterations), %s s (%d)" % (
                label, wname, mmm([b[0] for b in base["small"]], "%.3f"), n["small"],
                mmm([b[0] for b in base["big"]], "%.3f"), n["big"]))
            ref = {k: statistics.median(b[0] for b in v) for k, v in base.items()}
            for name, extra, size in cases:
                ratio, ns, cpu, wake, evs, lost = [], [], [], [], [], []
                for i in range(runs):
                    trace = os.path.join(tmp, "mode.pmt")
                    try:
                        r = timed_inside([PYMAC, "record", "-q", "-o", trace] + extra +
                                         ["--", py, "-S", "-c", TIMER, script, str(n[size])])
                        s = summary(trace)["trace"]
                    except (RuntimeError, subprocess.CalledProcessError, ValueError) as e:
                        print("    %-11s failed: %s" % (name, str(e)[:200]))
                        break
                    finally:
                        if os.path.exists(trace):
                            os.unlink(trace)
                    el, wcpu, wwake, allcpu, allwake = r
                    ratio.append(el / ref[size])
                    evs.append(s["events"])
                    lost.append(s["lost"])
                    if s["events"]:
                        ns.append((el - ref[size]) * 1e9 / s["events"])
                        cpu.append((allcpu - wcpu) * 1e6 / s["events"])
                        wake.append((allwake - wwake) * 1e6 / s["events"])
                if not ratio:
                    continue
                line = "    %-11s ratio %s  events %s lost %d" % (name, mmm(ratio, "%.3f"),
                                                                 mmm(evs, "%d"), max(lost))
                if ns and min(evs) >= 10000:
                    line += "  ns/ev %s  CPU s/Mev %s  wakeups/Mev %s" % (
                        mmm(ns, "%.0f"), mmm(cpu, "%.2f"), mmm(wake, "%.0f"))
                print(line)
                sys.stdout.flush()


def inline(runs, tmp, n):
    """Added run time per pymalloc event: inlined sites vs exported entries."""
    cache = os.environ.get("PYMAC_PYTHON_CACHE", "/var/cache/pymac-python")
    pythons = [("pyenv 3.11.7, exported functions", PYENV311 + "/bin/python3.11", {}),
               ("Debian 3.11, found in the code (default)", "/usr/bin/python3.11", {}),
               ("Debian 3.11, DWARF's copies", "/usr/bin/python3.11",
                {"PYMAC_PYMALLOC_SITES": "dwarf", "PYMAC_DEALLOC_SITES": "entry"}),
               ("Debian 3.11, sites at each copy's entry", "/usr/bin/python3.11",
                {"PYMAC_PROBE_SITES": "entry"}),
               ("Debian 3.11, frees not sized", "/usr/bin/python3.11",
                {"PYMAC_POOL_SIZES": "off"}),
               ("official-recipe 3.11-slim, no symbols", cache + "/3.11-slim/usr/local/bin/python3.11",
                {})]
    print("inline: %d runs each, %d iterations; ns/ev = the workload's own run time added per "
          "traced event" % (runs, n))
    cases = [(family, w) for family in ("pymalloc", "dealloc") for w in WORKLOADS[:3]]
    for family, (wname, script) in cases:
        print("  --probes %s, %s" % (family, wname))
        for label, py, env in pythons:
            if family == "dealloc" and "not sized" in label:
                continue
            if not os.path.exists(py):
                print("    %-42s not installed" % label)
                continue
            cmd = [py, "-S", "-c", TIMER, script, str(n)]
            base = statistics.median(timed_inside(cmd)[0] for _ in range(runs))
            ns, evs = [], []
            for _ in range(runs):
                trace = os.path.join(tmp, "inline.pmt")
                try:
                    r = timed_inside([PYMAC, "record", "-q", "-o", trace, "--probes", family,
                                      "--"] + cmd, env=dict(os.environ, **env))
                    s = summary(trace)["trace"]
                except (RuntimeError, subprocess.CalledProcessError, ValueError) as e:
                    print("    %-42s failed: %s" % (label, str(e)[:200]))
                    break
                finally:
                    if os.path.exists(trace):
                        os.unlink(trace)
                if s["events"]:
                    ns.append((r[0] - base) * 1e9 / s["events"])
                    evs.append(s["events"])
            if ns:
                print("    %-42s events %s  ns/ev %s" % (label, mmm(evs, "%d"), mmm(ns, "%.0f")))
            sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=20000)
    ap.add_argument("--python", default=default_python())
    ap.add_argument("--view-iterations", type=int, default=100000,
                    help="workload size of the trace that feeds the view at 1M events/s")
    ap.add_argument("--inline-iterations", type=int, default=3000,
                    help="iterations of each workload in the inline section")
    ap.add_argument("--only", choices=["record", "view", "floor", "compare", "modes", "inline",
                                       "consumer", "attach"],
                    help="run only one section: the recording figures, the live view's, "
                    "the uprobe floor, the tracer comparison on the workloads, the modes, "
                    "or the consumer's throughput")
    ap.add_argument("--floor-calls", type=int, default=200000)
    ap.add_argument("--compare-runs", type=int, default=3)
    ap.add_argument("--compare-iterations", type=int, default=1000)
    ap.add_argument("--mode-runs", type=int, default=3)
    ap.add_argument("--consumer-runs", type=int, default=3)
    ap.add_argument("--consumer-seconds", type=float, default=3)
    ap.add_argument("--consumer-rates", default="1,2,3,4,5,6,8,10,20",
                    help="target rates of the consumer section, millions of events/s")
    ap.add_argument("--mode-small", type=int, default=2000,
                    help="iterations for modes that trap on every allocation")
    ap.add_argument("--mode-big", type=int, default=100000,
                    help="iterations for untraced, gc-only and footprint runs")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root for BPF", file=sys.stderr)
        return 1
    print("machine: %s, %d cores, kernel %s" % (os.uname().nodename, os.cpu_count(),
                                                os.uname().release))
    print(machine_line())
    rates = [float(x) for x in a.consumer_rates.split(",")]
    attach = [sys.executable, os.path.join(BENCH, "attach.py"), PYMAC, str(a.runs)]
    if a.only == "consumer":
        consumer_bench(a.consumer_runs, a.consumer_seconds, rates)
        return 0
    if a.only == "attach":
        sys.stdout.flush()
        return subprocess.run(attach).returncode
    if a.only in ("floor", "compare", "modes", "inline"):
        with tempfile.TemporaryDirectory() as tmp:
            if a.only == "floor":
                uprobe_floor(a.runs, a.floor_calls)
            elif a.only == "inline":
                inline(a.runs, tmp, a.inline_iterations)
            elif a.only == "modes":
                modes(a.mode_runs, tmp, a.mode_small, a.mode_big)
            else:
                compare(a.compare_runs, a.compare_iterations, tmp, a.floor_calls)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        if a.only != "view":
            t = run_case("all-sources", a.python, a.iterations, a.runs, None, tmp)
            run_case("python-only", a.python, a.iterations, a.runs, "pymalloc,dealloc,gc", tmp)
            run_case("gc-only", a.python, a.iterations, a.runs, "gc", tmp)
            replay_speed(t, a.runs)
        if a.only != "record":
            big = os.path.join(tmp, "view.pmt")
            subprocess.run([PYMAC, "record", "-q", "-o", big, "--", a.python, WORKLOAD,
                            str(a.view_iterations)], check=True, stdout=subprocess.DEVNULL)
            live_view(big, a.python, a.iterations, a.runs, tmp)
        if a.only is None:
            uprobe_floor(a.runs, a.floor_calls)
            compare(a.compare_runs, a.compare_iterations, tmp, a.floor_calls)
            modes(a.mode_runs, tmp, a.mode_small, a.mode_big)
            inline(a.runs, tmp, a.inline_iterations)
            consumer_bench(a.consumer_runs, a.consumer_seconds, rates)
            sys.stdout.flush()
            subprocess.run(attach)
    return 0


if __name__ == "__main__":
    sys.exit(main())
