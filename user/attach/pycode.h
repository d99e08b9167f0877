/* SPDX-License-Identifier: MIT */
/*
 * CPython's functions found through their code (attach/elf_code.c), in
 * builds that keep no symbol of them: stripped and LTO builds such as the
 * official python:3.x-slim images.
 */
#ifndef PYMAC_PYCODE_H
#define PYMAC_PYCODE_H

#include <stdint.h>
#include "attach/elf_inspect.h"

/*
 * The entry addresses of the garbage collector's copies (gc_collect_main
 * 3.10+, collect 3.6-3.9, and compiler clones of them): the functions that
 * print its debug message ("gc: collecting generation %d...") reached
 * within four calls from the exported ways into a collection. Returns how
 * many (only max stored into out), or a negative errno (-ENOENT: no such
 * message or no exported entry point).
 */
int py_gc_collector_by_code(struct elf_file *ef, uint64_t *out, int max);

#endif /* PYMAC_PYCODE_H */
