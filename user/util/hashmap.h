/* SPDX-License-Identifier: MIT */
/*
 * The one hash table of the models and views: 64-bit keys to 64-bit values,
 * open addressing with linear probing and backward-shift deletion (no
 * tombstones, so probes stay short under the constant churn of an
 * allocator's blocks), at most three quarters full. Key 0 is never stored:
 * callers whose keys may be 0 store key + 1.
 *
 * It serves the live blocks of a process (address -> size), processes by
 * pid, threads by tid, interned strings by hash and per-type counts. The
 * slot of a key is the top bits of a Fibonacci hash, which spreads both
 * small consecutive integers (pids) and aligned addresses.
 */
#ifndef PYMAC_HASHMAP_H
#define PYMAC_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map_ent {
	uint64_t key; /* 0: empty */
	uint64_t val;
};

struct u64map {
	struct u64map_ent *e;
	uint32_t cap; /* power of two, or 0 before the first insert */
	uint32_t len;
	uint8_t shift; /* 64 - log2(cap) */
};

static inline uint32_t u64map__slot(const struct u64map *m, uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> m->shift);
}

/* The entry of key, or NULL. */
static inline struct u64map_ent *u64map__find(const struct u64map *m, uint64_t key)
{
	uint32_t mask = m->cap - 1, j;

	if (!m->cap)
		return NULL;
	for (j = u64map__slot(m, key); m->e[j].key; j = (j + 1) & mask)
		if (m->e[j].key == key)
			return &m->e[j];
	return NULL;
}

/* Insert key (absent; != 0) with val. The entry, or NULL on ENOMEM. */
struct u64map_ent *u64map__put(struct u64map *m, uint64_t key, uint64_t val);
/* The entry of key, inserted with val 0 when absent. NULL on ENOMEM. */
struct u64map_ent *u64map__get(struct u64map *m, uint64_t key);
/* Remove an entry find/put/get returned (other entries may move). */
void u64map__del(struct u64map *m, struct u64map_ent *ent);
/* Forget every entry, keeping the room. */
void u64map__reset(struct u64map *m);
/* Free everything; the map is empty and usable again. */
void u64map__free(struct u64map *m);
/* Make room for n entries. 0 or -ENOMEM. */
int u64map__reserve(struct u64map *m, uint32_t n);

static inline size_t u64map__memory(const struct u64map *m)
{
	return (size_t)m->cap * sizeof(struct u64map_ent);
}

#endif /* PYMAC_HASHMAP_H */
