"""libc exactness: every malloc and free of a known C program, no more, no less."""

from conftest import child_process, events, fixture_bin, record, source_status, summary

K = 1000
SIZE = 77773  # no one else asks for this size


def test_malloc_free_exact(pymac, tmp_path):
    exe = fixture_bin("malloc_k")
    trace = tmp_path / "malloc.pmt"
    rec = record(pymac, trace, [exe, str(K), str(SIZE)], probes="libc")
    assert rec.returncode == 0, rec.describe()

    summ = summary(pymac, trace)
    proc = child_process(summ, rec, exe)
    pid = proc["pid"]
    status, detail = source_status(proc, "libc")
    assert status == "full", "libc source is %s (%s)" % (status, detail)
    assert proc["lost"] == 0, proc.get("lost_by_kind")

    evs = events(pymac, trace, pid)
    mallocs = [e for e in evs if e["kind"] == "malloc" and e["size"] == SIZE]
    assert len(mallocs) == K, "expected exactly %d malloc(%d) events for pid %d, got %d" % (K, SIZE, pid, len(mallocs))
    addrs = [e["addr"] for e in mallocs]
    assert all(addrs), "malloc events with a NULL result: %r" % [e for e in mallocs if not e["addr"]][:5]
    assert len(set(addrs)) == K, "the program keeps all %d blocks live, yet only %d distinct addresses" % (K, len(set(addrs)))

    # Walk the events in order: each block must be freed exactly once while live.
    ours = set(addrs)
    live = set()
    freed = 0
    strays = []
    started = False
    for e in evs:
        if e["kind"] == "malloc" and e["size"] == SIZE:
            started = True
            live.add(e["addr"])
        elif e["kind"] == "free" and started and e["addr"] in ours:
            if e["addr"] in live:
                live.remove(e["addr"])
                freed += 1
            else:
                strays.append(e)
    assert not strays, "free of an address that was not live (double free?): %r" % strays[:5]
    assert freed == K and not live, "%d of %d blocks freed; %d never seen freed, e.g. %r" % (freed, K, len(live), sorted(live)[:5])
    assert proc["counts"]["malloc"] >= K, proc["counts"]
    assert proc["counts"]["free"] >= K, proc["counts"]
