"""Baseline: the smallest Python program there is.

Demonstrates: nothing but interpreter start-up, one print and shutdown.
What a pymac trace of it should show: only the interpreter's own work -
the PyObject_Malloc/free traffic of importing site and friends, the
deallocations of shutdown, and whatever collections start-up and
finalisation run (for example the collection at interpreter exit). Use it to
see the fixed cost every other module pays before its first line.
"""

print("baseline: hello from pymac's smallest workload")
