#!/usr/bin/python3
"""Seeds for fuzz_record: framed raw BPF records (u16 LE length, then the
record as bpf/events.h lays it out). Writes tests/fuzz/corpus/record/."""
import os
import struct

KIND = dict(py_malloc=1, py_calloc=2, py_realloc=3, py_free=4, py_dealloc=5, gc_start=6, gc_done=7,
            malloc=8, calloc=9, realloc=10, free=11, exec=12, exit=13, vm=14)


def hdr(kind, ts, pid, cg=100, tid=None, block=0):
    return struct.pack("<QQIIII", ts, cg, pid, tid or pid, KIND[kind], block)


def alloc(kind, ts, pid, size, addr, old=0, cg=100, block=0):
    return hdr(kind, ts, pid, cg, block=block) + struct.pack("<QQQ", size, addr, old)


def free(kind, ts, pid, addr, cg=100, block=0):
    return hdr(kind, ts, pid, cg, block=block) + struct.pack("<Q", addr)


def dealloc(ts, pid, name, cg=100):
    return hdr("py_dealloc", ts, pid, cg) + struct.pack("<QQ", 0x7f00, 0x9000) + name.ljust(64, b"\0")[:64]


def gc(kind, ts, pid, gen, collected, dur, cg=100):
    return hdr(kind, ts, pid, cg) + struct.pack("<iIqQ", gen, 1, collected, dur)


def proc(kind, ts, pid, comm, path=b"", cg=100):
    return hdr(kind, ts, pid, cg) + struct.pack("<Ii", 1, 0) + comm.ljust(16, b"\0")[:16] + path.ljust(256, b"\0")[:256]


def vm(ts, pid, op, addr, length, cg=100):
    return hdr("vm", ts, pid, cg) + struct.pack("<IIQQQQQ", op, 3, addr, length, 0, 0, 0x22)


def frame(recs):
    return b"".join(struct.pack("<H", len(r)) + r for r in recs)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "record")
    os.makedirs(out, exist_ok=True)
    t = 10**12
    seeds = {
        "alloc_free": [alloc("py_malloc", t, 7, 32, 0x1000), alloc("malloc", t + 1, 7, 100, 0x2000),
                       free("py_free", t + 2, 7, 0x1000), free("free", t + 3, 7, 0x2000)],
        "realloc_held": [alloc("py_malloc", t, 8, 20, 0), alloc("py_realloc", t + 1, 8, 40, 0, 0x5000, block=32),
                         free("py_free", t + 2, 8, 0x5000, block=32), free("py_free", t + 3, 8, 0x6000, block=1)],
        "gc_dealloc": [gc("gc_start", t, 9, 2, -1, 0), dealloc(t + 1, 9, b"list"), dealloc(t + 2, 9, b"\xff\xfe<b>"),
                       gc("gc_done", t + 3, 9, 2, 17, 3), gc("gc_done", t + 9, 9, -1, -1, 10**9)],
        "exec_exit": [alloc("malloc", t, 10, 578, 0x10), proc("exec", t + 1, 10, b"python3", b"/usr/bin/python3"),
                      alloc("malloc", t + 2, 10, 40, 0x30), proc("exit", t + 3, 10, b"python3")],
        "footprint": [vm(t, 11, 1, 0x7f0000000000, 1 << 20), vm(t + 1, 11, 4, 0x600000, 0),
                      vm(t + 2, 11, 2, 0x7f0000000000, 1 << 20)],
        "short_records": [hdr("py_malloc", t, 12)[:20], hdr("free", t, 12), b"\x01" * 3],
    }
    for name, recs in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(frame(recs))


if __name__ == "__main__":
    main()
