"""Ints and strs freed by the bytecode itself.

Demonstrates: from Python 3.11 on, specialized instructions
(BINARY_OP_ADD_INT, BINARY_OP_MULTIPLY_INT, BINARY_OP_ADD_UNICODE, ...) drop
the last reference to an int or str operand by calling its destructor
directly (_Py_DECREF_SPECIALIZED), not through _Py_Dealloc.

Each iteration frees four ints (the loop counter i, y, y * 3 and z, all
above the small-int cache) and three strs (str(i), t, u), each when the name
holding it is bound again in the next iteration.

What a pymac trace should show on 3.11, 3.12 and 3.13: for N more iterations,
4 * N more int and 3 * N more str deallocations. (3.10 frees one more int
and a tuple per iteration, for the call str(i).)

Usage: python3 test_int_str_frees.py [ITERATIONS]
"""

import sys


def churn(n):
    x = 10**6
    s = "ab"
    y = z = u = None
    for i in range(n):
        y = x + i
        z = y * 3 - y
        t = s + str(i)
        u = t + t
    return y, z, u


n = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
churn(n)
print("done", n)
