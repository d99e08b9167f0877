"""Multiply two numbers, make a few objects, then call gc.collect().

Demonstrates: an explicit full collection. gc.collect() with no argument
collects the oldest generation (2), so a pymac trace of this module shows,
for this pid, a gc_start/gc_done pair with generation 2 (source "usdt" on a
Python with the python:gc__start/gc__done markers, "uprobe" elsewhere) whose
collected count is at least the cycles made below (each cycle is two
objects plus their instance dicts on older Pythons), with a burst of
py_dealloc events for "Node" and "dict" inside it. The multiplication and the
small objects show up as a handful of py_malloc/py_free events.
"""

import gc


class Node:
    def __init__(self, value):
        self.value = value
        self.other = None


def multiply(a, b):
    # A few short-lived objects besides the product: a list, a tuple, a dict.
    parts = [a, b]
    pair = tuple(parts)
    info = {"a": pair[0], "b": pair[1]}
    return info["a"] * info["b"]


def make_cycles(n):
    for i in range(n):
        x = Node(i)
        y = Node(-i)
        x.other = y
        y.other = x


product = multiply(6, 7)
print("multiply(6, 7) =", product)
make_cycles(5)
collected = gc.collect()
print("gc.collect() found", collected, "unreachable objects")
