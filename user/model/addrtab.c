// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/addrtab.h"

struct addr_ent *addr_tab__find(const struct addr_tab *t, uint64_t addr)
{
	uint32_t mask = t->cap - 1, j;

	if (!t->cap)
		return NULL;
	for (j = pm_hash_addr(addr) & mask; t->e[j].addr; j = (j + 1) & mask)
		if (t->e[j].addr == addr)
			return &t->e[j];
	return NULL;
}

void addr_tab__del(struct addr_tab *t, struct addr_ent *ent)
{
	uint32_t mask = t->cap - 1, i = (uint32_t)(ent - t->e), j = i, k;

	for (;;) {
		j = (j + 1) & mask;
		if (!t->e[j].addr)
			break;
		k = pm_hash_addr(t->e[j].addr) & mask;
		/* an entry may move back only if its home is not in (i, j] */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t->e[i] = t->e[j];
		i = j;
	}
	t->e[i].addr = 0;
	t->len--;
}

static int addr_tab__grow(struct addr_tab *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 256, mask = cap - 1;
	struct addr_ent *e;

	if (!cap)
		return -ENOMEM; /* 2^32 live blocks in one process */
	e = calloc(cap, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->cap; i++) {
		uint32_t j;

		if (!t->e[i].addr)
			continue;
		for (j = pm_hash_addr(t->e[i].addr) & mask; e[j].addr; j = (j + 1) & mask)
			;
		e[j] = t->e[i];
	}
	free(t->e);
	t->e = e;
	t->cap = cap;
	return 0;
}

int addr_tab__put(struct addr_tab *t, uint64_t addr, uint64_t size)
{
	uint32_t mask, j;

	/* at most 3/4 full */
	if ((uint64_t)(t->len + 1) * 4 > (uint64_t)t->cap * 3 && addr_tab__grow(t))
		return -ENOMEM;
	mask = t->cap - 1;
	for (j = pm_hash_addr(addr) & mask; t->e[j].addr; j = (j + 1) & mask)
		;
	t->e[j].addr = addr;
	t->e[j].size = size;
	t->len++;
	return 0;
}

void addr_tab__clear(struct addr_tab *t)
{
	free(t->e);
	memset(t, 0, sizeof(*t));
}
