// SPDX-License-Identifier: MIT
/*
 * CPython's functions found through their code, in builds that keep no
 * symbol of them (attach/pycode.h).
 */
#include <errno.h>
#include "attach/pycode.h"

/* CPython's collector prints this when gc.set_debug(gc.DEBUG_STATS) is on;
 * no other function does (3.6-3.13). */
#define GC_DEBUG_MESSAGE "gc: collecting generation %d...\n"

/*
 * The collector's copies found through its code: those reached from the
 * exported ways into a collection within four calls that print its debug
 * message. Explicit collections come through PyGC_Collect and
 * _PyGC_CollectNoFail, automatic ones through the GC allocators (3.8-3.11)
 * or the interpreter's eval breaker (3.12+, which calls the one copy that
 * the explicit ones call too); 3.8's compiler made a copy for each way.
 * Entry addresses in out; how many, or a negative errno.
 */
int py_gc_collector_by_code(struct elf_file *ef, uint64_t *out, int max)
{
	static const char *const entries[] = {
	    "PyGC_Collect",	   "_PyGC_CollectNoFail", "_PyObject_GC_Malloc",
	    "_PyObject_GC_Calloc", "_PyObject_GC_New",	  "_PyObject_GC_NewVar",
	};
	uint64_t roots[sizeof(entries) / sizeof(entries[0])], msg[2];
	struct elf_func f;
	int n = 0;

	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
		if (elf_file__find_func(ef, entries[i], &f) == 0)
			roots[n++] = f.vaddr;
	if (!n || elf_file__find_string(ef, GC_DEBUG_MESSAGE, msg, 2) != 1)
		return -ENOENT;
	return elf_file__referrers_from(ef, roots, n, 4, msg[0], out, max);
}
