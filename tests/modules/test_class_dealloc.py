"""Create and drop instances of one class, one at a time.

Demonstrates: the deallocation path of a heap type. M instances of
PymacProbeObject (M is argv[1], default 10000) are made and dropped one after
the other, so each dies through reference counting the moment its name is
rebound; no collection is involved.

What a pymac trace should show: exactly M py_dealloc events with type_name
"PymacProbeObject" for this pid when the dealloc source is "full"
(fewer - and a "partial" status - where pymac sees only part of the calls,
e.g. when the interpreter inlines _Py_Dealloc).
"""

import sys


class PymacProbeObject:
    __slots__ = ("serial",)

    def __init__(self, serial):
        self.serial = serial


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    checksum = 0
    for i in range(count):
        obj = PymacProbeObject(i)
        checksum += obj.serial
        obj = None
    print("made and dropped", count, "PymacProbeObject instances (checksum %d)" % checksum)


main()
