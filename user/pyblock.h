/* SPDX-License-Identifier: MIT */
/*
 * pymalloc's blocks, as the consumers of a trace reason about them when a
 * free was sized from its pool header (PM_BLOCK_* in bpf/events.h) instead
 * of by its allocation: on LTO builds, allocations made at inlined copies
 * of PyObject_Malloc have no address, so their bytes are accounted in
 * pymalloc's block sizes, which both ends know. The rules are those of
 * Objects/obmalloc.c, 3.8-3.11 on 64-bit (16-byte alignment, requests of
 * 1..512 bytes served by pymalloc, the rest by malloc).
 */
#ifndef PYMAC_PYBLOCK_H
#define PYMAC_PYBLOCK_H

#include <stdint.h>
#include <linux/types.h>
#include "../bpf/events.h"

#define PM_PYMALLOC_ALIGN 16u
#define PM_PYMALLOC_MAX	  512u /* SMALL_REQUEST_THRESHOLD */

/* A freed block's size, or 0 when the free was not sized (or is malloc's). */
static inline uint32_t pm_block_bytes(uint32_t block)
{
	return block == PM_BLOCK_UNKNOWN || block == PM_BLOCK_RAW ? 0 : block;
}

/* The block PyObject_Malloc(size) (or Calloc with that product) takes:
 * its pymalloc size class, or PM_BLOCK_RAW (0 bytes go to malloc too). */
static inline uint32_t pm_pymalloc_block(uint64_t size)
{
	if (size < 1 || size > PM_PYMALLOC_MAX)
		return PM_BLOCK_RAW;
	return (uint32_t)((size + PM_PYMALLOC_ALIGN - 1) & ~(uint64_t)(PM_PYMALLOC_ALIGN - 1));
}

/*
 * The block PyObject_Realloc(old_addr, size) leaves, given old_addr's
 * block: realloc(NULL, n) is a malloc; malloc's blocks stay malloc's
 * (PyMem_RawRealloc); a pymalloc block that shrinks by less than a quarter
 * stays where it is; otherwise a new block of the request's class. A failed
 * realloc (it returns NULL and leaves the old block) cannot be told from
 * here and is taken as done.
 */
static inline uint32_t pm_pymalloc_realloc_block(uint64_t old_addr, uint32_t old_block,
						 uint64_t size)
{
	if (!old_addr)
		return pm_pymalloc_block(size);
	if (old_block == PM_BLOCK_UNKNOWN || old_block == PM_BLOCK_RAW)
		return old_block;
	if (size <= old_block && 4 * size > 3 * (uint64_t)old_block)
		return old_block;
	return pm_pymalloc_block(size);
}

#endif /* PYMAC_PYBLOCK_H */
