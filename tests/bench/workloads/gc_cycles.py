"""Reference cycles that only the collector frees: N rings (argv[1]) of
eight container objects each, dropped at once, so the generation-0
threshold triggers collections all along."""
import gc
import sys


class Node:
    def __init__(self, value):
        self.value = value
        self.next = None
        self.extra = [value]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    gc.enable()
    for i in range(n):
        nodes = [Node(i + k) for k in range(8)]
        for a, b in zip(nodes, nodes[1:] + nodes[:1]):
            a.next = b
        del nodes, a, b
    print("gc cycles: %d rings, %d collections" % (n, sum(s["collections"] for s in gc.get_stats())))


main()
