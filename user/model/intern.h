/* SPDX-License-Identifier: MIT */
/*
 * Interned strings: each distinct string gets a small dense id on first
 * sight, and keeps it (the summary and the timeline count deallocated types
 * by id). Found by a 64-bit FNV-1a hash in util/hashmap.h; two strings
 * with the same hash take the next key (hash + 1, ...), so a collision
 * costs a probe, never a wrong id.
 */
#ifndef PYMAC_INTERN_H
#define PYMAC_INTERN_H

#include <stddef.h>
#include <stdint.h>
#include "util/hashmap.h"

struct str_intern {
	char **names; /* by id, owned */
	uint32_t n, names_cap;
	struct u64map ids; /* hash -> id */
};

/* Id of name (0, 1, ...), interned on first sight; -ENOMEM on failure. */
int64_t str_intern__id(struct str_intern *in, const char *name);
/* Frees every string and table; in is left empty and reusable. */
void str_intern__free(struct str_intern *in);
/* Heap bytes held. */
size_t str_intern__memory(const struct str_intern *in);

#endif /* PYMAC_INTERN_H */
