// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/hashmap.h"

#define MIN_CAP 64u

static int grow_to(struct u64map *m, uint32_t cap)
{
	struct u64map old = *m;
	uint8_t shift = 64;

	for (uint32_t c = cap; c > 1; c >>= 1)
		shift--;
	m->e = calloc(cap, sizeof(*m->e));
	if (!m->e) {
		*m = old;
		return -ENOMEM;
	}
	m->cap = cap;
	m->shift = shift;
	for (uint32_t i = 0; i < old.cap; i++) {
		uint32_t j;

		if (!old.e[i].key)
			continue;
		for (j = u64map__slot(m, old.e[i].key); m->e[j].key; j = (j + 1) & (cap - 1))
			;
		m->e[j] = old.e[i];
	}
	free(old.e);
	return 0;
}

int u64map__reserve(struct u64map *m, uint32_t n)
{
	uint64_t cap = m->cap ? m->cap : MIN_CAP;

	while ((uint64_t)n * 4 > cap * 3)
		cap *= 2;
	if (cap > (1ull << 31))
		return -ENOMEM;
	return cap > m->cap ? grow_to(m, (uint32_t)cap) : 0;
}

struct u64map_ent *u64map__put(struct u64map *m, uint64_t key, uint64_t val)
{
	uint32_t j;

	if (u64map__reserve(m, m->len + 1))
		return NULL;
	for (j = u64map__slot(m, key); m->e[j].key; j = (j + 1) & (m->cap - 1))
		;
	m->e[j].key = key;
	m->e[j].val = val;
	m->len++;
	return &m->e[j];
}

struct u64map_ent *u64map__get(struct u64map *m, uint64_t key)
{
	struct u64map_ent *e = u64map__find(m, key);

	return e ? e : u64map__put(m, key, 0);
}

void u64map__del(struct u64map *m, struct u64map_ent *ent)
{
	uint32_t mask = m->cap - 1, i = (uint32_t)(ent - m->e), j = i, k;

	for (;;) {
		j = (j + 1) & mask;
		if (!m->e[j].key)
			break;
		k = u64map__slot(m, m->e[j].key);
		/* an entry may move back only if its home is not in (i, j] */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		m->e[i] = m->e[j];
		i = j;
	}
	m->e[i].key = 0;
	m->len--;
}

void u64map__reset(struct u64map *m)
{
	if (m->cap)
		memset(m->e, 0, (size_t)m->cap * sizeof(*m->e));
	m->len = 0;
}

void u64map__free(struct u64map *m)
{
	free(m->e);
	memset(m, 0, sizeof(*m));
}
