#!/bin/sh
# `make bench`: build first, then print the benchmark figures.
cd "$(dirname "$0")/../.." || exit 1
exec /usr/bin/python3 tests/bench/bench.py "$@"
