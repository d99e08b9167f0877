"""Grow and release the heap N times (argv[1]): each round builds ~30 MB of
small objects (a new pymalloc arena every few thousand of them) and drops
them, so arenas are mapped and unmapped all along: the worst case for the
footprint mode's syscall tracepoints."""
import sys


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    total = 0
    for i in range(n):
        rows = [{"i": k, "s": str(k)} for k in range(100000)]
        total += len(rows)
        del rows
    print("arena churn: %d rounds, %d objects" % (n, total))


main()
