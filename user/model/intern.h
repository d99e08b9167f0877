/* SPDX-License-Identifier: MIT */
/*
 * Interned strings: each distinct string gets a small dense id on first
 * sight, and keeps it (the summary and the timeline count deallocated types
 * by id). Open addressing over an FNV-1a hash, kept at most half full.
 */
#ifndef PYMAC_INTERN_H
#define PYMAC_INTERN_H

#include <stddef.h>
#include <stdint.h>

struct str_intern {
	char **names;	  /* by id, owned */
	uint32_t *hashes; /* by id */
	uint32_t n, names_cap;
	uint32_t *slots; /* id + 1; 0: empty */
	uint32_t slots_cap;
};

/* Id of name (0, 1, ...), interned on first sight; -ENOMEM on failure. */
int64_t str_intern__id(struct str_intern *in, const char *name);
/* Frees every string and table; in is left empty and reusable. */
void str_intern__free(struct str_intern *in);
/* Heap bytes held. */
size_t str_intern__memory(const struct str_intern *in);

#endif /* PYMAC_INTERN_H */
