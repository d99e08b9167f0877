"""List, dict, set comprehensions and a generator expression, N times (argv[1])."""
import sys


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    total = 0
    for i in range(n):
        squares = [x * x for x in range(i % 16, i % 16 + 16)]
        names = {x: str(x) for x in range(8)}
        evens = {x for x in squares if x % 2 == 0}
        total += len(squares) + len(names) + len(evens) + sum(x for x in squares if x > 4)
    print("comprehensions: %d iterations, checksum %d" % (n, total))


main()
