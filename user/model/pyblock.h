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

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "events.h"

#define PM_PYMALLOC_ALIGN 16u
#define PM_PYMALLOC_MAX	  512u /* SMALL_REQUEST_THRESHOLD */

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
 * block: realloc(NULL, n) is a malloc (and so is any allocation without an
 * old block: PyObject_Malloc is realloc(NULL, n) here); malloc's blocks stay malloc's
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

#define PM_PYMALLOC_CLASSES (PM_PYMALLOC_MAX / PM_PYMALLOC_ALIGN)

/*
 * The blocks a process allocated where no address is known, by class, as
 * the views hold them in their net bytes. A sized free releases one of its
 * class; one with none held is a block never seen allocated (allocated
 * before tracing began, or at a copy DWARF could not locate) and leaves the
 * net alone, as an unmatched free does. Until the process's first sized
 * free (sized), the blocks are counted but not in the net: a build whose
 * frees are not sized would never release them.
 */
struct pm_held {
	bool sized;
	uint32_t n[PM_PYMALLOC_CLASSES];
};

static inline int pm_held__class(uint32_t block)
{
	if (block == PM_BLOCK_UNKNOWN || block == PM_BLOCK_RAW || block % PM_PYMALLOC_ALIGN ||
	    block > PM_PYMALLOC_MAX)
		return -1;
	return (int)(block / PM_PYMALLOC_ALIGN) - 1;
}

/* A block allocated without an address (pm_pymalloc_block's result): what
 * it adds to the net. */
static inline int64_t pm_held__alloc(struct pm_held *h, uint32_t block)
{
	int c = pm_held__class(block);

	if (c < 0)
		return 0;
	h->n[c]++;
	return h->sized ? (int64_t)block : 0;
}

/* Any free or realloc's old block (PM_BLOCK_*): what the net gains when it
 * is the process's first sized one, the blocks held until then. */
static inline int64_t pm_held__note(struct pm_held *h, uint32_t block)
{
	int64_t add = 0;

	if (h->sized || block == PM_BLOCK_UNKNOWN)
		return 0;
	h->sized = true;
	for (unsigned c = 0; c < PM_PYMALLOC_CLASSES; c++)
		add += (int64_t)h->n[c] * (c + 1) * PM_PYMALLOC_ALIGN;
	return add;
}

/* A free no address paired: the bytes it releases (0: none held of its
 * class, or not sized, so it is unmatched). */
static inline uint32_t pm_held__free(struct pm_held *h, uint32_t block)
{
	int c = pm_held__class(block);

	if (c < 0 || !h->n[c] || !h->sized)
		return 0;
	h->n[c]--;
	return block;
}

#endif /* PYMAC_PYBLOCK_H */
