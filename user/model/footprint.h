/* SPDX-License-Identifier: MIT */
/*
 * A process's memory footprint as its vm and rss events describe it (footprint
 * mode): the anonymous mappings it holds, told apart into pymalloc arenas and
 * other mappings (libc's large blocks, thread stacks, ...), the size of its
 * brk heap, and the resident set sampled from /proc. The summary, the
 * timeline and the exports all keep one of these per process.
 */
#ifndef PYMAC_FOOTPRINT_H
#define PYMAC_FOOTPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "feed/record.h"

enum fp_class {
	FP_ARENA = 0, /* a pymalloc arena: an anonymous mapping of exactly the arena size */
	FP_MMAP = 1,  /* any other anonymous mapping */
	FP_CLASSES = 2,
};

struct fp_range {
	uint64_t start, end;
	enum fp_class cls;
};

struct footprint {
	struct fp_range *r; /* sorted by start, never overlapping */
	size_t n, cap;
	uint64_t bytes[FP_CLASSES];	   /* mapped now, by class */
	uint64_t heap;			   /* brk heap: break - start of the heap */
	uint64_t peak;			   /* highest footprint__total so far */
	uint64_t arena_maps, arena_unmaps; /* seen made and released (not those held at attach) */
	uint64_t existing;		   /* bytes it held when tracing began (PM_VM_EXISTING) */
	uint64_t arena_size;		   /* 0: 256 KiB and 1 MiB mappings both count as arenas */
	bool have_rss;
	uint64_t rss, rss_anon, rss_peak; /* the latest sample, and the highest */
};

/*
 * The arena size of a CPython version ("3.11"): 256 KiB up to 3.9, 1 MiB
 * from 3.10 on (obmalloc.c's ARENA_BITS on 64-bit builds). 0 when unknown.
 */
uint64_t footprint__arena_size(const char *python_version);

/*
 * Apply a vm or rss event; an exec drops every mapping (the new program
 * starts from an empty address space); other kinds are ignored. The arena
 * size is taken from python_version (may be NULL) while it is not known.
 * 0, or -ENOMEM.
 */
int footprint__apply(struct footprint *f, const struct pm_event *ev, const char *python_version);

/* Arenas + other anonymous mappings + brk heap. */
static inline uint64_t footprint__total(const struct footprint *f)
{
	return f->bytes[FP_ARENA] + f->bytes[FP_MMAP] + f->heap;
}

void footprint__free(struct footprint *f);

#endif /* PYMAC_FOOTPRINT_H */
