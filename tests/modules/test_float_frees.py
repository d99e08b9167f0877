"""Floats freed by the bytecode itself.

Demonstrates: from Python 3.11 on, the specialized arithmetic instructions
(BINARY_OP_MULTIPLY_FLOAT, BINARY_OP_ADD_FLOAT, ...) drop the last reference
to a float operand by calling the float destructor directly
(_Py_DECREF_SPECIALIZED), not through _Py_Dealloc. Each iteration below
makes four temporary floats (x * 2.0, ... + 1.0, y - y, ... + 1.5) and frees
as many; 3.10 frees all four through _Py_Dealloc.

What a pymac trace should show: for N more iterations, 4 * N more float
deallocations on 3.10 and 3.11 alike (3.12 reuses an operand's storage for
the result where it can, and frees fewer).

Usage: python3 test_float_frees.py [ITERATIONS]
"""

import sys


def churn(n):
    x = 1.5
    for _ in range(n):
        y = x * 2.0 + 1.0
        x = y - y + 1.5
    return x


n = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
print("x =", churn(n))
